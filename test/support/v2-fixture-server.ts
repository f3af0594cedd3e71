/**
 * A small real MCP server on the SDK v2, speaking 2026-07-28 and 2025-11-25
 * (the SDK picks per connection on stdio, per request over HTTP), for the
 * tests of Airlock's upstream side. Run with `node --import tsx`:
 *
 * - `FIXTURE_TRANSPORT=http` serves Streamable HTTP on 127.0.0.1 (port
 *   `FIXTURE_PORT`, default a free one) and prints `listening <port>`;
 *   otherwise stdio. `FIXTURE_LEGACY=reject` refuses 2025 clients.
 * - `FIXTURE_SPAWN_LOG=<file>` appends this process's id to that file at
 *   start, so a test counts how often a server was started.
 * - `FIXTURE_REQUEST_LOG=<file>` appends every JSON-RPC message the server
 *   receives to that file, one JSON line each, and over HTTP a line
 *   `{"listen_closed": <its id>}` when a `subscriptions/listen` stream ends,
 *   so a test sees what really reached it (read it with v2-fixture.ts).
 * - `FIXTURE_NOTES_DIR=<folder>`: where `save_note` and `delete_note` work.
 *
 * Tools: `echo`, `pid`, `region_echo` (its `region` and `count` carry
 * `x-mcp-header` declarations, so the SDK's HTTP entry rejects a call without
 * the matching `Mcp-Param-*` headers; it answers with the headers it saw),
 * `bad_header` (an invalid declaration: a conforming client drops it),
 * `cached` (a result with cache hints and the server's identity in `_meta`),
 * `add_tool` (adds a tool and announces the change), `touch` (announces an
 * update of the resource `uri`), `save_note` and `delete_note` (write and
 * delete `<name>.txt` in `FIXTURE_NOTES_DIR`), and the tools that ask their
 * caller mid-call (see v2-asking-tools.ts). Resource `test://watched`;
 * lists carry public cache hints.
 */
import { appendFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { z } from 'zod';
import { registerAskingTools } from './v2-asking-tools.js';

if (process.env.FIXTURE_SPAWN_LOG) appendFileSync(process.env.FIXTURE_SPAWN_LOG, `${process.pid}\n`);
const requestLog = process.env.FIXTURE_REQUEST_LOG;
function record(line: unknown): void {
  if (requestLog) appendFileSync(requestLog, `${JSON.stringify(line)}\n`);
}

const http = process.env.FIXTURE_TRANSPORT === 'http';
const legacy = process.env.FIXTURE_LEGACY === 'reject' ? 'reject' : undefined;
let added = 0;
/** The instance serving the stdio connection (one per connection), for change announcements. */
let current: McpServer | undefined;

function build(): McpServer {
  const server = new McpServer(
    { name: 'airlock-v2-fixture', version: '2.0.0' },
    {
      capabilities: { tools: { listChanged: true }, resources: { subscribe: true, listChanged: true } },
      cacheHints: { 'tools/list': { ttlMs: 60_000, cacheScope: 'public' }, 'resources/read': { ttlMs: 60_000, cacheScope: 'public' } },
    },
  );
  server.registerTool('echo', { description: 'Echoes its text.', inputSchema: z.object({ text: z.string() }) }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  server.registerTool('pid', { description: "Tells this server's process id." }, async () => ({
    content: [{ type: 'text', text: String(process.pid) }],
  }));
  server.registerTool(
    'region_echo',
    {
      description: 'Answers with the Mcp-Param headers it was sent.',
      inputSchema: z.object({
        region: z.string().meta({ 'x-mcp-header': 'Region' }),
        count: z.int().optional().meta({ 'x-mcp-header': 'Count' }),
      }),
    },
    async (_args, ctx) => {
      const headers = ctx.http?.req?.headers;
      const seen = { region: headers?.get('mcp-param-region') ?? null, count: headers?.get('mcp-param-count') ?? null };
      return { content: [{ type: 'text', text: JSON.stringify(seen) }] };
    },
  );
  server.registerTool(
    'bad_header',
    {
      description: 'Declares a header on an array.',
      inputSchema: z.object({ tags: z.array(z.string()).meta({ 'x-mcp-header': 'Tags' }) }),
    },
    async () => ({ content: [{ type: 'text', text: 'should not be callable through a 2026 client' }] }),
  );
  server.registerTool('cached', { description: 'A result with cache hints.' }, async () => ({
    content: [{ type: 'text', text: 'cached' }],
    ttlMs: 1234,
    cacheScope: 'public',
    _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'leak', version: '9.9.9' }, 'example.com/kept': true },
  }));
  server.registerTool('add_tool', { description: 'Adds a tool and announces it.' }, async () => {
    added++;
    // Over HTTP every request builds its instance anew (and sees the tool); on stdio registering it announces it.
    if (http) handler?.notify.toolsChanged();
    else
      current?.registerTool(`added_${added}`, { description: 'Added later.' }, async () => ({
        content: [{ type: 'text', text: 'added' }],
      }));
    return { content: [{ type: 'text', text: `added_${added}` }] };
  });
  server.registerTool(
    'touch',
    { description: 'Announces an update of a resource.', inputSchema: z.object({ uri: z.string() }) },
    async ({ uri }) => {
      if (http) handler?.notify.resourceUpdated(uri);
      else await current?.server.sendResourceUpdated({ uri });
      return { content: [{ type: 'text', text: `touched ${uri}` }] };
    },
  );
  // A note's name is one plain word, so no call can reach outside the folder.
  const note = z.object({ name: z.string().regex(/^[a-z0-9-]{1,64}$/) });
  server.registerTool(
    'save_note',
    { description: 'Writes a note.', inputSchema: note.extend({ text: z.string() }) },
    async ({ name, text }) => {
      writeFileSync(join(notesDir(), `${name}.txt`), text);
      return { content: [{ type: 'text', text: `saved ${name}` }] };
    },
  );
  server.registerTool('delete_note', { description: 'Deletes a note.', inputSchema: note }, async ({ name }) => {
    rmSync(join(notesDir(), `${name}.txt`), { force: true });
    return { content: [{ type: 'text', text: `deleted ${name}` }] };
  });
  registerAskingTools(server);
  for (let i = 1; i <= added; i++)
    server.registerTool(`added_${i}`, { description: 'Added later.' }, async () => ({ content: [{ type: 'text', text: 'added' }] }));
  server.registerResource('watched', 'test://watched', { mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'watched' }],
  }));
  // 2025 clients subscribe by request; 2026 ones through their listen stream, which the SDK serves itself.
  server.server.setRequestHandler('resources/subscribe', async () => ({}));
  server.server.setRequestHandler('resources/unsubscribe', async () => ({}));
  current = server;
  return server;
}

function notesDir(): string {
  const dir = process.env.FIXTURE_NOTES_DIR;
  if (!dir) throw new Error('FIXTURE_NOTES_DIR is not set');
  return dir;
}

async function bodyOf(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
}

let handler: ReturnType<typeof createMcpHandler> | undefined;
if (http) {
  handler = createMcpHandler(build, legacy ? { legacy } : {});
  const node = toNodeHandler(handler);
  const listener = createServer((req, res) => {
    if (!requestLog || req.method !== 'POST') return void node(req, res);
    void bodyOf(req).then(
      (body) => {
        for (const message of Array.isArray(body) ? body : [body]) {
          record(message);
          const { method, id } = message as { method?: unknown; id?: unknown };
          if (method === 'subscriptions/listen') res.once('close', () => record({ listen_closed: id }));
        }
        return node(req, res, body);
      },
      () => res.writeHead(400).end(),
    );
  });
  listener.listen(Number(process.env.FIXTURE_PORT ?? 0), '127.0.0.1', () => {
    const { port } = listener.address() as { port: number };
    process.stdout.write(`listening ${port}\n`);
  });
} else {
  if (requestLog) {
    // stdin is newline-delimited JSON-RPC, so its bytes are the log. Its `emit` is wrapped rather than a 'data'
    // listener added, which would set stdin flowing before the SDK's reader is attached.
    const emit = process.stdin.emit.bind(process.stdin);
    process.stdin.emit = ((event: string | symbol, ...args: unknown[]) => {
      if (event === 'data') appendFileSync(requestLog, args[0] as Buffer);
      return emit(event, ...args);
    }) as typeof process.stdin.emit;
  }
  serveStdio(build, legacy ? { legacy } : {});
}
