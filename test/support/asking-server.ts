/**
 * A 2025 MCP server (v1 SDK) whose tools ask their client something mid-call,
 * as server→client requests on the call's stream: `ask_name` elicits a name,
 * `sample` asks for a completion, `list_roots` asks for the roots; each
 * question names the call's `who`, and each result says what came back, or
 * the JSON-RPC error the question was answered with (`error <code>
 * <message>`), so a test sees what the server saw. Also `roots_changed`: how often this
 * session heard notifications/roots/list_changed; `sessions`: how many
 * MCP sessions the server has opened, and `wait`, which holds a call after
 * telling its progress once. Over Streamable HTTP by default (prints
 * its URL on stdout, see conformance-http.ts); with `--stdio` over stdio.
 * Run with `node --import tsx`.
 */
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CreateMessageResultSchema,
  ElicitResultSchema,
  isInitializeRequest,
  ListRootsResultSchema,
  McpError,
  RootsListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { serveMcp, sessionRoute } from '../fixtures/conformance-http.js';

let opened = 0;

function createServer(): McpServer {
  opened++;
  const server = new McpServer({ name: 'airlock-asking-fixture', version: '1.0.0' });
  const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });
  const answered = async (who: string, asking: () => Promise<string>) => {
    try {
      return text(`${who}: ${await asking()}`);
    } catch (err) {
      return text(`${who}: error ${err instanceof McpError ? `${err.code} ${err.message}` : String(err)}`);
    }
  };
  const who = { who: z.string() };
  server.registerTool('ask_name', { description: 'Asks its user for a name.', inputSchema: who }, async (args, extra) =>
    answered(args.who, async () => {
      const result = await extra.sendRequest(
        {
          method: 'elicitation/create',
          params: {
            message: `Which name should ${args.who} use?`,
            requestedSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
          },
        },
        ElicitResultSchema,
      );
      return `${result.action} ${String(result.content?.name ?? '')}`.trim();
    }),
  );
  server.registerTool('sample', { description: "Asks its client's model for a line.", inputSchema: who }, async (args, extra) =>
    answered(args.who, async () => {
      const result = await extra.sendRequest(
        {
          method: 'sampling/createMessage',
          params: { messages: [{ role: 'user', content: { type: 'text', text: `A line about ${args.who}` } }], maxTokens: 50 },
        },
        CreateMessageResultSchema,
      );
      return result.content.type === 'text' ? result.content.text : result.content.type;
    }),
  );
  server.registerTool('list_roots', { description: "Asks for its client's roots.", inputSchema: who }, async (args, extra) =>
    answered(args.who, async () => {
      const result = await extra.sendRequest({ method: 'roots/list' }, ListRootsResultSchema);
      return result.roots.map((r) => r.uri).join(',');
    }),
  );
  server.registerTool(
    'wait',
    { description: 'Tells its progress once, then holds the call for ms milliseconds.', inputSchema: { ms: z.number() } },
    async ({ ms }, extra) => {
      const progressToken = extra._meta?.progressToken;
      if (progressToken !== undefined)
        await extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress: 0 } });
      await new Promise((resolve) => setTimeout(resolve, ms));
      return text(`waited ${ms} ms`);
    },
  );
  let rootsChanged = 0;
  server.server.setNotificationHandler(RootsListChangedNotificationSchema, async () => void rootsChanged++);
  server.registerTool('roots_changed', { description: 'How often this session was told its roots changed.' }, async () =>
    text(String(rootsChanged)),
  );
  server.registerTool('sessions', { description: 'How many MCP sessions this server has opened.' }, async () => text(String(opened)));
  return server;
}

if (process.argv.includes('--stdio')) {
  await createServer().connect(new StdioServerTransport());
} else {
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
}
