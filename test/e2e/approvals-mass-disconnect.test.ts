import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RunningGateway } from '../support/gateway.js';
import { withRedis, streamEvents } from '../support/audit-stream.js';
import { startRecordingGateway, upstreamCalls } from '../support/recording-upstream.js';
import { until } from '../support/poll.js';
import { MCP_HEADERS, openSession, toolCall } from '../support/raw-mcp.js';

const AGENT = 'agent-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';
const AUTH = { Authorization: `Bearer ${AGENT}` };
const POLICY = { version: '1', default: 'deny', tools: { echo: { action: 'require_approval', reason: 'Echoes need a person' } } };
const SESSIONS = 8;
const PER_SESSION = 100;
const CALLS = SESSIONS * PER_SESSION;

let gateway: RunningGateway;

before(async () => {
  gateway = await startRecordingGateway({
    policy: POLICY,
    agent: AGENT,
    admins: { alice: ALICE },
    // The default Redis timeout, not the tests' 5 s: sent all at once, the last withdrawals' replies would come back after it.
    config: ['approvals: { channel: console, timeout: 10m }', 'redis: { timeout: 500ms }'],
  });
});
after(() => gateway?.stop());

const held = () => gateway.logs.filter((line) => line.msg === 'call held for approval');

test(`${CALLS} held calls whose agents all go away at once each end withdrawn and audited so, and none is lost track of`, async () => {
  const url = `${gateway.url}/mcp/fixture`;
  const sessions = await Promise.all(Array.from({ length: SESSIONS }, () => openSession(url, AUTH)));
  const cut = new AbortController();
  const posts: Promise<unknown>[] = [];
  // Held a few at a time, so opening them is no burst: the burst measured is their end.
  for (let i = 0; i < CALLS; i += 10) {
    for (let j = i; j < i + 10; j++) {
      const body = JSON.stringify(toolCall(j + 1, 'echo', { text: `mass ${j}` }));
      const headers = { ...MCP_HEADERS, ...AUTH, 'mcp-session-id': sessions[j % SESSIONS] ?? '' };
      posts.push(fetch(url, { method: 'POST', headers, body, signal: cut.signal }).then((r) => r.body?.getReader().read()));
    }
    await until(`${i + 10} calls held`, () => held().length >= i + 10, 30_000);
  }
  const ids = held().map((line) => String(line.approval_id));
  assert.equal(new Set(ids).size, CALLS);

  cut.abort();
  await Promise.allSettled(posts);
  const states = (): Promise<(string | null)[]> =>
    withRedis(gateway.redis.url, async (redis) => {
      const reads = redis.pipeline();
      for (const id of ids) reads.hget(`{airlock}:approval:${id}`, 'state');
      return ((await reads.exec()) ?? []).map(([, state]) => state as string | null);
    });
  await until('every request ended', async () => !(await states()).includes('pending'), 60_000, 200);
  const ended = await states();
  assert.deepEqual(
    ended.filter((state) => state !== 'withdrawn'),
    [],
    'every request is withdrawn',
  );

  const mine = new Set(ids);
  const withdrawnEvents = async () =>
    (await streamEvents(gateway.redis.url)).filter((e) => e.event === 'withdrawn' && mine.has(String(e.approval_id)));
  await until(
    'every withdrawal audited',
    async () => new Set((await withdrawnEvents()).map((e) => e.approval_id)).size >= CALLS,
    60_000,
    200,
  );
  const events = await withdrawnEvents();
  assert.equal(events.length, CALLS, 'one withdrawn event per request');
  for (const event of events) assert.equal(event.reason, 'the agent disconnected before the request was answered');

  const lost = gateway.logs.filter((line) => line.msg === 'lost track of a held call' || line.decision === 'unavailable');
  assert.deepEqual(lost, [], 'no held call is lost track of');
  assert.equal(gateway.logs.filter((line) => line.msg === 'held call withdrawn').length, CALLS);
  assert.equal(upstreamCalls(gateway, 'fixture', 'echo').length, 0, 'a withdrawn call never reaches the upstream');
});
