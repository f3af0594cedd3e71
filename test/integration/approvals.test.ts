import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { Approvals, Deciders, type ApprovalRecord, type ReviewerVote, type Held, type NewApproval } from '../../src/approvals/index.js';
import { argumentsDigest } from '../../src/arguments-digest.js';
import { ErrorCode } from '../../src/errors.js';
import { connectRedis } from '../../src/redis/index.js';
import { captureLogger, LEVEL, type LogLine } from '../support/log.js';
import { until, within } from '../support/poll.js';
import { writeFileApproval } from '../support/approval-input.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const PREFIX = '{airlock}:';
const ARGS = { path: '/srv/reports/q3.txt', content: 'quarterly numbers', mode: 420 };
/** Every instance of a deployment digests under one key (in Redis, for a gateway). */
const DIGEST = argumentsDigest(Buffer.alloc(32, 1));

let server: TestRedis;
/** A plain client for reading and tampering with what the approvals stored. */
let raw: Redis;
/** Two gateway instances (A holds, B decides) and the CLI, each on its own connection. */
let A: Approvals;
let B: Approvals;
let cli: Approvals;
const orphanedOn = new Map<Approvals, ApprovalRecord[]>();
const clients: Redis[] = [];
const instances: Approvals[] = [];
const holds: { controller: AbortController; held: Held }[] = [];

async function client(on: TestRedis): Promise<Redis> {
  const redis = await connectRedis({ url: on.url, logger: captureLogger().logger, commandTimeoutMs: 5_000 });
  clients.push(redis);
  return redis;
}

async function open(
  on: TestRedis,
  holder: boolean,
  options: { prefix?: string; redisGraceMs?: number; deciders?: Deciders } = {},
): Promise<{ approvals: Approvals; redis: Redis; log: LogLine[] }> {
  const redis = await client(on);
  const orphaned: ApprovalRecord[] = [];
  const { logger, lines } = captureLogger();
  const approvals = await Approvals.open({
    redis,
    prefix: options.prefix ?? PREFIX,
    redisTimeoutMs: 5_000,
    retentionMs: 3_600_000,
    logger,
    holder,
    digest: DIGEST,
    ...(options.redisGraceMs !== undefined && { redisGraceMs: options.redisGraceMs }),
    ...(options.deciders && { deciders: options.deciders }),
    onOrphaned: (record) => orphaned.push(record),
  });
  orphanedOn.set(approvals, orphaned);
  instances.push(approvals);
  return { approvals, redis, log: lines };
}

/** Holds one call on `on`; every hold still open when the file ends is withdrawn then. */
async function hold(
  on: Approvals,
  input: Partial<NewApproval> = {},
  withdrawReason = () => 'the test ended',
): Promise<Held & { controller: AbortController }> {
  const controller = new AbortController();
  const held = await on.hold(writeFileApproval(ARGS, input), controller.signal, withdrawReason);
  holds.push({ controller, held });
  return { ...held, controller };
}

const vote = (verdict: ReviewerVote['verdict'], by: string, extra: Partial<ReviewerVote> = {}): ReviewerVote => ({
  verdict,
  by,
  reason: `${by} says ${verdict}`,
  via: 'console',
  ...extra,
});

/** Whether `promise` settled within `ms` (a sleep that proves something did not happen). */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await sleep(ms);
  return settled;
}

/** A call held on A, approved on B, and released on A. */
async function approvedCall(): Promise<Held> {
  const held = await hold(A);
  await B.decide(held.request.id, vote('approve', 'alice'));
  assert.equal((await within(30_000, 'the approved outcome', held.outcome)).state, 'approved');
  return held;
}

before(async () => {
  server = await startRedis();
  raw = await client(server);
  A = (await open(server, true)).approvals;
  B = (await open(server, true)).approvals;
  cli = (await open(server, false)).approvals;
});
after(async () => {
  for (const { controller } of holds) controller.abort();
  await Promise.allSettled(holds.map(({ held }) => held.outcome));
  for (const approvals of instances) await approvals.close().catch(() => undefined);
  for (const c of clients) c.disconnect();
  await server.stop();
});

// How fast the release is, is bench:approvals' figure (decision → release across two instances).
test('a decision on instance B releases the call held on instance A, told over pub/sub', async () => {
  const held = await hold(A);
  let releasedAt = 0;
  const outcome = held.outcome.then((status) => ((releasedAt = performance.now()), status));
  const result = await B.decide(held.request.id, vote('approve', 'alice'));
  const decidedAt = performance.now();
  // A holder hears of a decision only over pub/sub: without it, A's call would wait out its 10 minute timeout.
  const status = await within(30_000, 'A hearing of the decision on B', outcome);
  console.log(`B's decide() resolved → A's outcome resolved: ${(releasedAt - decidedAt).toFixed(2)} ms`);
  assert.equal(result.outcome, 'decided');
  assert.deepEqual([status.state, status.decided_by, status.reason], ['approved', 'alice', 'alice says approve']);
  assert.equal(orphanedOn.get(B)!.length, 0, 'a live holder is told over pub/sub, not through onOrphaned');
});

test('100 concurrent approve and reject calls from three instances: exactly one decides, the 99 others are told who won', async () => {
  const held = await hold(A);
  const deciders = [A, B, cli];
  const results = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      deciders[i % 3]!.decide(held.request.id, vote(i % 2 === 0 ? 'approve' : 'reject', `reviewer-${i}`)),
    ),
  );
  const winners = results.filter((r) => r.outcome === 'decided');
  assert.equal(winners.length, 1);
  const winner = winners[0]!.record.status;
  console.log(`race: ${winner.state} by ${winner.decided_by}; ${results.filter((r) => r.outcome === 'too_late').length} too_late`);
  assert.equal(results.filter((r) => r.outcome === 'too_late').length, 99);
  for (const r of results)
    assert.deepEqual(
      [r.record.status.state, r.record.status.decided_by, r.record.status.votes.length],
      [winner.state, winner.decided_by, 1],
    );
  const status = await within(30_000, 'the outcome of the race', held.outcome);
  assert.deepEqual([status.state, status.decided_by], [winner.state, winner.decided_by]);
});

test('min_approvals 2: one approval is counted, the same approver twice is refused, a second approver releases the call', async () => {
  const held = await hold(A, { min_approvals: 2 });
  const first = await B.decide(held.request.id, vote('approve', 'alice'));
  assert.deepEqual([first.outcome, first.record.status.state, first.record.status.votes.length], ['counted', 'pending', 1]);
  await assert.rejects(B.decide(held.request.id, vote('approve', 'alice')), { code: ErrorCode.ApprovalDecided });
  assert.equal((await B.get(held.request.id)).status.votes.length, 1, 'the repeated approval was not counted');
  assert.equal(await settledWithin(held.outcome, 150), false, 'one approval of two does not release the call');
  const second = await cli.decide(held.request.id, vote('approve', 'bob'));
  assert.equal(second.outcome, 'decided');
  const status = await within(30_000, 'the outcome after two approvals', held.outcome);
  assert.deepEqual([status.state, status.decided_by, status.votes.map((v) => v.by)], ['approved', 'alice, bob', ['alice', 'bob']]);
});

test('min_approvals 2: one rejection rejects, whatever approvals came before', async () => {
  const held = await hold(A, { min_approvals: 2 });
  assert.equal((await B.decide(held.request.id, vote('approve', 'alice'))).outcome, 'counted');
  const rejected = await B.decide(held.request.id, vote('reject', 'bob', { reason: 'not today' }));
  assert.equal(rejected.outcome, 'decided');
  const status = await within(30_000, 'the rejected outcome', held.outcome);
  assert.deepEqual([status.state, status.decided_by, status.reason], ['rejected', 'bob', 'not today']);
});

test('approvers: someone not listed changes nothing; a member of a listed group may decide', async () => {
  const held = await hold(A, { approvers: ['alice', 'S0SECURITY'] });
  const id = held.request.id;
  await assert.rejects(B.decide(id, vote('approve', 'mallory')), { code: ErrorCode.NotApprover });
  await assert.rejects(B.decide(id, vote('reject', 'mallory', { memberOf: ['S0OTHERS'] })), { code: ErrorCode.NotApprover });
  const unchanged = await B.get(id);
  assert.deepEqual([unchanged.status.state, unchanged.status.votes, unchanged.status.decided_by], ['pending', [], undefined]);
  assert.equal(await settledWithin(held.outcome, 100), false);
  const result = await B.decide(id, vote('approve', 'carol', { memberOf: ['S0SECURITY'] }));
  assert.equal(result.outcome, 'decided');
  assert.deepEqual(
    [(await within(30_000, "the group member's approval", held.outcome)).state, result.record.status.decided_by],
    ['approved', 'carol'],
  );
});

test('one person, one vote: a Slack user and the admin `people` links to them count once towards min_approvals, whichever votes first', async () => {
  const people = new Deciders([{ name: 'Alice', slack: ['U0ALICE'], admins: ['alice'] }]);
  const holder = (await open(server, true, { deciders: people })).approvals;
  const decider = (await open(server, false, { deciders: people })).approvals;
  const held = await hold(holder, { min_approvals: 2, approvers: ['Alice', 'bob'], approvers_from: 'rule' });
  const id = held.request.id;
  assert.equal((await decider.decide(id, vote('approve', 'U0ALICE', { via: 'slack' }))).outcome, 'counted');
  await assert.rejects(decider.decide(id, vote('approve', 'alice')), {
    code: ErrorCode.ApprovalDecided,
    message: new RegExp(
      `^${id} was already approved by Alice \\(as Slack user U0ALICE\\); one person approves once, and 2 different people must approve$`,
    ),
  });
  const after = await decider.get(id);
  assert.deepEqual(
    after.status.votes.map((v) => [v.by, v.via, v.person]),
    [['U0ALICE', 'slack', 'Alice']],
    'the second identity was not counted',
  );
  assert.equal(await settledWithin(held.outcome, 100), false, 'one person is one approval of two');
  const second = await decider.decide(id, vote('approve', 'bob'));
  assert.equal(second.outcome, 'decided');
  const status = await within(30_000, 'the outcome after two people approved', held.outcome);
  assert.deepEqual(
    status.votes.map((v) => [v.by, v.via, v.person ?? null]),
    [
      ['U0ALICE', 'slack', 'Alice'],
      ['bob', 'console', null],
    ],
  );
});

test('with no approvers list a Slack user may not decide (only console admins); with one, every channel needs a listed identity', async () => {
  const none = await hold(A);
  await assert.rejects(B.decide(none.request.id, vote('approve', 'U0ALICE', { via: 'slack' })), {
    code: ErrorCode.NotApprover,
    message: /only console admins may decide it/,
  });
  assert.deepEqual((await B.get(none.request.id)).status.votes, [], 'the refused click changed nothing');
  assert.equal((await B.decide(none.request.id, vote('approve', 'dave'))).outcome, 'decided');
  const listed = await hold(A, { approvers: ['U0ALICE'], approvers_from: 'config' });
  assert.equal(listed.request.approvers_from, 'config');
  await assert.rejects(B.decide(listed.request.id, vote('approve', 'dave')), {
    code: ErrorCode.NotApprover,
    message: /^admin dave is not an approver/,
  });
  assert.equal((await B.decide(listed.request.id, vote('approve', 'U0ALICE', { via: 'slack' }))).outcome, 'decided');
});

test('a malformed id is bad arguments, an unknown one is not found, for get and decide alike', async () => {
  for (const id of ['nope', 'apr_short', `apr_${'x'.repeat(21)}:`, '']) {
    await assert.rejects(cli.get(id), { code: ErrorCode.BadArguments }, id);
    await assert.rejects(B.decide(id, vote('approve', 'alice')), { code: ErrorCode.BadArguments }, id);
  }
  const id = `apr_${randomBytes(16).toString('base64url')}`; // well-formed, never issued
  await assert.rejects(cli.get(id), { code: ErrorCode.ApprovalNotFound });
  await assert.rejects(B.decide(id, vote('approve', 'alice')), { code: ErrorCode.ApprovalNotFound });
});

test('an approval covers one call: consume works once (keys in any order), then throws; a rejected request cannot be consumed', async () => {
  const held = await approvedCall();
  const reordered = { mode: 420, content: ARGS.content, path: ARGS.path };
  const status = await A.consume(held.request, reordered);
  assert.equal(status.state, 'approved');
  assert.equal(typeof status.consumed_at, 'number');
  await assert.rejects(A.consume(held.request, ARGS), { code: ErrorCode.ApprovalDecided, message: /already covered a call/ });

  const rejected = await hold(A);
  await B.decide(rejected.request.id, vote('reject', 'bob'));
  await within(30_000, 'the rejected outcome', rejected.outcome);
  await assert.rejects(A.consume(rejected.request, ARGS), { code: ErrorCode.ApprovalDecided, message: /is rejected, not approved/ });
});

test("tampering after approval is caught by consume: the job's stored arguments, the state's digest, or other arguments sent", async () => {
  const jobData = await approvedCall();
  const jobKey = `${PREFIX}approvals:${jobData.request.id}`;
  const data = JSON.parse((await raw.hget(jobKey, 'data')) ?? 'null') as { arguments: Record<string, unknown> } | null;
  assert.ok(data, `the job hash ${jobKey} holds the request`);
  await raw.hset(jobKey, 'data', JSON.stringify({ ...data, arguments: { ...data.arguments, path: '/etc/passwd' } }));
  await assert.rejects(A.consume(jobData.request, ARGS), { code: ErrorCode.ApprovalTampered });

  const digest = await approvedCall();
  const stateKey = `${PREFIX}approval:${digest.request.id}`;
  assert.equal(await raw.hget(stateKey, 'digest'), DIGEST(ARGS));
  await raw.hset(stateKey, 'digest', DIGEST({ ...ARGS, path: '/etc/passwd' }));
  await assert.rejects(A.consume(digest.request, ARGS), { code: ErrorCode.ApprovalTampered });

  const other = await approvedCall();
  await assert.rejects(A.consume(other.request, { ...ARGS, content: 'something else' }), { code: ErrorCode.ApprovalTampered });
});

test('the holder dies: the request expires on the surviving instance, which tells its channel; an approval meanwhile finds it withdrawn', async () => {
  const prefix = '{airlock-orphans}:';
  const dead = await open(server, true, { prefix });
  const survivor = (await open(server, true, { prefix })).approvals;
  const expiring = await hold(dead.approvals, { timeout_ms: 500 });
  const approving = await hold(dead.approvals, { timeout_ms: 5_000 });
  const lease = `${prefix}instance:${(await survivor.get(expiring.request.id)).status.holder}`;
  assert.equal(await raw.exists(lease), 1, 'the holder is alive');
  await dead.approvals.close(); // its lease is deleted
  dead.redis.disconnect(); // and, being dead, it cannot end the requests itself
  assert.equal(await raw.exists(lease), 0);

  const late = await survivor.decide(approving.request.id, vote('approve', 'alice'));
  assert.deepEqual([late.outcome, late.record.status.state], ['too_late', 'withdrawn']);
  assert.match(late.record.status.reason ?? '', /holding the call stopped/);
  const orphaned = orphanedOn.get(survivor)!;
  assert.deepEqual(
    orphaned.filter((r) => r.request.id === approving.request.id).map((r) => r.status.state),
    ['withdrawn'],
    "the survivor's channel hears of it once",
  );

  const started = performance.now();
  await until("the survivor to expire the dead holder's request", () => orphaned.some((r) => r.request.id === expiring.request.id));
  console.log(
    `orphaned request expired by the surviving worker ${Math.round(performance.now() - started)} ms after the holder closed (timeout 500 ms)`,
  );
  const record = await survivor.get(expiring.request.id);
  assert.deepEqual([record.status.state, record.status.decided_by], ['expired', undefined]);
  assert.match(record.status.reason ?? '', /nobody decided within/);
});

test('the holder dies right after an approval (its lease not yet lapsed): a worker ends the unused approval as not sent, and its channel hears of it', async () => {
  const prefix = '{airlock-forsaken}:';
  const dead = await open(server, true, { prefix, redisGraceMs: 400 });
  const survivor = (await open(server, true, { prefix, redisGraceMs: 400 })).approvals;
  const held = await hold(dead.approvals);
  const lease = `${prefix}instance:${(await survivor.get(held.request.id)).status.holder}`;
  // Killed, not closed: nothing of it runs any more (its worker included), but its lease stays until it lapses.
  const ttl = await raw.pttl(lease);
  await dead.approvals.close();
  dead.redis.disconnect();
  await raw.set(lease, 'killed', 'PX', ttl);
  const decided = await survivor.decide(held.request.id, vote('approve', 'alice'));
  assert.deepEqual([decided.outcome, decided.record.status.state], ['decided', 'approved'], 'the lease had not lapsed yet');

  await until("the survivor's worker to end the unused approval", () =>
    orphanedOn.get(survivor)!.some((r) => r.request.id === held.request.id),
  );
  assert.equal(orphanedOn.get(survivor)!.filter((r) => r.request.id === held.request.id).length, 1, 'its channel hears of it once');
  const record = await survivor.get(held.request.id);
  assert.equal(record.status.state, 'approved');
  assert.equal(record.status.execution?.result, 'refused');
  assert.match(record.status.execution?.detail ?? '', /the gateway instance holding the call stopped before sending it/);
  await assert.rejects(
    survivor.consume(held.request, ARGS),
    /already covered a call/,
    'a holder that was only slow cannot send it afterwards',
  );
});

test("a timeout step that fails is retried, not dropped: the dead holder's request still expires once the step can run", async () => {
  const prefix = '{airlock-retried}:';
  const dead = await open(server, true, { prefix, redisGraceMs: 400 });
  const survivor = await open(server, true, { prefix, redisGraceMs: 400 });
  const held = await hold(dead.approvals, { timeout_ms: 300 });
  // A state the expiry script cannot read makes its step fail, as a Redis error would.
  const stateKey = `${prefix}approval:${held.request.id}`;
  const expiresAt = await raw.hget(stateKey, 'expires_at');
  await raw.hset(stateKey, 'expires_at', 'unreadable');
  await dead.approvals.close();
  dead.redis.disconnect();

  const failed = () =>
    [...dead.log, ...survivor.log].some(
      (l) => l.level === LEVEL.warn && l.approval_id === held.request.id && /timeout step failed; retrying/.test(l.msg),
    );
  await until('a worker to fail the step', failed);
  await raw.hset(stateKey, 'expires_at', expiresAt!);
  await until('the retried step to expire the request', () =>
    orphanedOn.get(survivor.approvals)!.some((r) => r.request.id === held.request.id),
  );
  assert.equal((await survivor.approvals.get(held.request.id)).status.state, 'expired');
});

test('an approval its live holder uses is left alone by the workers', async () => {
  const held = await approvedCall();
  await A.consume(held.request, ARGS);
  await sleep(2_500);
  const record = await B.get(held.request.id);
  assert.equal(record.status.execution, undefined, 'nothing recorded on its behalf');
  assert.equal(
    [...orphanedOn.values()].flat().some((r) => r.request.id === held.request.id),
    false,
  );
});

test('the agent going away withdraws the held call, with the reason withdrawReason gives', async () => {
  const held = await hold(A, {}, () => 'the agent cancelled the call: changed my mind');
  held.controller.abort();
  const status = await within(30_000, 'the withdrawn outcome', held.outcome);
  assert.deepEqual([status.state, status.reason], ['withdrawn', 'the agent cancelled the call: changed my mind']);
  assert.equal((await B.get(held.request.id)).status.state, 'withdrawn');
  const late = await B.decide(held.request.id, vote('approve', 'alice'));
  assert.deepEqual([late.outcome, late.record.status.state], ['too_late', 'withdrawn']);
});

test('Redis lost while holding: the call rejects AIRLOCK_REDIS_UNAVAILABLE after the grace; once Redis is back the request is withdrawn, whichever holder connection is back first', async () => {
  const durable = await startRedis({ appendonly: true });
  const { approvals, redis } = await open(durable, true, { redisGraceMs: 300 });
  const reader = await client(durable);
  try {
    const held = await hold(approvals);
    let lostMs = -1;
    await durable.restart(async () => {
      const started = performance.now();
      await assert.rejects(within(30_000, 'the outcome while Redis is down', held.outcome), { code: ErrorCode.RedisUnavailable });
      lostMs = performance.now() - started;
      // The holder's pub/sub and command connections reconnect independently; which is first is a coin toss.
      // Decide it: the command connection stays away until the subscriber is back.
      redis.disconnect();
    });
    await until(
      'the holder to subscribe again',
      async () => /\bsub=1\b/.test(String(await reader.call('CLIENT', 'LIST').catch(() => ''))),
      30_000,
      50,
    );
    await redis.connect();
    console.log(`Redis down: the held call ended AIRLOCK_REDIS_UNAVAILABLE after ${Math.round(lostMs)} ms (grace 300 ms)`);
    assert.ok(lostMs >= 250, `rejected after ${lostMs} ms, before the grace`);
    const state = async () => (await reader.hget(`${PREFIX}approval:${held.request.id}`, 'state').catch(() => null)) ?? 'unreadable';
    await until('the abandoned request to be withdrawn', async () => (await state()) === 'withdrawn', 30_000, 50).catch(
      async (err: Error) => {
        throw new Error(`${err.message}; it is ${await state()}`);
      },
    );
    assert.match((await approvals.get(held.request.id)).status.reason ?? '', /lost Redis/);
  } finally {
    await approvals.close();
    instances.splice(instances.indexOf(approvals), 1);
    await durable.stop();
  }
});

test('list filters by state, server, tool and grant, honours limit, and carries the arguments and their digest', async () => {
  const mk = (server: string, tool: string, grant: string, args: Record<string, unknown>) => hold(A, { server, tool, grant, args });
  const r1 = await mk('list-fs', 'write_file', 'list-alpha', { path: '/a' });
  const r2 = await mk('list-fs', 'read_file', 'list-beta', { path: '/b' });
  const r3 = await mk('list-db', 'write_file', 'list-alpha', { path: '/c' });
  const r4 = await mk('list-fs', 'write_file', 'list-alpha', { path: '/d' });
  await B.decide(r4.request.id, vote('reject', 'bob'));
  const ids = async (filter: Parameters<Approvals['list']>[0]) => (await cli.list(filter)).map((r) => r.request.id).sort();
  const sorted = (...held: Held[]) => held.map((h) => h.request.id).sort();

  assert.deepEqual(await ids({ server: 'list-fs' }), sorted(r1, r2, r4));
  assert.deepEqual(await ids({ state: 'pending', server: 'list-fs' }), sorted(r1, r2));
  assert.deepEqual(await ids({ state: 'rejected', server: 'list-fs' }), sorted(r4));
  assert.deepEqual(await ids({ state: 'pending', grant: 'list-alpha' }), sorted(r1, r3));
  assert.deepEqual(await ids({ tool: 'write_file', grant: 'list-alpha' }), sorted(r1, r3, r4));
  assert.deepEqual(await ids({ server: 'list-db', tool: 'read_file' }), []);
  const limited = await ids({ grant: 'list-alpha', limit: 2 });
  assert.equal(limited.length, 2);
  for (const id of limited) assert.ok(sorted(r1, r3, r4).includes(id));

  const [record] = await cli.list({ state: 'pending', server: 'list-fs', tool: 'read_file' });
  assert.equal(record?.request.id, r2.request.id);
  assert.deepEqual(record.request.arguments, { path: '/b' });
  assert.equal(record.request.digest, DIGEST({ path: '/b' }));
  assert.equal(record.status.digest, record.request.digest);
  assert.deepEqual([record.request.grant, record.request.rule, record.status.state], ['list-beta', 'tools.write_file', 'pending']);
});
