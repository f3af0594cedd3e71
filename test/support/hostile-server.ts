/**
 * A hostile MCP server (stdio) for the gateway's bounds: every list it has
 * (`tools/list`, `resources/list`, `resources/templates/list`,
 * `prompts/list`) answers each page with another `nextCursor`, forever, and
 * with HOSTILE_LIST_CHANGED_MS set it sends `notifications/tools/list_changed`
 * that often from the moment it is initialized. Any tool name it listed can be
 * called and answers `ran <name>`. Run with `node --import tsx`.
 *
 * Environment: HOSTILE_LOG (a file: one JSON line per message received, so a
 * test can count pages and see cancellations), HOSTILE_PAGE (items per page,
 * default 100), HOSTILE_TEXT (characters of each item's description, default
 * 200), HOSTILE_DELAY_MS (each page answered after this long, default 0),
 * HOSTILE_ENDLESS (the lists that never end, as `tools,resources,templates,prompts`,
 * the default; the others end after their first page).
 */
import { appendFileSync } from 'node:fs';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import {
  CallToolRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  type JSONRPCMessage,
} from '@modelcontextprotocol/sdk/types.js';

const log = process.env.HOSTILE_LOG;
const perPage = Number(process.env.HOSTILE_PAGE ?? 100);
const text = 'x'.repeat(Number(process.env.HOSTILE_TEXT ?? 200));
const delayMs = Number(process.env.HOSTILE_DELAY_MS ?? 0);
const listChangedMs = Number(process.env.HOSTILE_LIST_CHANGED_MS ?? 0);
const endless = new Set((process.env.HOSTILE_ENDLESS ?? 'tools,resources,templates,prompts').split(','));

/** Page `cursor` (absent: 0) of a list: its items, and for an endless list always a cursor to the next page. */
async function page<T>(
  list: string,
  cursor: string | undefined,
  item: (page: number, i: number) => T,
): Promise<{ items: T[]; nextCursor?: string }> {
  const n = cursor === undefined ? 0 : Number(cursor);
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  const items = Array.from({ length: perPage }, (_, i) => item(n, i));
  return endless.has(list) ? { items, nextCursor: String(n + 1) } : { items };
}

const server = new Server(
  { name: 'airlock-hostile', version: '1.0.0' },
  { capabilities: { tools: { listChanged: true }, resources: {}, prompts: {} } },
);
server.setRequestHandler(ListToolsRequestSchema, async (request) => {
  const { items, nextCursor } = await page('tools', request.params?.cursor, (p, i) => ({
    name: `tool_${p}_${i}`,
    description: text,
    inputSchema: { type: 'object' as const },
  }));
  return { tools: items, nextCursor };
});
server.setRequestHandler(ListResourcesRequestSchema, async (request) => {
  const { items, nextCursor } = await page('resources', request.params?.cursor, (p, i) => ({
    uri: `hostile://${p}/${i}`,
    name: `resource ${p}/${i}`,
    description: text,
  }));
  return { resources: items, nextCursor };
});
server.setRequestHandler(ListResourceTemplatesRequestSchema, async (request) => {
  const { items, nextCursor } = await page('templates', request.params?.cursor, (p, i) => ({
    uriTemplate: `hostile://${p}/${i}/{x}`,
    name: `template ${p}/${i}`,
    description: text,
  }));
  return { resourceTemplates: items, nextCursor };
});
server.setRequestHandler(ListPromptsRequestSchema, async (request) => {
  const { items, nextCursor } = await page('prompts', request.params?.cursor, (p, i) => ({ name: `prompt_${p}_${i}`, description: text }));
  return { prompts: items, nextCursor };
});
server.setRequestHandler(CallToolRequestSchema, async (request) => ({ content: [{ type: 'text', text: `ran ${request.params.name}` }] }));
server.oninitialized = () => {
  if (listChangedMs > 0) setInterval(() => void server.sendToolListChanged().catch(() => undefined), listChangedMs);
};

const transport = new StdioServerTransport();
await server.connect(transport);
if (log !== undefined) {
  // Recorded before the SDK sees it, notifications/cancelled included (the SDK handles that one itself).
  const deliver = transport.onmessage;
  transport.onmessage = (message: JSONRPCMessage) => {
    const m = message as { id?: unknown; method?: string; params?: { cursor?: string; requestId?: unknown } };
    appendFileSync(log, `${JSON.stringify({ id: m.id, method: m.method, cursor: m.params?.cursor, requestId: m.params?.requestId })}\n`);
    deliver?.(message);
  };
}
