import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { FIXTURE_SERVER, TSX_LOADER } from '../support/mcp-servers.js';
import { waitForEvents } from '../support/audit-stream.js';
import { until } from '../support/poll.js';
import { metricValue, scrape } from '../support/prometheus.js';
import { INITIALIZE, MCP_HEADERS, only, openSession, post, read, send, toolCall, type RawAnswer } from '../support/raw-mcp.js';

const AGENT = 'agent-token-0123456789';
const OTHER = 'other-token-0123456789';
const ADMIN = 'alice-admin-token-0123456789';
const FIXTURE = [`    command: ${process.execPath}`, `    args: [--import, ${TSX_LOADER}, ${FIXTURE_SERVER}]`, '    policy: fx.yaml'];
const POLICY = { 'fx.yaml': 'version: "1"\ndefault: allow\n' };

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/** `count` initialize requests, `concurrency` at a time, so the last slots are raced for. */
async function initializeMany(url: string, headers: Record<string, string>, count: number, concurrency: number): Promise<RawAnswer[]> {
  const answers: RawAnswer[] = [];
  for (let sent = 0; sent < count; sent += concurrency) {
    answers.push(...(await Promise.all(Array.from({ length: Math.min(concurrency, count - sent) }, () => post(url, INITIALIZE, headers)))));
  }
  return answers;
}

function assertSessionLimit(answer: RawAnswer, limit: string, max: number, says: RegExp): void {
  assert.equal(answer.status, 429);
  assert.equal(answer.headers.get('mcp-session-id'), null, 'a refused initialize opens no session');
  const retryAfter = Number(answer.headers.get('retry-after'));
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After: ${answer.headers.get('retry-after')}`);
  const { error } = only(answer);
  assert.equal(error?.code, -32000);
  assert.deepEqual(error?.data, { airlock_code: 'AIRLOCK_SESSION_LIMIT', limit, max, retry_after_s: retryAfter });
  assert.match(error?.message ?? '', says);
  assert.match(error?.message ?? '', new RegExp(`raise ${limit.replace('.', '\\.')} in .*airlock\\.yaml`));
  assert.match(error?.message ?? '', /HTTP DELETE/);
}

describe('sessions per grant and in all, with grants', () => {
  let gateway: RunningGateway;
  let url: string;
  let accepted: string[] = [];
  const open = async (grant: string) => metricValue((await scrape(gateway.url, ADMIN)).samples, 'airlock_sessions_open', { grant });
  const refused = async (grant: string, limit: string) =>
    metricValue((await scrape(gateway.url, ADMIN)).samples, 'airlock_sessions_refused_total', { grant, limit });

  before(async () => {
    gateway = await startGateway({
      config: [
        // The per-grant limit is left at its default (100).
        'listen: { host: 127.0.0.1, port: 0, max_sessions: 150 }',
        'servers:',
        '  fx:',
        ...FIXTURE,
        'grants:',
        `  - { name: agent, token: ${AGENT} }`,
        `  - { name: other, token: ${OTHER} }`,
        `admins:\n  - { name: alice, token: ${ADMIN} }`,
        '',
      ].join('\n'),
      files: POLICY,
    });
    url = `${gateway.url}/mcp/fx`;
  });
  after(() => gateway?.stop());

  test('2,000 initialize requests of one grant: 100 open a session, the rest are refused 429 with Retry-After and leave nothing behind', async () => {
    const answers = await initializeMany(url, bearer(AGENT), 2_000, 200);
    const ok = answers.filter((a) => a.status === 200);
    assert.equal(ok.length, 100);
    accepted = ok.map((a) => a.headers.get('mcp-session-id') ?? '');
    assert.equal(new Set(accepted).size, 100);
    const refusals = answers.filter((a) => a.status !== 200);
    assert.equal(refusals.length, 1_900);
    for (const answer of refusals)
      assertSessionLimit(answer, 'listen.max_sessions_per_grant', 100, /grant agent has 100 MCP sessions open/);
    // Nobody has a request open on the 100 sessions, so the soonest one may free up is a whole idle timeout (30 min) after it was used.
    assert.ok(refusals.every((a) => Number(a.headers.get('retry-after')) <= 1_800));

    assert.equal(await open('agent'), 100, 'airlock_sessions_open counts exactly the sessions that were opened');
    assert.equal(await refused('agent', 'grant'), 1_900);
    // The refusals are logged sampled: the first in full, the rest summed up at the window's end.
    const logged = gateway.logs.filter((l) => l.msg === 'request refused' && l.status === 429 && l.grant === 'agent');
    assert.ok(logged.length >= 1 && logged.length < 10, `${logged.length} refusal lines logged one by one`);
    assert.match(String(logged[0]?.reason), /listen\.max_sessions_per_grant/);
    // And audited the same way, once in full: a flood of refused initialize requests does not grow the trail at its rate.
    const events = await waitForEvents(gateway.redis.url, 'the audited refusal', (all) =>
      all.some((e) => e.event === 'request_refused' && e.grant === 'agent'),
    );
    const audited = events.filter((e) => e.event === 'request_refused' && e.grant === 'agent');
    assert.ok(audited.length >= 1 && audited.length < 10, `${audited.length} refusals audited one by one`);
    assert.match(audited[0]?.reason ?? '', /listen\.max_sessions_per_grant/);
  });

  test('the open sessions still work, and the other grant has slots of its own', async () => {
    const session = accepted[0] ?? '';
    await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { ...bearer(AGENT), 'mcp-session-id': session });
    assert.deepEqual(
      only(await post(url, toolCall(1, 'echo', { text: 'still here' }), { ...bearer(AGENT), 'mcp-session-id': session })).result,
      { content: [{ type: 'text', text: 'still here' }] },
    );
    const other = await openSession(url, bearer(OTHER));
    assert.ok(other);
    assert.equal(await open('other'), 1);
  });

  test('DELETE frees a slot: ten sessions ended, ten more open, the next is refused', async () => {
    for (const session of accepted.splice(0, 10)) {
      const answer = await fetch(url, { method: 'DELETE', headers: { ...MCP_HEADERS, ...bearer(AGENT), 'mcp-session-id': session } });
      assert.equal(answer.status, 200);
    }
    assert.equal(await open('agent'), 90);
    const again = await initializeMany(url, bearer(AGENT), 10, 10);
    assert.deepEqual(
      again.map((a) => a.status),
      Array(10).fill(200),
    );
    assertSessionLimit(await post(url, INITIALIZE, bearer(AGENT)), 'listen.max_sessions_per_grant', 100, /grant agent has 100/);
    assert.equal(await open('agent'), 100);
  });

  test('an initialize the transport turns down (no text/event-stream in Accept) holds no slot; past listen.max_sessions every grant is refused', async () => {
    // agent has 100 open and other 1: the gateway's 150 leave other 49 more.
    await initializeMany(url, bearer(OTHER), 48, 48);
    for (let i = 0; i < 30; i++) {
      const answer = await read(await send(url, INITIALIZE, { ...bearer(OTHER), Accept: 'application/json' }));
      assert.equal(answer.status, 406);
    }
    assert.equal(await open('other'), 49, 'the turned-down initialize requests left no session counted');
    assert.equal((await post(url, INITIALIZE, bearer(OTHER))).status, 200);
    assertSessionLimit(
      await post(url, INITIALIZE, bearer(OTHER)),
      'listen.max_sessions',
      150,
      /this Airlock instance has 150 MCP sessions open/,
    );
    assert.equal(await refused('other', 'total'), 1);
    assert.equal(await open('other'), 50);
  });

  test('on stop, the refusals not logged one by one are logged as a count: together every refusal is in the log', async () => {
    const counted = await refused('agent', 'grant');
    await gateway.stop();
    const oneByOne = gateway.logs.filter((l) => l.msg === 'request refused' && l.status === 429 && l.grant === 'agent').length;
    const summed = gateway.logs
      .filter((l) => l.limit === 'listen.max_sessions_per_grant' && l.grant === 'agent' && typeof l.refused === 'number')
      .reduce((sum, l) => sum + Number(l.refused), 0);
    assert.equal(oneByOne + summed, counted);
  });
});

describe('sessions without grants', () => {
  let gateway: RunningGateway;
  before(async () => {
    gateway = await startGateway({
      config: [
        'listen: { host: 127.0.0.1, port: 0, max_sessions_per_grant: 3, session_idle_timeout: 1s }',
        'servers:',
        '  fx:',
        ...FIXTURE,
        '',
      ].join('\n'),
      files: POLICY,
    });
  });
  after(() => gateway?.stop());

  test('every agent counts against one limit, and a session the idle sweep closes frees its slot', async () => {
    const url = `${gateway.url}/mcp/fx`;
    for (let i = 0; i < 3; i++) await openSession(url);
    const refusal = await post(url, INITIALIZE);
    assertSessionLimit(
      refusal,
      'listen.max_sessions_per_grant',
      3,
      /the agents of this gateway \(it has no grants\) have 3 MCP sessions open/,
    );
    // The three are idle: the soonest is closed within the 1 s idle timeout.
    assert.equal(refusal.headers.get('retry-after'), '1');
    await until('an initialize to be accepted again', async () => (await post(url, INITIALIZE)).status === 200, 30_000, 100);
    // The slot is free once the session is idle (Redis scores it so); the sweep closes the local copy within a round of it.
    await until('the idle session to be closed', () => gateway.logs.some((l) => l.msg === 'closing an idle session'));
  });
});
