import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Redis } from 'ioredis';
import { startGateway, startGateways, type RunningGateway } from '../support/gateway.js';
import { TSX_LOADER, V2_FIXTURE_SERVER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';
import { MCP_HEADERS, only, openSession, post, toolCall } from '../support/raw-mcp.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { openSessionStream } from '../support/session-stream.js';

/**
 * Two instances on one Redis, no load balancer: the test picks the instance
 * of every request, so each case says exactly which instance opened the
 * session and which one served what.
 */
const AGENT = 'agent-token-0123456789abcdef';
const OTHER = 'other-token-0123456789abcdef';
const CONFIG = [
  'servers:',
  '  fx:',
  `    command: ${process.execPath}`,
  `    args: [--import, ${TSX_LOADER}, ${V2_FIXTURE_SERVER}]`,
  '    protocol: 2025-11-25',
  '    policy: policy.json',
  '  other:',
  `    command: ${process.execPath}`,
  `    args: [--import, ${TSX_LOADER}, ${V2_FIXTURE_SERVER}]`,
  '    protocol: 2025-11-25',
  '    policy: policy.json',
  'grants:',
  `  - { name: agent, token: ${AGENT} }`,
  `  - { name: other, token: ${OTHER} }`,
  'redis: { timeout: 500ms }',
  '',
].join('\n');
const FILES = { 'policy.json': JSON.stringify({ version: '1', default: 'allow', resources: { default: 'allow' } }) };
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

let redis: TestRedis;
let A: RunningGateway;
let B: RunningGateway;

before(async () => {
  redis = await startRedis();
  [A, B] = (await startGateways(2, () => startGateway({ config: CONFIG, files: FILES, redis }))) as [RunningGateway, RunningGateway];
});
after(async () => {
  await Promise.all([A?.stop(), B?.stop()]);
  await redis?.stop();
});

/** A v1 SDK client whose every request goes to the instance `pick` names at the time it is sent. */
async function routedClient(
  pick: (method: string) => RunningGateway,
  token: string,
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL('/mcp/fx', A.url), {
    requestInit: { headers: bearer(token) },
    fetch: (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const target = new URL(pick(init?.method ?? 'GET').url);
      url.host = target.host;
      return fetch(url, init);
    },
  });
  const client = new Client({ name: 'two-instances-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

const logged = (gateway: RunningGateway, msg: string, session: string) => gateway.logs.some((l) => l.msg === msg && l.session === session);

test('a session opened on A is served by B: same id, no second initialize, and A and B both keep serving it', async () => {
  let target = A;
  const { client, transport } = await routedClient((method) => (method === 'POST' ? target : A), AGENT);
  const id = transport.sessionId!;
  assert.ok(logged(A, 'session opened', id));
  target = B;
  for (let i = 0; i < 5; i++)
    assert.deepEqual(await client.callTool({ name: 'echo', arguments: { text: `on B ${i}` } }), {
      content: [{ type: 'text', text: `on B ${i}` }],
    });
  assert.equal(transport.sessionId, id);
  assert.ok(logged(B, 'session rebuilt from its record (opened on another instance)', id));
  assert.ok(!logged(B, 'session opened', id), 'B rebuilt the session, it did not open one');
  target = A;
  assert.deepEqual(await client.callTool({ name: 'echo', arguments: { text: 'on A' } }), { content: [{ type: 'text', text: 'on A' }] });
  await client.close();
});

test("another grant's token, another endpoint, an unknown, forged or oversized id: 404 Session not found on the instance that does not hold it", async () => {
  const id = await openSession(`${A.url}/mcp/fx`, bearer(AGENT));
  const call = toolCall(1, 'echo', { text: 'x' });
  const notFound = async (url: string, token: string, session: string) => {
    const answer = await post(url, call, { ...bearer(token), 'mcp-session-id': session });
    assert.equal(answer.status, 404, `${url} ${session.slice(0, 40)}`);
    assert.deepEqual(only(answer).error, { code: -32001, message: 'Session not found' });
  };
  await notFound(`${B.url}/mcp/fx`, OTHER, id);
  await notFound(`${B.url}/mcp/other`, AGENT, id);
  await notFound(`${B.url}/mcp`, AGENT, id);
  await notFound(`${B.url}/mcp/fx`, AGENT, '0b5b5c3e-9a0e-4c1d-8f3a-2f8a6c9d0e1f');
  await notFound(`${B.url}/mcp/fx`, AGENT, `${id}x`);
  await notFound(`${B.url}/mcp/fx`, AGENT, 'a'.repeat(8_000));
  assert.ok(B.logs.some((l) => l.msg === 'request refused' && l.status === 404 && l.grant === 'other'));
  // None of those made B hold the session: the owner's own request is what rebuilds it there.
  assert.ok(!logged(B, 'session rebuilt from its record (opened on another instance)', id));
  assert.equal((await post(`${B.url}/mcp/fx`, call, { ...bearer(AGENT), 'mcp-session-id': id })).status, 200);
  await notFound(`${B.url}/mcp/fx`, OTHER, id);
});

test('a record edited in Redis to name another grant serves neither grant where it is rebuilt, and the copy A holds stays bound to its token', async () => {
  const id = await openSession(`${A.url}/mcp/fx`, bearer(AGENT));
  const edit = new Redis(redis.url);
  const key = `{airlock}:session:${id}`;
  const record = JSON.parse((await edit.hget(key, 'record')) ?? '{}') as Record<string, unknown>;
  await edit.hset(key, 'record', JSON.stringify({ ...record, grant: 'other' }));
  const call = toolCall(1, 'echo', { text: 'x' });
  assert.equal((await post(`${B.url}/mcp/fx`, call, { ...bearer(AGENT), 'mcp-session-id': id })).status, 404);
  assert.equal((await post(`${A.url}/mcp/fx`, call, { ...bearer(OTHER), 'mcp-session-id': id })).status, 404);
  assert.equal((await post(`${A.url}/mcp/fx`, call, { ...bearer(AGENT), 'mcp-session-id': id })).status, 200);
  // A record that is not one (garbage written over it) is no session at all.
  const garbage = await openSession(`${A.url}/mcp/fx`, bearer(AGENT));
  await edit.hset(`{airlock}:session:${garbage}`, 'record', '{"v":1,"grant":"agent"');
  assert.equal((await post(`${B.url}/mcp/fx`, call, { ...bearer(AGENT), 'mcp-session-id': garbage })).status, 404);
  edit.disconnect();
});

test('DELETE on B ends a session A holds, everywhere; the same DELETE again is 404', async () => {
  const id = await openSession(`${A.url}/mcp/fx`, bearer(AGENT));
  const del = () => fetch(`${B.url}/mcp/fx`, { method: 'DELETE', headers: { ...MCP_HEADERS, ...bearer(AGENT), 'mcp-session-id': id } });
  assert.equal(
    (await fetch(`${B.url}/mcp/fx`, { method: 'DELETE', headers: { ...MCP_HEADERS, ...bearer(OTHER), 'mcp-session-id': id } })).status,
    404,
  );
  assert.equal((await del()).status, 200);
  await until('A to close its copy', () => logged(A, 'session ended on another instance', id));
  const call = toolCall(1, 'echo', { text: 'x' });
  assert.equal((await post(`${A.url}/mcp/fx`, call, { ...bearer(AGENT), 'mcp-session-id': id })).status, 404);
  assert.equal((await post(`${B.url}/mcp/fx`, call, { ...bearer(AGENT), 'mcp-session-id': id })).status, 404);
  assert.equal((await del()).status, 404);
});

test("B serves the GET stream of a session opened on A: B's upstream's list_changed reaches it, and so do updates of a resource the session subscribed to on A", async () => {
  const url = (g: RunningGateway) => `${g.url}/mcp/fx`;
  const id = await openSession(url(A), bearer(AGENT));
  const headers = { ...bearer(AGENT), 'mcp-session-id': id };
  const uri = 'test://watched/two-instances';
  assert.equal((await post(url(A), { jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: { uri } }, headers)).status, 200);
  // The record learns of the subscription once A has answered.
  const read = new Redis(redis.url);
  await until('the subscription to be recorded', async () => ((await read.hget(`{airlock}:session:${id}`, 'state')) ?? '').includes(uri));
  read.disconnect();

  const stream = await openSessionStream(url(B), id, bearer(AGENT));
  assert.equal(stream.status, 200);
  try {
    // touch and add_tool run on B's own upstream process, which only B's copy of the session hears from.
    assert.equal((await post(url(B), toolCall(2, 'touch', { uri }), headers)).status, 200);
    await until('the resource update on the GET stream on B', () =>
      stream.messages.some((m) => (m as { method?: string; params?: { uri?: string } }).method === 'notifications/resources/updated'),
    );
    assert.equal((await post(url(B), toolCall(3, 'add_tool'), headers)).status, 200);
    await until('tools/list_changed on the GET stream on B', () =>
      stream.messages.some((m) => (m as { method?: string }).method === 'notifications/tools/list_changed'),
    );
  } finally {
    stream.close();
  }
});

test('Redis unreachable while B looks a session up: 503 with Retry-After and a JSON-RPC error, never a session made up; served once Redis is back', async () => {
  const id = await openSession(`${A.url}/mcp/fx`, bearer(AGENT));
  const call = toolCall(1, 'echo', { text: 'x' });
  redis.pause();
  let answer;
  try {
    answer = await post(`${B.url}/mcp/fx`, call, { ...bearer(AGENT), 'mcp-session-id': id });
  } finally {
    redis.resume();
  }
  assert.equal(answer.status, 503);
  assert.equal(answer.headers.get('retry-after'), '1');
  const { error } = only(answer);
  assert.equal(error?.code, -32000);
  assert.deepEqual(error?.data, { airlock_code: 'AIRLOCK_REDIS_UNAVAILABLE' });
  assert.match(error?.message ?? '', /^Service Unavailable: .*retry in a moment$/);
  await until(
    'B to serve it again',
    async () => (await post(`${B.url}/mcp/fx`, call, { ...bearer(AGENT), 'mcp-session-id': id })).status === 200,
  );
});
