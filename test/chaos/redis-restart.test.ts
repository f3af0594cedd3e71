import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { RunningGateway } from '../support/gateway.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { reportCounts } from './ledger.js';
import { AGENT, CallBook, HELD_POLICY, outcomeTally, startChaosGateway, stopGateway, waitReady, type DecisionAnswer } from './support.js';

// Echoes wait for a person (10 minutes); exports expire after 8 s, so they are still held when Redis restarts.

let redis: TestRedis;
let gateway: RunningGateway;
let agents: Client[];

before(async () => {
  redis = await startRedis({ appendonly: true });
  // redis.timeout 2s (the chaos default): held calls outlive a lost Redis by 8 s, the instance's lease by 6 s.
  gateway = await startChaosGateway({ redis, policy: HELD_POLICY });
  agents = await Promise.all(Array.from({ length: 5 }, () => gateway.connect('/mcp/fixture', AGENT)));
});
after(async () => {
  await stopGateway(gateway);
  await redis?.stop();
});

test('Redis restarted (AOF) while 50 calls are held: afterwards approved calls run once, rejected and expired ones never, none released unapproved, none left hanging', async (t) => {
  const book = new CallBook();
  const echoes = Array.from({ length: 35 }, (_, n) => book.fire(agents[n % agents.length]!, 'echo', { text: `restart-${n}` }, true));
  const exports = Array.from({ length: 15 }, (_, n) =>
    book.fire(agents[n % agents.length]!, 'start_dicom_export_job', { datastore: `restart-${n}` }, true),
  );
  await book.awaitHeld(gateway, [...echoes, ...exports]);

  const down = performance.now();
  await redis.restart();
  const downMs = Math.round(performance.now() - down);
  await waitReady(gateway);
  const stillHeld = [...echoes, ...exports].filter((c) => !c.call.settled).length;

  // Every request came back from the append-only file; a decision on one still held reaches its call.
  const approveThese = echoes.slice(0, 20);
  const rejectThese = echoes.slice(20);
  const approvedAnswers: DecisionAnswer[] = [];
  for (const entry of approveThese) approvedAnswers.push(await book.decide(gateway, entry, 'approve'));
  const rejectedAnswers: DecisionAnswer[] = [];
  for (const entry of rejectThese) rejectedAnswers.push(await book.decide(gateway, entry, 'reject'));

  await book.settleAll(30_000);
  const { counts, judged } = await book.tally(gateway, [gateway]);

  for (const [i, entry] of approveThese.entries()) {
    const answer = approvedAnswers[i]!;
    const row = judged.find((j) => j.key === entry.key)!;
    if (answer.status === 200) {
      assert.equal(row.outcome, 'released', `approved after the restart, the call must run: ${JSON.stringify(row)}`);
      assert.equal(row.receipts, 1, JSON.stringify(row));
    } else {
      // Only a call the gateway gave up on while Redis was away may refuse an approval, and it never runs.
      assert.equal(answer.status, 409, JSON.stringify(answer));
      assert.deepEqual([row.outcome, row.state, row.receipts], ['withdrawn', 'withdrawn', 0], JSON.stringify(row));
    }
  }
  for (const [i, entry] of rejectThese.entries()) {
    const row = judged.find((j) => j.key === entry.key)!;
    const expected = rejectedAnswers[i]!.status === 200 ? 'rejected' : 'withdrawn';
    assert.equal(row.outcome, expected, JSON.stringify({ row, answer: rejectedAnswers[i] }));
  }
  for (const entry of exports) {
    const row = judged.find((j) => j.key === entry.key)!;
    assert.ok(
      row.outcome === 'expired' || row.outcome === 'withdrawn',
      `nobody decided it: expired, or withdrawn when Redis was lost too long: ${JSON.stringify(row)}`,
    );
  }
  assert.equal(counts.held, 50);
  reportCounts(t, counts, {
    redis_down_ms: downMs,
    held_through_restart: stillHeld,
    approvals_given: book.given.size,
    ...outcomeTally(judged),
  });
});

test('Redis down longer than the grace while 20 calls are held: each ends [UNAVAILABLE], and an approval once Redis is back runs nothing', async (t) => {
  const book = new CallBook();
  const held = Array.from({ length: 20 }, (_, n) => book.fire(agents[n % agents.length]!, 'echo', { text: `away-${n}` }, true));
  await book.awaitHeld(gateway, held);

  // Held calls give up after max(1 s, 4 × 2 s) = 8 s without Redis.
  await redis.restart(() => book.settleAll(30_000));
  await waitReady(gateway);
  for (const entry of held) {
    const answer = await book.decide(gateway, entry, 'approve');
    assert.equal(answer.status, 409, `a call given up while Redis was away cannot be approved afterwards: ${JSON.stringify(answer)}`);
  }

  const { counts, judged } = await book.tally(gateway, [gateway]);
  for (const row of judged) assert.deepEqual([row.outcome, row.state, row.receipts], ['unavailable', 'withdrawn', 0], JSON.stringify(row));
  reportCounts(t, counts, { approvals_given: book.given.size, ...outcomeTally(judged) });
});

test('a call held just after Redis came back from an outage that outlasted the grace is released when a reviewer approves it at once', async (t) => {
  const book = new CallBook();
  const lost = Array.from({ length: 3 }, (_, n) => book.fire(agents[n]!, 'echo', { text: `lost-${n}` }, true));
  await book.awaitHeld(gateway, lost);
  await redis.restart(() => book.settleAll(30_000));
  await waitReady(gateway);

  const fresh = Array.from({ length: 5 }, (_, n) => book.fire(agents[n]!, 'echo', { text: `fresh-${n}` }, true));
  await book.awaitHeld(gateway, fresh);
  const answers: DecisionAnswer[] = [];
  for (const entry of fresh) answers.push(await book.decide(gateway, entry, 'approve'));
  await book.settleAll(30_000);

  const { counts, judged } = await book.tally(gateway, [gateway]);
  reportCounts(t, counts, { approvals_given: book.given.size, ...outcomeTally(judged) });
  for (const [i, entry] of fresh.entries()) {
    const row = judged.find((j) => j.key === entry.key)!;
    assert.deepEqual(
      [answers[i]!.status, row.outcome, row.state, row.receipts],
      [200, 'released', 'approved', 1],
      `${JSON.stringify(row)} ${JSON.stringify(answers[i])}`,
    );
  }
});
