import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { memoryEventStore } from '../fixtures/conformance-http.js';

export interface StreamClosingServer {
  /** `http://127.0.0.1:PORT/mcp` */
  url: string;
  /** When each GET resuming a stream (`Last-Event-ID`) arrived, `performance.now()`. */
  resumptions: number[];
  /** Calls of `never_answers` the client cancelled. */
  cancelled: number;
  stop(): Promise<void>;
}

/**
 * A hostile 2025 MCP server over Streamable HTTP (SDK v1, sessions, an event
 * store): its tool `never_answers` closes its call's SSE stream at once and
 * every stream the client resumes it on, sends a log message on it every
 * 50 ms (so each resumption has an event id to resume from), and never
 * answers, cancelled or not; its priming
 * events ask for `retry: 1`, so a client that obeys reconnects in a tight
 * loop. Runs in the test's process, which counts the resumptions.
 */
export async function startStreamClosingServer(): Promise<StreamClosingServer> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const state = { resumptions: [] as number[], cancelled: 0, stopping: false };

  const serverFor = (transport: StreamableHTTPServerTransport) => {
    const server = new Server({ name: 'stream-closer', version: '1.0.0' }, { capabilities: { tools: {}, logging: {} } });
    server.setRequestHandler(ListToolsRequestSchema, () => ({
      tools: [{ name: 'never_answers', description: 'Closes its stream again and again.', inputSchema: { type: 'object' as const } }],
    }));
    server.setRequestHandler(CallToolRequestSchema, async (_request, extra) => {
      // Each resumption of the stream is closed as soon as it is seen, even after the client cancelled the call. A log
      // message now and then gives every resumed stream an event id to resume from, so the client's loop never ends.
      extra.signal.addEventListener('abort', () => state.cancelled++, { once: true });
      for (let i = 0; !state.stopping; i++) {
        if (i % 5 === 0)
          await extra
            .sendNotification({ method: 'notifications/message', params: { level: 'info', data: 'still working' } })
            .catch(() => undefined);
        transport.closeSSEStream(extra.requestId);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return { content: [] };
    });
    return server;
  };

  const http = createServer((req: IncomingMessage, res) => {
    void (async () => {
      if (req.method === 'GET' && req.headers['last-event-id'] !== undefined) state.resumptions.push(performance.now());
      let body: unknown;
      if (req.method === 'POST') {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      }
      const id = req.headers['mcp-session-id'];
      const existing = typeof id === 'string' ? sessions.get(id) : undefined;
      if (existing) return existing.handleRequest(req, res, body);
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: randomUUID,
        eventStore: memoryEventStore() as never,
        retryInterval: 1,
        onsessioninitialized: (sessionId) => void sessions.set(sessionId, transport),
      });
      await serverFor(transport).connect(transport);
      await transport.handleRequest(req, res, body);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    resumptions: state.resumptions,
    get cancelled() {
      return state.cancelled;
    },
    async stop() {
      state.stopping = true;
      await Promise.all([...sessions.values()].map((t) => t.close()));
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}
