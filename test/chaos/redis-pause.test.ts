import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { RunningGateway } from '../support/gateway.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { reportCounts } from './ledger.js';
import { within } from '../support/poll.js';
import {
  AGENT,
  CallBook,
  outcomeTally,
  startChaosGateway,
  stopGateway,
  waitReady,
  type ChaosCall,
  type DecisionAnswer,
} from './support.js';

const REDIS_TIMEOUT_MS = 300;
/** A wave that has not ended this long into the pause is held for Redis, not refused at its deadline: the test fails rather than hangs. */
const WAVE_HANG_MS = 30_000;
const PAUSE_MS = 5_000;
const EXPORT_MAX = 8;

// sleep: allowed, needs no Redis. start_dicom_export_job: allowed, at most 8 an hour in one session. echo: held for a person.
const POLICY = {
  version: '1',
  default: 'deny',
  tools: {
    sleep: {},
    start_dicom_export_job: { limits: [{ counter: 'chaos_exports', window: 'hour', max: EXPORT_MAX, scope: 'session' }] },
    echo: { action: 'require_approval', reason: 'chaos: echoes need a person' },
  },
};

let redis: TestRedis;
let gateway: RunningGateway;
let agents: Client[];

before(async () => {
  redis = await startRedis();
  gateway = await startChaosGateway({ redis, policy: POLICY, redisTimeout: `${REDIS_TIMEOUT_MS}ms` });
  agents = await Promise.all(Array.from({ length: 3 }, () => gateway.connect('/mcp/fixture', AGENT)));
});
after(async () => {
  redis?.resume();
  await stopGateway(gateway);
  await redis?.stop();
});

const ms = (c: ChaosCall) => Math.round((c.endedAt ?? Infinity) - c.sentAt);

test('Redis paused (SIGSTOP) for 5 s under load: calls needing it end [UNAVAILABLE] while it is still paused, the rate limit is never over-admitted, held calls resolve correctly after', async (t) => {
  const book = new CallBook();
  let n = 0;
  // Every export goes through one session: its limit's counter.
  const exporter = await gateway.connect('/mcp/fixture', AGENT);
  const exportCall = () => book.fire(exporter, 'start_dicom_export_job', { datastore: `pause-${n++}` }, false);

  // Before: 12 calls held, 3 exports admitted.
  const held = Array.from({ length: 12 }, (_, i) => book.fire(agents[i % agents.length]!, 'echo', { text: `held-${i}` }, true));
  await book.awaitHeld(gateway, held);
  for (let i = 0; i < 3; i++) await exportCall().call.promise;

  // During: waves of an allowed, a rate-limited and an approval call, each wave sent once the last has ended, for 5 s.
  // Two held calls are approved and one rejected through the API meanwhile. Redis resumes only once every wave and
  // decision has been answered, so each was answered at its deadline, not by Redis coming back.
  const during: ChaosCall[] = [];
  const decidedDuring: { entry: ChaosCall; verdict: 'approve' | 'reject'; answer: DecisionAnswer; ms: number }[] = [];
  redis.pause();
  const paused = performance.now();
  try {
    const decisions = (async () => {
      for (const [entry, verdict] of [
        [held[0]!, 'approve'],
        [held[1]!, 'approve'],
        [held[2]!, 'reject'],
      ] as const) {
        const started = performance.now();
        const answer = await book.decide(gateway, entry, verdict, false);
        decidedDuring.push({ entry, verdict, answer, ms: Math.round(performance.now() - started) });
      }
    })();
    let wave = 0;
    while (performance.now() - paused < PAUSE_MS) {
      const calls = [
        book.fire(agents[wave % 3]!, 'sleep', { ms: wave + 1 }, false),
        exportCall(),
        book.fire(agents[(wave + 2) % 3]!, 'echo', { text: `during-${wave}` }, true),
      ];
      during.push(...calls);
      await within(WAVE_HANG_MS, `wave ${wave} during the pause`, Promise.allSettled(calls.map((c) => c.call.promise)));
      wave++;
    }
    await within(WAVE_HANG_MS, 'the decisions during the pause', decisions);
    // The pause itself is the one sleep: Redis stays stopped for 5 s whatever the calls did.
    await sleep(Math.max(0, PAUSE_MS - (performance.now() - paused)));
  } finally {
    redis.resume();
  }
  const pausedMs = Math.round(performance.now() - paused);
  const heldThroughPause = held.filter((c) => !c.call.settled).length;
  await waitReady(gateway);

  for (const entry of during.filter((c) => c.tool !== 'sleep')) {
    const outcome = book.outcome(entry);
    assert.equal(outcome, 'unavailable', `${entry.key} needed Redis during the pause: ${JSON.stringify(entry.result)}`);
  }
  for (const entry of during.filter((c) => c.tool === 'sleep')) {
    // Allowed calls with no limit need no Redis (their audit events wait in memory): either released, or refused in time.
    assert.ok(['released', 'unavailable'].includes(book.outcome(entry)), `${entry.key}: ${JSON.stringify(entry.result)}`);
  }
  for (const d of decidedDuring) {
    assert.equal(d.answer.status, 503, `a decision while Redis is paused cannot be confirmed: ${JSON.stringify(d)}`);
  }

  // After: every held call is decided again (approve the first half, reject the rest); those decided during the pause get
  // 200 if that decision was lost, or 409 if Redis ran it once it resumed.
  const afterAnswers = new Map<string, DecisionAnswer>();
  for (const [i, entry] of held.entries()) afterAnswers.set(entry.key, await book.decide(gateway, entry, i < 6 ? 'approve' : 'reject'));
  const more = Array.from({ length: 3 }, (_, i) => book.fire(agents[i]!, 'echo', { text: `after-${i}` }, true));
  await book.awaitHeld(gateway, more);
  for (const entry of more) assert.equal((await book.decide(gateway, entry, 'approve')).status, 200, entry.key);
  // The limit is still enforced: more exports than the limit has room for.
  const limited = [];
  for (let i = 0; i < EXPORT_MAX + 2; i++) limited.push(exportCall());
  await book.settleAll(30_000);

  const { counts, judged } = await book.tally(gateway, [gateway]);
  const admittedExports = judged.filter((j) => j.key.startsWith('start_dicom_export_job ') && j.receipts > 0).length;
  counts.over_admitted = Math.max(0, admittedExports - EXPORT_MAX);
  assert.ok(
    limited.some((c) => book.outcome(c) === 'rate_limited'),
    'after the pause the limit still refuses calls beyond its max',
  );
  for (const entry of more) assert.equal(book.outcome(entry), 'released', entry.key);
  for (const [i, entry] of held.entries()) {
    const row = judged.find((j) => j.key === entry.key)!;
    const answer = afterAnswers.get(entry.key)!;
    if (answer.status === 200)
      assert.equal(row.outcome, i < 6 ? 'released' : 'rejected', `${JSON.stringify(row)} ${JSON.stringify(answer)}`);
    else assert.equal(answer.status, 409, JSON.stringify(answer));
  }
  // A decision answered 503 that Redis carried out once it resumed: on record (the request says so), but the reviewer was told it failed.
  const tookEffect = decidedDuring.filter((d) => afterAnswers.get(d.entry.key)?.status === 409).length;
  reportCounts(t, counts, {
    paused_ms: pausedMs,
    held_through_pause: heldThroughPause,
    calls_during_pause: during.length,
    slowest_refusal_ms: Math.max(...during.filter((c) => c.tool !== 'sleep').map(ms)),
    exports_admitted: admittedExports,
    exports_refused_during_pause: during.filter((c) => c.tool === 'start_dicom_export_job').length,
    export_max: EXPORT_MAX,
    decisions_503_carried_out_after_resume: tookEffect,
    approvals_given: book.given.size,
    ...outcomeTally(judged),
  });
});

test('calls refused [UNAVAILABLE] while Redis is paused are not charged to their rate limit once it resumes', async (t) => {
  const book = new CallBook();
  const exporter = await gateway.connect('/mcp/fixture', AGENT);
  let n = 0;
  const exportCall = () => book.fire(exporter, 'start_dicom_export_job', { datastore: `charged-${n++}` }, false);
  for (let i = 0; i < 2; i++) assert.equal(book.outcome(await settled(exportCall())), 'released');
  const refused: ChaosCall[] = [];
  redis.pause();
  try {
    for (let i = 0; i < EXPORT_MAX - 2; i++) refused.push(await settled(exportCall()));
  } finally {
    redis.resume();
  }
  await waitReady(gateway);
  for (const entry of refused) assert.equal(book.outcome(entry), 'unavailable', entry.key);
  const later: ChaosCall[] = [];
  for (let i = 0; i < EXPORT_MAX; i++) later.push(await settled(exportCall()));

  const { counts, judged } = await book.tally(gateway, [gateway]);
  const admittedLater = later.filter((c) => book.outcome(c) === 'released').length;
  counts.over_admitted = Math.max(0, judged.filter((j) => j.receipts > 0).length - EXPORT_MAX);
  reportCounts(t, counts, {
    export_max: EXPORT_MAX,
    admitted_before: 2,
    refused_during_pause: refused.length,
    admitted_after: admittedLater,
    ...outcomeTally(judged),
  });
  assert.equal(admittedLater, EXPORT_MAX - 2, 'only the 2 admitted calls use up the limit: 6 more fit after the pause');
});

async function settled(entry: ChaosCall): Promise<ChaosCall> {
  await entry.call.promise.catch(() => undefined);
  return entry;
}
