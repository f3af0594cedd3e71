import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { api } from '../support/approvals-api.js';
import type { RunningGateway } from '../support/gateway.js';
import { until, within } from '../support/poll.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { streamEvents, withRedis } from '../support/audit-stream.js';
import { cli } from '../support/run-cli.js';
import { reportCounts } from './ledger.js';
import {
  AGENT,
  ALICE,
  CallBook,
  HELD_POLICY,
  outcomeTally,
  SERVER,
  startChaosGateway,
  startChaosGateways,
  stopGateway,
  type ChaosCall,
  type DecisionAnswer,
  type JudgedCall,
} from './support.js';

let redis: TestRedis;
let A: RunningGateway;
let B: RunningGateway;

before(async () => {
  redis = await startRedis();
  [A, B] = (await startChaosGateways(2, { redis, policy: HELD_POLICY })) as [RunningGateway, RunningGateway];
});
after(async () => {
  await Promise.all([stopGateway(A), stopGateway(B)]);
  await redis?.stop();
});

/** Holds `count` calls (85% echoes, 15% exports) on `gateway` over 5 sessions, and waits until B lists them all. */
async function holdOn(gateway: RunningGateway, book: CallBook, label: string, count: number) {
  const agents: Client[] = await Promise.all(Array.from({ length: 5 }, () => gateway.connect('/mcp/fixture', AGENT)));
  const exportCount = Math.round(count * 0.15);
  const echoes = Array.from({ length: count - exportCount }, (_, n) =>
    book.fire(agents[n % agents.length]!, 'echo', { text: `${label}-${n}` }, true),
  );
  const exports = Array.from({ length: exportCount }, (_, n) =>
    book.fire(agents[n % agents.length]!, 'start_dicom_export_job', { datastore: `${label}-${n}` }, true),
  );
  await book.awaitHeld(B, [...echoes, ...exports]);
  return { agents, echoes, exports, held: [...echoes, ...exports] };
}

async function kill(gateway: RunningGateway): Promise<number> {
  const exited = new Promise((resolve) => gateway.process.once('exit', resolve));
  gateway.process.kill('SIGKILL');
  await exited;
  return performance.now();
}

type Answer = DecisionAnswer & { via: string; afterKillMs: number };

/** Reviewers decide every echo: 60% approved and 10% rejected through B's API, 20% approved and 10% rejected with the CLI. */
async function decideAll(book: CallBook, echoes: ChaosCall[], killedAt: number): Promise<Map<string, Answer>> {
  const answers = new Map<string, Answer>();
  const note = (key: string, via: string, answer: DecisionAnswer) =>
    answers.set(key, { ...answer, via, afterKillMs: Math.round(performance.now() - killedAt) });
  const cut = (share: number) => Math.round(echoes.length * share);
  for (const entry of echoes.slice(0, cut(0.6))) note(entry.key, 'api', await book.decide(B, entry, 'approve'));
  for (const entry of echoes.slice(cut(0.6), cut(0.7))) note(entry.key, 'api', await book.decide(B, entry, 'reject'));
  for (const entry of echoes.slice(cut(0.7), cut(0.9))) note(entry.key, 'cli', await book.decideByCli(B, entry, 'approve'));
  for (const entry of echoes.slice(cut(0.9))) note(entry.key, 'cli', await book.decideByCli(B, entry, 'reject'));
  return answers;
}

async function noPendingLeft(): Promise<void> {
  await until(
    'every request to end',
    async () => {
      const pending = await api(B.url, `/api/approvals?state=pending&server=${SERVER}&limit=1000`, ALICE);
      return pending.status === 200 && pending.body.approvals?.length === 0;
    },
    30_000,
    100,
  );
}

/** Per final state of the requests of `calls`, for the printed line. */
function statesOf(judged: JudgedCall[], calls: ChaosCall[], prefix: string): Record<string, number> {
  const keys = new Set(calls.map((c) => c.key));
  const states: Record<string, number> = {};
  for (const row of judged.filter((j) => keys.has(j.key))) states[`${prefix}_${row.state}`] = (states[`${prefix}_${row.state}`] ?? 0) + 1;
  return states;
}

function acceptedStats(answers: Map<string, Answer>): Record<string, number | string> {
  const accepted = [...answers.values()].filter((a) => a.status === 200);
  return {
    decisions: answers.size,
    decisions_accepted: accepted.length,
    last_accepted_after_kill_ms: accepted.length === 0 ? 'none' : Math.max(...accepted.map((a) => a.afterKillMs)),
  };
}

test('100 calls held on instance A, A killed (SIGKILL): approvals through B and the CLI run none of them, every request ends withdrawn or expired, B keeps serving, the trail verifies', async (t) => {
  const book = new CallBook();
  const { agents, echoes, held } = await holdOn(A, book, 'on-a', 100);
  const killedAt = await kill(A);
  // A's lease outlives it by up to 6 s (0.75 × the 8 s grace): reviewers act once it has run out, when only B's is left.
  // (Deciding inside that window is the next test.)
  await until(
    "A's lease to run out",
    async () => (await withRedis(redis.url, (r) => r.keys('{airlock}:instance:*'))).length === 1,
    30_000,
    50,
  );
  const answers = await decideAll(book, echoes, killedAt);

  // B keeps serving: calls held on B are approved and released there.
  const onB = await B.connect('/mcp/fixture', AGENT);
  const fresh = Array.from({ length: 5 }, (_, n) => book.fire(onB, 'echo', { text: `on-b-${n}` }, true));
  await book.awaitHeld(B, fresh);
  for (const entry of fresh) assert.equal((await book.decide(B, entry, 'approve')).status, 200, entry.key);
  await within(30_000, 'the calls held on B to end', Promise.allSettled(fresh.map((c) => c.call.promise)));
  // Nothing is left pending: the undecided exports expire through B's worker.
  await noPendingLeft();

  // The agents on A learn nothing more from a dead gateway: closing their clients ends what they still wait for.
  const receipts = book.receipts([A, B]);
  await Promise.all(agents.map((c) => c.close()));
  await book.settleAll(30_000);
  const { counts, judged } = await book.tally(B, [A, B]);
  const verified = await cli(['audit', 'verify', '-c', join(B.dir, 'airlock.yaml')], B.dir, { REDIS_URL: redis.url });
  reportCounts(t, counts, { ...acceptedStats(answers), ...statesOf(judged, held, 'a'), ...outcomeTally(judged) });

  for (const entry of held) {
    const row = judged.find((j) => j.key === entry.key)!;
    const answer = answers.get(entry.key);
    assert.equal(receipts.get(entry.key) ?? 0, 0, `a call held on the killed instance reached an upstream: ${JSON.stringify(row)}`);
    assert.ok(
      row.state === (answer ? 'withdrawn' : 'expired'),
      `decided: withdrawn; left alone: expired: ${JSON.stringify({ row, answer })}`,
    );
    if (answer)
      assert.equal(
        answer.status,
        answer.via === 'api' ? 409 : 1,
        `a decision on a call nobody holds changes nothing: ${JSON.stringify({ row, answer })}`,
      );
  }
  for (const entry of fresh) {
    const row = judged.find((j) => j.key === entry.key)!;
    assert.deepEqual([row.outcome, row.state, row.receipts], ['released', 'approved', 1], JSON.stringify(row));
  }
  assert.equal(upstreamCount(receipts, fresh), fresh.length, 'the calls held on B ran on B');
  assert.equal(verified.code, 0, `airlock audit verify: ${verified.stdout}\n${verified.stderr}`);
});

test('calls held on an instance killed (SIGKILL) a moment ago: an approval given before its lease lapses cannot run, and the request says so (approved, not sent, the holder stopped) instead of looking released', async (t) => {
  const book = new CallBook();
  const victim = await startChaosGateway({ redis, policy: HELD_POLICY });
  try {
    const { agents, echoes, held } = await holdOn(victim, book, 'victim', 20);
    const killedAt = await kill(victim);
    const answers = await decideAll(book, echoes, killedAt);
    await noPendingLeft();
    const given = held.filter((entry) => entry.approvalId !== undefined && book.given.has(entry.approvalId));
    // B's worker checks each approval once the holder's lease has lapsed: the unused ones are ended there.
    await until(
      'every approval of the killed instance to record that its call was not sent',
      async () => {
        const shown = await Promise.all(given.map((entry) => api(B.url, `/api/approvals/${entry.approvalId}`, ALICE)));
        return shown.every((answer) => (answer.body.approval?.execution as { result?: string } | null)?.result === 'refused');
      },
      30_000,
      100,
    );
    const receipts = book.receipts([victim, B]);
    await Promise.all(agents.map((c) => c.close()));
    await book.settleAll(30_000);
    const { counts, judged } = await book.tally(B, [victim, B]);
    const events = await streamEvents(redis.url);
    reportCounts(t, counts, {
      ...acceptedStats(answers),
      approvals_given_in_the_window: given.length,
      ...statesOf(judged, held, 'victim'),
      ...outcomeTally(judged),
    });
    assert.equal(upstreamCount(receipts, held), 0, 'no call of the killed instance ran');
    for (const entry of held) {
      const row = judged.find((j) => j.key === entry.key)!;
      if (!given.includes(entry)) {
        assert.ok(
          row.state === 'withdrawn' || row.state === 'expired' || row.state === 'rejected',
          `nobody holds the call: ${JSON.stringify({ row, answer: answers.get(entry.key) })}`,
        );
        continue;
      }
      assert.equal(row.state, 'approved', JSON.stringify(row));
      assert.match(
        String(row.execution?.detail),
        /the gateway instance holding the call stopped before sending it: the call was not sent/,
        JSON.stringify(row),
      );
      const audited = events.find((e) => e.event === 'unavailable' && e.approval_id === entry.approvalId);
      assert.ok(audited, `the audit trail says the approved call of ${entry.key} was not sent`);
      assert.ok(
        (audited.approvers ?? []).some((a) => a.verdict === 'approve'),
        'and who approved it',
      );
    }
  } finally {
    await victim.stop();
  }
});

function upstreamCount(receipts: Map<string, number>, calls: ChaosCall[]): number {
  return calls.reduce((sum, e) => sum + (receipts.get(e.key) ?? 0), 0);
}
