import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { FIXTURE_SERVER, HOSTILE_SERVER, TSX_LOADER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';
import { metricValue, scrape } from '../support/prometheus.js';
import { MCP_HEADERS, openSession } from '../support/raw-mcp.js';
import { firstText } from '../support/refusal.js';

const AGENT = 'agent-token-0123456789';
const PATIENT = 'patient-token-0123456789';
const ADMIN = 'alice-admin-token-0123456789';
const MB = 1024 * 1024;

/** One line per message a hostile server received (see hostile-server.ts). */
interface Received {
  id?: number;
  method?: string;
  cursor?: string;
  requestId?: number;
}

let gateway: RunningGateway;
let agent: Client;

before(async () => {
  const stdio = (script: string) => [
    `    command: ${process.execPath}`,
    `    args: [--import, ${TSX_LOADER}, ${script}]`,
    '    policy: allow.yaml',
  ];
  gateway = await startGateway({
    config: [
      'servers:',
      // Every list endless, 50 items a page, tools/list_changed every 10 ms; the default caps (100 pages, 10,000 items).
      '  hostile:',
      ...stdio(HOSTILE_SERVER),
      '    env: { HOSTILE_LOG: ./hostile.jsonl, HOSTILE_PAGE: "50", HOSTILE_LIST_CHANGED_MS: "10" }',
      // Only resources/list endless, each page after 5 ms, and caps so high that only the agent giving up ends a walk.
      '  slow:',
      ...stdio(HOSTILE_SERVER),
      '    env: { HOSTILE_LOG: ./slow.jsonl, HOSTILE_PAGE: "10", HOSTILE_DELAY_MS: "5", HOSTILE_ENDLESS: resources }',
      '    max_list_pages: 10000',
      '    max_list_items: 1000000',
      '  fx:',
      ...stdio(FIXTURE_SERVER),
      'grants:',
      `  - { name: agent, token: ${AGENT}, servers: [hostile, fx] }`,
      `  - { name: patient, token: ${PATIENT}, servers: [slow, fx] }`,
      `admins:\n  - { name: alice, token: ${ADMIN} }`,
      '',
    ].join('\n'),
    files: { 'allow.yaml': 'version: "1"\ndefault: allow\n' },
  });
  agent = await gateway.connect('/mcp/hostile', AGENT);
});
after(() => gateway?.stop());

function received(server: string): Received[] {
  const file = join(gateway.dir, `${server}.jsonl`);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Received);
}
const pagesOf = (server: string, method: string) => received(server).filter((m) => m.method === method);
const walksOf = (server: string, method: string) => pagesOf(server, method).filter((m) => m.cursor === undefined).length;
const metrics = async () => (await scrape(gateway.url, ADMIN)).samples;
const cutWarnings = (method: string) =>
  gateway.logs.filter((l) => l.level === 40 && l.upstream === 'hostile' && l.method === method && String(l.msg).includes('was cut'));

test('a tool list that never ends is cut at max_list_pages and what was read is served: its tools work, the ones past the cap are unknown', async () => {
  const { tools } = await agent.listTools();
  assert.equal(tools.length, 5_000);
  assert.equal(tools.at(-1)?.name, 'tool_99_49');
  assert.equal(firstText(await agent.callTool({ name: 'tool_99_49' })), 'ran tool_99_49');
  await assert.rejects(agent.callTool({ name: 'tool_100_0' }), /Unknown tool: tool_100_0/);

  const [warning] = cutWarnings('tools/list');
  assert.equal(warning?.cap, 'max_list_pages');
  assert.equal(warning?.max, 100);
  assert.match(
    String(warning?.msg),
    /tools\/list of upstream hostile was cut at max_list_pages \(100\).*serving the 5000 items read.*Raise servers\.hostile\.max_list_pages/,
  );
  assert.ok(metricValue(await metrics(), 'airlock_lists_truncated_total', { server: 'hostile', method: 'tools/list', cap: 'pages' }) >= 1);
});

test('tools/list_changed sent every 10 ms: one read of the list at a time, about one a second, nothing passed on to the agents, and the memory stays put', async () => {
  let announced = 0;
  agent.setNotificationHandler(ToolListChangedNotificationSchema, async () => void announced++);
  const rssBefore = metricValue(await metrics(), 'process_resident_memory_bytes');
  const walksBefore = walksOf('hostile', 'tools/list');
  const startedAt = Date.now();
  await until('ten more reads of the tool list', () => walksOf('hostile', 'tools/list') >= walksBefore + 10, 60_000, 100);
  const seconds = (Date.now() - startedAt) / 1_000;

  // Each read is a whole walk of 100 pages, in order, before the next one starts: never two at once.
  const cursors = pagesOf('hostile', 'tools/list').map((m) => m.cursor);
  const interleaved = cursors.findIndex((cursor, i) => cursor !== (i % 100 === 0 ? undefined : String(i % 100)));
  assert.equal(
    interleaved,
    -1,
    `page ${interleaved} of the tools/list requests is out of order: ${JSON.stringify(cursors.slice(Math.max(0, interleaved - 3), interleaved + 3))}`,
  );
  // Ten reads in `seconds` while a thousand notifications came: they are spaced, about a second apart.
  assert.ok(seconds >= 8, `10 reads took ${seconds} s: reads are not spaced`);

  // The list never changed, so the agents were told nothing.
  assert.equal(announced, 0);
  const echo = await gateway.connect('/mcp/fx', AGENT);
  assert.equal(firstText(await echo.callTool({ name: 'echo', arguments: { text: 'still serving' } })), 'still serving');
  assert.equal(cutWarnings('tools/list').length, 1, 'a list cut on every read is warned about once');
  const samples = await metrics();
  assert.ok(
    metricValue(samples, 'airlock_lists_truncated_total', { server: 'hostile', method: 'tools/list', cap: 'pages' }) >=
      walksBefore + 10 - 1,
  );
  const grown = metricValue(samples, 'process_resident_memory_bytes') - rssBefore;
  assert.ok(grown < 50 * MB, `the gateway grew by ${(grown / MB).toFixed(1)} MB`);
});

test('resources, resource templates and prompts aggregated on /mcp are cut at the cap too, and served', async () => {
  const client = await gateway.connect('/mcp', AGENT);
  const pagesBefore = pagesOf('hostile', 'resources/list').length;
  const { resources } = await client.listResources();
  assert.equal(resources.length, 5_000);
  assert.equal(pagesOf('hostile', 'resources/list').length - pagesBefore, 100);
  assert.equal((await client.listResourceTemplates()).resourceTemplates.length, 5_000);
  const { prompts } = await client.listPrompts();
  assert.equal(prompts.length, 5_000);
  assert.equal(prompts[0]?.name, 'hostile__prompt_0_0');
  const samples = await metrics();
  for (const method of ['resources/list', 'resources/templates/list', 'prompts/list']) {
    assert.ok(metricValue(samples, 'airlock_lists_truncated_total', { server: 'hostile', method, cap: 'pages' }) >= 1, method);
  }
});

/**
 * Waits until `slow` has been asked for a few pages of resources/list, gives
 * up with `giveUp`, then checks that the walk stopped: the page in flight was
 * cancelled upstream (and only that one), and after twenty more round trips
 * to the same server no page was asked for since.
 */
async function assertWalkStops(giveUp: () => Promise<void>, probe: () => Promise<void>): Promise<void> {
  const before = received('slow').length;
  const since = () => received('slow').slice(before);
  await until('a few pages of resources/list', () => since().filter((m) => m.method === 'resources/list').length >= 5);
  await giveUp();
  await until('the page in flight to be cancelled upstream', () => since().some((m) => m.method === 'notifications/cancelled'));
  for (let i = 0; i < 20; i++) await probe();
  const messages = since();
  const cancelled = messages.findIndex((m) => m.method === 'notifications/cancelled');
  const pages = messages.filter((m) => m.method === 'resources/list');
  assert.deepEqual(
    messages.slice(cancelled + 1).filter((m) => m.method === 'resources/list'),
    [],
    'no page asked for after the cancellation',
  );
  assert.deepEqual(
    messages.filter((m) => m.method === 'notifications/cancelled').map((m) => m.requestId),
    [pages.at(-1)?.id],
    'only the page in flight is cancelled',
  );
  assert.equal(messages.filter((m) => m.method === 'tools/call').length, 20);
}

test('an agent that cancels resources/list on /mcp stops the walk of its pages', async () => {
  const client = await gateway.connect('/mcp', PATIENT);
  const giveUp = new AbortController();
  const listing = client.listResources({}, { signal: giveUp.signal, timeout: 600_000 });
  listing.catch(() => undefined);
  await assertWalkStops(
    async () => {
      giveUp.abort(new Error('enough'));
      await assert.rejects(listing);
    },
    async () => void (await client.callTool({ name: 'slow__tool_0_0' })),
  );
});

test('an agent that drops its resources/list request on /mcp stops the walk of its pages', async () => {
  const url = `${gateway.url}/mcp`;
  const headers = { Authorization: `Bearer ${PATIENT}` };
  const session = await openSession(url, headers);
  const drop = new AbortController();
  const response = await fetch(url, {
    method: 'POST',
    headers: { ...MCP_HEADERS, ...headers, 'mcp-session-id': session },
    body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'resources/list', params: {} }),
    signal: drop.signal,
  });
  assert.equal(response.status, 200);
  const client = await gateway.connect('/mcp', PATIENT);
  await assertWalkStops(
    async () => drop.abort(),
    async () => void (await client.callTool({ name: 'slow__tool_0_0' })),
  );
});
