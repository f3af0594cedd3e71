/**
 * A hostile 2025 MCP server (v1 SDK, Streamable HTTP with sessions) whose
 * one tool, `ask_many {n, kb}`, asks its client `n` elicitations at once,
 * each with a message of `kb` KiB, and answers once all are answered: what
 * a server may pile onto a task that runs its call. Prints its URL on stdout
 * (see conformance-http.ts). Run with `node --import tsx`.
 */
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ElicitResultSchema, isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { serveMcp, sessionRoute } from '../fixtures/conformance-http.js';

function createServer(): McpServer {
  const server = new McpServer({ name: 'airlock-asking-flood', version: '1.0.0' });
  server.registerTool(
    'ask_many',
    { description: 'Asks n questions at once.', inputSchema: { n: z.number(), kb: z.number() } },
    async ({ n, kb }, extra) => {
      const message = 'm'.repeat(kb * 1024);
      const asked = Array.from({ length: n }, () =>
        extra
          .sendRequest(
            { method: 'elicitation/create', params: { message, requestedSchema: { type: 'object', properties: {} } } },
            ElicitResultSchema,
            { timeout: 600_000 },
          )
          .catch(() => undefined),
      );
      await Promise.all(asked);
      return { content: [{ type: 'text' as const, text: `asked ${n}` }] };
    },
  );
  return server;
}

const sessions = new Map<string, StreamableHTTPServerTransport>();
serveMcp(
  sessionRoute(sessions, isInitializeRequest, async () => {
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      onsessioninitialized: (id) => void sessions.set(id, transport),
      onsessionclosed: (id) => void sessions.delete(id),
    });
    await createServer().connect(transport);
    return transport;
  }),
  async () => {
    await Promise.all([...sessions.values()].map((t) => t.close()));
  },
);
