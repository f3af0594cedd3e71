import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import {
  Approvals,
  newApprovalId,
  type ApprovalRecord,
  type ApprovalRequest,
  type Held,
  type ListFilter,
  type NewApproval,
  type ReviewerVote,
} from '../../src/approvals/index.js';
import { argumentsDigest } from '../../src/arguments-digest.js';
import { ErrorCode } from '../../src/errors.js';
import { connectRedis } from '../../src/redis/index.js';
import { captureLogger } from '../support/log.js';
import { until, within } from '../support/poll.js';
import { writeFileApproval } from '../support/approval-input.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const ARGS = { path: '/srv/reports/q3.txt' };
const DIGEST = argumentsDigest(Buffer.alloc(32, 1));

let server: TestRedis;
/** A plain client, to read the index and to write what an earlier Airlock would have. */
let raw: Redis;
const clients: Redis[] = [];
const instances: Approvals[] = [];
const holds: { controller: AbortController; held: Held }[] = [];
let prefixes = 0;

/** Each test its own prefix, so its index holds only its own requests. */
const newPrefix = () => `{airlock-index-${++prefixes}}:`;
const indexKey = (prefix: string) => `${prefix}approvals-pending`;
const indexed = async (prefix: string) => (await raw.zrange(indexKey(prefix), '0', '-1')).sort();

async function open(prefix: string, holder: boolean, redisGraceMs?: number): Promise<Approvals> {
  const redis = await connectRedis({ url: server.url, logger: captureLogger().logger, commandTimeoutMs: 5_000 });
  clients.push(redis);
  const approvals = await Approvals.open({
    redis,
    prefix,
    redisTimeoutMs: 5_000,
    retentionMs: 3_600_000,
    logger: captureLogger().logger,
    holder,
    digest: DIGEST,
    ...(redisGraceMs !== undefined && { redisGraceMs }),
  });
  instances.push(approvals);
  return approvals;
}

async function hold(on: Approvals, input: Partial<NewApproval> = {}): Promise<Held & { controller: AbortController }> {
  const controller = new AbortController();
  const held = await on.hold(writeFileApproval(ARGS, input), controller.signal, () => 'withdrawn by the test');
  holds.push({ controller, held });
  return { ...held, controller };
}

const vote = (verdict: ReviewerVote['verdict'], by: string): ReviewerVote => ({ verdict, by, reason: '', via: 'console' });
const ids = (records: ApprovalRecord[]) => records.map((r) => r.request.id);
const pendingIds = async (on: Approvals, filter: Omit<ListFilter, 'state'> = {}) => ids(await on.list({ ...filter, state: 'pending' }));

/**
 * What a pending list showed before the index: every request, newest first, kept if pending, then `limit`.
 * Requests opened in one millisecond may come in either order, so the order is compared by created_at.
 */
async function assertListsAsScan(on: Approvals, filter: Omit<ListFilter, 'state' | 'limit'>, limit: number): Promise<void> {
  const scanned = (await on.list({ ...filter, limit: 1000 })).filter((r) => r.status.state === 'pending');
  const listed = await on.list({ ...filter, state: 'pending', limit });
  const what = JSON.stringify({ ...filter, limit });
  assert.deepEqual(
    listed.map((r) => r.request.created_at),
    scanned.slice(0, limit).map((r) => r.request.created_at),
    `${what}: newest first, at most limit`,
  );
  const cutoff = listed.at(-1)?.request.created_at ?? Infinity;
  for (const id of ids(listed)) assert.ok(ids(scanned).includes(id), `${what}: ${id} is pending and matches`);
  for (const r of scanned)
    if (r.request.created_at > cutoff) assert.ok(ids(listed).includes(r.request.id), `${what}: ${r.request.id} shown`);
  for (const r of listed) assert.equal(r.status.state, 'pending');
}

before(async () => {
  server = await startRedis();
  raw = await connectRedis({ url: server.url, logger: captureLogger().logger, commandTimeoutMs: 5_000 });
  clients.push(raw);
});
after(async () => {
  for (const { controller } of holds) controller.abort();
  await Promise.allSettled(holds.map(({ held }) => held.outcome));
  for (const approvals of instances) await approvals.close().catch(() => undefined);
  for (const c of clients) c.disconnect();
  await server.stop();
});

test('a request is indexed while pending and leaves the index however it ends: approved, rejected, expired, withdrawn; used or forsaken, it stays out', async () => {
  const prefix = newPrefix();
  const A = await open(prefix, true);
  const B = await open(prefix, true);
  const approved = await hold(A);
  const rejected = await hold(A);
  const expiring = await hold(A, { timeout_ms: 300 });
  const withdrawn = await hold(A);
  const counted = await hold(A, { min_approvals: 2 });
  const all = [approved, rejected, expiring, withdrawn, counted];
  assert.deepEqual(await indexed(prefix), ids(all.map((h) => ({ request: h.request }) as ApprovalRecord)).sort());
  assert.equal(Number(await raw.zscore(indexKey(prefix), approved.request.id)), approved.request.created_at, 'scored by created_at');

  await B.decide(approved.request.id, vote('approve', 'alice'));
  await B.decide(rejected.request.id, vote('reject', 'bob'));
  withdrawn.controller.abort();
  assert.equal((await B.decide(counted.request.id, vote('approve', 'alice'))).outcome, 'counted');
  await within(30_000, 'the withdrawal', withdrawn.outcome);
  assert.equal((await within(30_000, 'the expiry', expiring.outcome)).state, 'expired');
  await A.consume(approved.request, ARGS);

  assert.deepEqual(await indexed(prefix), [counted.request.id], 'one approval of two leaves it pending');
  assert.deepEqual(await pendingIds(B), [counted.request.id]);
  await B.decide(counted.request.id, vote('approve', 'carol'));
  assert.deepEqual(await indexed(prefix), []);
  assert.deepEqual(await pendingIds(B), []);
});

test('an approval whose holder died before using it is forsaken and stays out of the index; a decide that finds the holder gone takes it out', async () => {
  const prefix = newPrefix();
  const dead = await open(prefix, true, 400);
  const survivor = await open(prefix, true, 400);
  const forsaken = await hold(dead);
  const orphaned = await hold(dead);
  const lease = `${prefix}instance:${(await survivor.get(forsaken.request.id)).status.holder}`;
  const ttl = await raw.pttl(lease);
  await dead.close();
  await raw.set(lease, 'killed', 'PX', ttl);
  assert.equal((await survivor.decide(forsaken.request.id, vote('approve', 'alice'))).outcome, 'decided');
  await until('the lease to lapse', async () => (await raw.exists(lease)) === 0);
  const late = await survivor.decide(orphaned.request.id, vote('approve', 'alice'));
  assert.equal(late.record.status.state, 'withdrawn');
  await until(
    'the worker to forsake the unused approval',
    async () => (await survivor.get(forsaken.request.id)).status.execution !== undefined,
  );
  assert.deepEqual(await indexed(prefix), []);
  assert.deepEqual(await pendingIds(survivor), []);
});

test('pending lists show what the scan of every job showed: newest first, each filter, limit', async () => {
  const prefix = newPrefix();
  const A = await open(prefix, true);
  const made: Held[] = [];
  for (let i = 0; i < 12; i++)
    made.push(
      await hold(A, { server: i % 3 === 0 ? 'db' : 'fs', tool: i % 2 === 0 ? 'write_file' : 'read_file', grant: i < 6 ? 'alpha' : 'beta' }),
    );
  for (const h of [made[1], made[4], made[9]]) await A.decide(h!.request.id, vote('reject', 'bob'));
  const filters: Omit<ListFilter, 'state' | 'limit'>[] = [
    {},
    { server: 'fs' },
    { tool: 'read_file' },
    { grant: 'beta' },
    { server: 'db', tool: 'write_file', grant: 'alpha' },
    { server: 'nowhere' },
  ];
  for (const filter of filters) for (const limit of [1, 2, 5, 100]) await assertListsAsScan(A, filter, limit);
  assert.equal((await A.list({ state: 'pending' })).length, 9, 'the default limit (100) shows all nine');
});

test('a listing pages through the index by score and id: requests opened in one millisecond, more than a page of them, are each shown once', async () => {
  const prefix = newPrefix();
  const A = await open(prefix, false);
  // Written as create.lua and BullMQ would, with one created_at for all, which no single instance could do.
  const at = Date.now();
  // Redis orders equal scores by member, descending in a reverse range; ids are ASCII, so JavaScript sorts them alike.
  const idsNewestFirst = Array.from({ length: 250 }, () => newApprovalId()).sort((a, b) => (a < b ? 1 : -1));
  const requests: ApprovalRequest[] = idsNewestFirst.map((id, k) => ({
    id,
    request_id: null,
    grant: 'alpha',
    session: null,
    client: null,
    // Every other one matches `fs`, the last entry of each page among them, so a cursor that repeated or skipped one shows.
    server: k % 2 === 1 ? 'fs' : k % 50 === 0 ? 'rare' : 'other',
    tool: 'write_file',
    risk: null,
    arguments: {},
    digest: DIGEST({}),
    rule: 'tools.write_file',
    reason: 'test',
    approvers: [],
    approvers_from: null,
    min_approvals: 1,
    channel: null,
    timeout_ms: 600_000,
    task_id: null,
    created_at: at,
    expires_at: at + 600_000,
  }));
  const write = raw.pipeline();
  for (const r of requests) {
    write.hset(`${prefix}approval:${r.id}`, {
      state: 'pending',
      holder: 'gone',
      min: 1,
      digest: r.digest,
      created_at: at,
      expires_at: r.expires_at,
      votes: '[]',
    });
    write.hset(`${prefix}approvals:${r.id}`, { data: JSON.stringify(r) });
    write.zadd(indexKey(prefix), at, r.id);
  }
  await write.exec();
  assert.deepEqual(await pendingIds(A, { limit: 1000 }), idsNewestFirst);
  assert.deepEqual(await pendingIds(A, { limit: 120 }), idsNewestFirst.slice(0, 120));
  const fs = requests.filter((r) => r.server === 'fs').map((r) => r.id);
  assert.deepEqual(await pendingIds(A, { server: 'fs', limit: 110 }), fs.slice(0, 110), 'each page goes on after the last one, once');
  assert.deepEqual(
    await pendingIds(A, { server: 'rare' }),
    requests.filter((r) => r.server === 'rare').map((r) => r.id),
    'a filter reads every page',
  );
});

test('the record decides, not the index: entries whose record is gone or not pending are skipped and removed; one not yet queued is skipped and kept', async () => {
  const prefix = newPrefix();
  const A = await open(prefix, true);
  const live = await hold(A);
  const decidedElsewhere = await hold(A);
  const evicted = await hold(A);
  const unqueued = await hold(A);
  await A.decide(decidedElsewhere.request.id, vote('reject', 'bob'));
  // An earlier Airlock decided it (its script left the entry), eviction took a record, a job is not queued yet.
  await raw.zadd(indexKey(prefix), decidedElsewhere.request.created_at, decidedElsewhere.request.id);
  await raw.del(`${prefix}approval:${evicted.request.id}`);
  await raw.del(`${prefix}approvals:${unqueued.request.id}`);
  // Forged entries: a well-formed id nothing knows, and members that are no id at all.
  const unknown = newApprovalId();
  await raw.zadd(indexKey(prefix), Date.now() + 60_000, unknown, Date.now() + 60_000, '../../etc', 0, '');

  assert.deepEqual(await pendingIds(A), [live.request.id]);
  assert.deepEqual(await indexed(prefix), [live.request.id, unqueued.request.id].sort());
  assert.deepEqual(await pendingIds(A, { limit: 1 }), [live.request.id], 'skipped entries do not use up the limit');
});

test('concurrent decisions on two instances while listing: a decided request is never listed once its decision returned, and no pending one is ever missing', async () => {
  const prefix = newPrefix();
  const A = await open(prefix, true);
  const B = await open(prefix, true);
  const made: Held[] = [];
  for (let i = 0; i < 40; i++) made.push(await hold(A));
  const decided = made.filter((_, i) => i % 2 === 0).map((h) => h.request.id);
  const untouched = made.filter((_, i) => i % 2 === 1).map((h) => h.request.id);
  const returned = new Set<string>();
  let deciding = true;
  const decisions = Promise.all(
    decided.flatMap((id) =>
      [A, B].map(async (on, i) => {
        await on.decide(id, vote(i === 0 ? 'approve' : 'reject', i === 0 ? 'alice' : 'bob'));
        returned.add(id);
      }),
    ),
  ).finally(() => (deciding = false));
  let looks = 0;
  while (deciding || looks < 3) {
    const before = new Set(returned);
    const listed = await pendingIds(A);
    looks++;
    for (const id of untouched) assert.ok(listed.includes(id), `pending ${id} is listed`);
    for (const id of before) assert.ok(!listed.includes(id), `${id} was decided before the listing began`);
  }
  await decisions;
  assert.deepEqual((await pendingIds(B)).sort(), [...untouched].sort());
  assert.deepEqual(await indexed(prefix), [...untouched].sort());
});

test('upgrade: requests an earlier Airlock opened are indexed by a CLI until a gateway has indexed them and marked the index kept', async () => {
  const prefix = newPrefix();
  const A = await open(prefix, true);
  const earlier = [await hold(A), await hold(A)];
  const earlierDecided = await hold(A);
  await A.decide(earlierDecided.request.id, vote('reject', 'bob'));
  const forget = async () => {
    // As an earlier Airlock left them: no index (its decided job may still be delayed), no mark.
    await raw.del(indexKey(prefix), `${prefix}approvals-pending:kept`);
  };
  const want = ids(earlier.map((h) => ({ request: h.request }) as ApprovalRecord)).sort();
  await forget();

  const cli = await open(prefix, false);
  assert.deepEqual((await pendingIds(cli)).sort(), want, 'a CLI opened with no gateway of this version indexes them itself');
  assert.equal(
    await raw.exists(`${prefix}approvals-pending:kept`),
    0,
    'and does not mark the index kept: an earlier gateway may open more',
  );

  await raw.set(`${prefix}approvals-pending:kept`, '1');
  await raw.del(indexKey(prefix));
  const trusting = await open(prefix, false);
  assert.deepEqual(await pendingIds(trusting), [], 'once marked, a CLI reads the index alone (a later gateway start completes it)');

  await forget();
  await open(prefix, true);
  assert.deepEqual(await indexed(prefix), want, 'a gateway starting indexes every pending request, and not the decided one');
  assert.equal(await raw.exists(`${prefix}approvals-pending:kept`), 1);
  assert.deepEqual((await pendingIds(trusting)).sort(), want);
});

test('a limit that is not a whole number of at least 1 is refused as bad arguments', async () => {
  const A = await open(newPrefix(), false);
  for (const limit of [0, -1, 1.5, Number.NaN, Infinity])
    for (const state of ['pending', undefined] as const)
      await assert.rejects(A.list({ limit, ...(state && { state }) }), { code: ErrorCode.BadArguments }, `limit ${limit}, state ${state}`);
});
