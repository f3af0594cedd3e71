import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { api } from '../support/approvals-api.js';
import { TEST_REDIS_TIMEOUT, type RunningGateway } from '../support/gateway.js';
import { until, within } from '../support/poll.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { firstText } from '../support/refusal.js';
import { reportCounts } from './ledger.js';
import { AGENT, ALICE, CallBook, outcomeTally, startChaosGateway, stopGateway, waitReady, type ChaosCall } from './support.js';

// Sleeps of a minute or more need a person; shorter ones are allowed. Echoes always need one. pid tells the server's process.
const LONG = 60_000;
const POLICY = {
  version: '1',
  default: 'deny',
  tools: {
    sleep: { approve_if: [{ path: 'args.ms', op: 'gte', value: LONG }], reason: 'chaos: long sleeps need a person' },
    echo: { action: 'require_approval', reason: 'chaos: echoes need a person' },
    pid: {},
  },
};
/**
 * A call cut off by the crash is answered as soon as the gateway sees its server's stdio close: before the shortest
 * of the sleeps (30 s) would have ended, had the server lived, however slow the machine is.
 */
const ANSWERED_BEFORE_MS = 25_000;

let redis: TestRedis;
let gateway: RunningGateway;
let agents: Client[];

before(async () => {
  redis = await startRedis();
  // Only the upstream fails here: Redis gets the timeout of a test that does not exercise it.
  gateway = await startChaosGateway({ redis, policy: POLICY, redisTimeout: TEST_REDIS_TIMEOUT });
  agents = await Promise.all(Array.from({ length: 3 }, () => gateway.connect('/mcp/fixture', AGENT)));
});
after(async () => {
  await stopGateway(gateway);
  await redis?.stop();
});

async function upstreamPid(): Promise<number> {
  const result = await agents[0]!.callTool({ name: 'pid', arguments: {} });
  assert.notEqual(result.isError, true, JSON.stringify(result));
  return Number(firstText(result));
}

test('the upstream crashes (SIGKILL) with 20 calls in flight, 10 of them approved: each ends [UNAVAILABLE] at once, none is sent twice, held calls and later calls work once it is restarted', async (t) => {
  const book = new CallBook();
  const crashed = await upstreamPid();

  // In flight when the server dies: 10 approved long sleeps and 10 allowed ones.
  const approved = Array.from({ length: 10 }, (_, n) => book.fire(agents[n % 3]!, 'sleep', { ms: LONG + n }, true));
  await book.awaitHeld(gateway, approved);
  for (const entry of approved) assert.equal((await book.decide(gateway, entry, 'approve')).status, 200, entry.key);
  const allowed = Array.from({ length: 10 }, (_, n) => book.fire(agents[n % 3]!, 'sleep', { ms: 30_000 + n }, false));
  const inFlight = [...approved, ...allowed];
  // Held across the crash, decided after it.
  const held = Array.from({ length: 10 }, (_, n) => book.fire(agents[n % 3]!, 'echo', { text: `across-${n}` }, true));
  await book.awaitHeld(gateway, held);
  await until(
    'the server to be inside all 20 sleeps',
    () => inFlight.every((c) => (book.receipts([gateway]).get(c.key) ?? 0) === 1),
    30_000,
    20,
  );
  assert.ok(
    inFlight.every((c) => !c.call.settled),
    'every sleep is still running',
  );

  process.kill(crashed, 'SIGKILL');
  const killedAt = performance.now();
  // Calls arriving while the server is down or coming back: refused as not sent, or served by the new process.
  const whileDown = Array.from({ length: 5 }, (_, n) => book.fire(agents[n % 3]!, 'sleep', { ms: 1 + n }, false));
  await within(
    ANSWERED_BEFORE_MS,
    'the calls cut off by the crash to be answered',
    Promise.allSettled(inFlight.map((c) => c.call.promise)),
  );
  const answeredMs = Math.round(Math.max(...inFlight.map((c) => c.endedAt!)) - killedAt);

  await waitReady(gateway, 20_000);
  const restarted = await upstreamPid();
  assert.notEqual(restarted, crashed, 'the gateway runs a new server process');
  for (const [n, entry] of held.entries())
    assert.equal((await book.decide(gateway, entry, n < 5 ? 'approve' : 'reject')).status, 200, entry.key);
  const later = Array.from({ length: 5 }, (_, n) => book.fire(agents[n % 3]!, 'sleep', { ms: 10 + n }, false));
  await book.settleAll(30_000);

  // An approval covers one call: the one cut off by the crash cannot be approved or used again.
  const again = await api(gateway.url, `/api/approvals/${approved[0]!.approvalId}/approve`, ALICE, { method: 'POST' });
  assert.equal(again.status, 409, JSON.stringify(again.body));

  const { counts, judged } = await book.tally(gateway, [gateway]);
  const row = (c: ChaosCall) => judged.find((j) => j.key === c.key)!;
  for (const entry of book.calls.values())
    assert.ok(row(entry).receipts <= 1, `the upstream received a call more than once: ${JSON.stringify(row(entry))}`);
  for (const entry of inFlight) {
    assert.equal(row(entry).outcome, 'unavailable', `${entry.key}: ${JSON.stringify(entry.result)}`);
    assert.match(firstText((entry.result as PromiseFulfilledResult<unknown>).value), /^\[UNAVAILABLE\] .*may or may not have run/);
  }
  for (const entry of approved) {
    const shown = (await api(gateway.url, `/api/approvals/${entry.approvalId}`, ALICE)).body.approval;
    assert.deepEqual(
      [shown?.state, (shown?.execution as { result?: string } | null)?.result],
      ['approved', 'unavailable'],
      `${entry.key}: the request records that its call was cut off`,
    );
  }
  for (const [n, entry] of held.entries())
    assert.deepEqual([row(entry).outcome, row(entry).receipts], n < 5 ? ['released', 1] : ['rejected', 0], JSON.stringify(row(entry)));
  for (const entry of whileDown) {
    const r = row(entry);
    assert.ok(
      (r.outcome === 'released' && r.receipts === 1) || (r.outcome === 'unavailable' && r.receipts === 0),
      `sent to the new server, or refused as not sent: ${JSON.stringify(r)}`,
    );
  }
  for (const entry of later) assert.deepEqual([row(entry).outcome, row(entry).receipts], ['released', 1], JSON.stringify(row(entry)));

  reportCounts(t, counts, {
    in_flight_at_crash: inFlight.length,
    approved_in_flight: approved.length,
    crash_to_last_answer_ms: answeredMs,
    sent_twice: judged.filter((j) => j.receipts > 1).length,
    approvals_given: book.given.size,
    ...outcomeTally(judged),
  });
});
