import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import type { Redis } from 'ioredis';
import { argumentsDigest } from '../../src/arguments-digest.js';
import { AuditMirror, AuditReader, AuditTrail, parseAuditQuery, verifyAuditFile, type AuditInput } from '../../src/audit/index.js';
import { contentHash, linkHash } from '../../src/audit/chain.js';
import { Redactor } from '../../src/redact.js';
import { connectRedis, readLuaScript } from '../../src/redis/index.js';
import { captureLogger } from '../support/log.js';
import { until, within } from '../support/poll.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const PREFIX = '{airlock}:';
const STREAM = `${PREFIX}audit`;
const DIGEST = argumentsDigest(Buffer.alloc(32, 7));
/** What verify says of checkpoints without an anchor key, in a trail that has none. */
const UNCHECKED = { count: 0, checked: false };
let server: TestRedis;
let redis: Redis;
let other: Redis;
let dir: string;

const trailOn = (client: Redis, options: Partial<ConstructorParameters<typeof AuditTrail>[0]> = {}) =>
  new AuditTrail({
    redis: client,
    prefix: PREFIX,
    redisTimeoutMs: 2_000,
    retentionMs: 86_400_000,
    maxArgumentsBytes: 8 * 1024,
    redactor: new Redactor(['password', 'token', 'key']),
    instance: 'test',
    digest: DIGEST,
    logger: captureLogger().logger,
    ...options,
  });
const reader = () => new AuditReader(redis, PREFIX, 2_000);
const call = (n: number, extra: Partial<AuditInput> = {}): AuditInput => ({
  event: 'allowed',
  request_id: `r${n}`,
  server: 'fs',
  tool: 'read_file',
  grant: 'ci',
  args: { path: `/tmp/${n}` },
  ...extra,
});
type Entry = { id: string; json: string };
const rawEntries = async (): Promise<Entry[]> =>
  (await redis.xrange(STREAM, '-', '+')).map(([id, fields]) => ({ id, json: fields[1] ?? '' }));
/** Streams only grow at the end, so tampering in the middle means writing the stream again: what someone with Redis access would do. */
async function rewrite(change: (entries: Entry[]) => Entry[]): Promise<void> {
  const entries = change(await rawEntries());
  await redis.del(STREAM);
  for (const entry of entries) await redis.xadd(STREAM, entry.id, 'e', entry.json);
}

before(async () => {
  server = await startRedis();
  redis = await connectRedis({ url: server.url, logger: captureLogger().logger, commandTimeoutMs: 5_000 });
  other = await connectRedis({ url: server.url, logger: captureLogger().logger, commandTimeoutMs: 5_000 });
  dir = mkdtempSync(join(tmpdir(), 'airlock-audit-'));
});
beforeEach(() => redis.flushall());
after(async () => {
  redis.disconnect();
  other.disconnect();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('events are stored in the order recorded, numbered from 1 and chained, and the chain verifies', async () => {
  const trail = trailOn(redis);
  for (let i = 1; i <= 5; i++) trail.record(call(i));
  await trail.commit(call(6, { event: 'approved', approvers: [{ id: 'alice', via: 'console', verdict: 'approve', at: 1 }] }));
  const { events } = await reader().query(parseAuditQuery({}));
  assert.deepEqual(
    events.map((e) => [e.seq, e.request_id]),
    [1, 2, 3, 4, 5, 6].map((n) => [n, `r${n}`]),
  );
  assert.equal(events[0]?.prev, '0'.repeat(64));
  for (let i = 1; i < events.length; i++) assert.equal(events[i]?.prev, events[i - 1]?.hash);
  assert.deepEqual(await reader().verify(), { checked: 6, first: 1, last: 6, checkpoints: UNCHECKED });
});

test('a password in the arguments is redacted before it is stored; the digest is of what was sent', async () => {
  const trail = trailOn(redis);
  await trail.commit(
    call(1, { args: { user: 'bob', password: 'hunter2-secret', nested: { apiKey: 'k-123456' }, header: 'Bearer abc.def' } }),
  );
  const stored = JSON.stringify(await redis.xrange(STREAM, '-', '+'));
  for (const secret of ['hunter2-secret', 'k-123456', 'abc.def']) assert.ok(!stored.includes(secret), `${secret} must not be stored`);
  const [event] = (await reader().query(parseAuditQuery({}))).events;
  assert.deepEqual(event?.arguments, {
    user: 'bob',
    password: '[redacted]',
    nested: { apiKey: '[redacted]' },
    header: 'Bearer [redacted]',
  });
  assert.match(event?.digest ?? '', /^[0-9a-f]{64}$/);
});

test('arguments larger than the cap are stored cut, flagged, and the event still verifies', async () => {
  const trail = trailOn(redis, { maxArgumentsBytes: 100 });
  await trail.commit(call(1, { args: { content: 'é'.repeat(500) } }));
  const [event] = (await reader().query(parseAuditQuery({}))).events;
  assert.equal(event?.arguments_truncated, true);
  assert.equal(typeof event?.arguments, 'string');
  assert.ok(Buffer.byteLength(event?.arguments as string) <= 100);
  assert.equal((await reader().verify()).problem, undefined);
});

test('two instances appending at once leave one unbroken chain with every event', async () => {
  const a = trailOn(redis, { instance: 'a' });
  const b = trailOn(other, { instance: 'b' });
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 300; i++) {
    writes.push((i % 2 === 0 ? a : b).commit(call(i)));
    if (i % 7 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(writes);
  const report = await reader().verify();
  assert.deepEqual(report, { checked: 300, first: 1, last: 300, checkpoints: UNCHECKED });
  const entries = await rawEntries();
  const instances = new Set(entries.map((e) => (JSON.parse(e.json) as { instance: string }).instance));
  assert.deepEqual([...instances].sort(), ['a', 'b']);
});

for (const tamper of [
  {
    name: 'one byte of one event edited',
    change: (entries: Entry[]) => entries.map((e, i) => (i === 2 ? { ...e, json: e.json.replace('"/tmp/3"', '"/tmp/4"') } : e)),
    at: 3,
    message: /event seq 3 .* was changed/,
  },
  {
    name: 'an event deleted',
    change: (entries: Entry[]) => entries.filter((_, i) => i !== 2),
    at: 4,
    message: /event seq 4 .* follows seq 2: event seq 3 was removed or moved/,
  },
  {
    name: 'two events swapped',
    change: (entries: Entry[]) =>
      entries.map((e, i) => (i === 2 ? { ...e, json: entries[3]!.json } : i === 3 ? { ...e, json: entries[2]!.json } : e)),
    at: 4,
    message: /event seq 4 .* follows seq 2: event seq 3 was removed or moved/,
  },
  {
    name: 'an event rewritten with a freshly computed hash (forged)',
    change: (entries: Entry[]) =>
      entries.map((e, i) => {
        if (i !== 2) return e;
        const event = JSON.parse(e.json) as Record<string, unknown>;
        event.tool = 'delete_everything';
        event.hash = linkHash(event.seq as number, event.prev as string, contentHash(event));
        return { ...e, json: JSON.stringify(event) };
      }),
    at: 4,
    message: /event seq 4 .* does not follow the event before it/,
  },
]) {
  test(`verify names the event when ${tamper.name}`, async () => {
    const trail = trailOn(redis);
    for (let i = 1; i <= 6; i++) trail.record(call(i));
    await trail.flush();
    assert.equal((await reader().verify()).problem, undefined);
    await rewrite(tamper.change);
    const report = await reader().verify();
    assert.equal(report.problem?.seq, tamper.at, JSON.stringify(report));
    assert.match(report.problem?.message ?? '', tamper.message);
  });
}

test('retention trims old events and verification starts where it left off; removing the oldest by hand still shows', async () => {
  let now = Date.now();
  const trail = trailOn(redis, { retentionMs: 86_400_000, now: () => now });
  for (let i = 1; i <= 4; i++) await trail.commit(call(i));
  // Stream ids come from Redis's clock, so "old" events are made by moving the trail's clock a day on.
  await new Promise((resolve) => setTimeout(resolve, 20));
  now = Date.now() + 86_400_000;
  await new Promise((resolve) => setTimeout(resolve, 20));
  await trail.commit(call(5));
  const report = await reader().verify();
  assert.deepEqual(report, { checked: 1, first: 5, last: 5, trimmedThrough: 4, checkpoints: UNCHECKED });
  await trail.commit(call(6));
  await rewrite((entries) => entries.slice(1));
  assert.match((await reader().verify()).problem?.message ?? '', /event seq 6 .* follows seq 4: event seq 5 was removed or moved/);
});

test('max_events keeps the newest events', async () => {
  const trail = trailOn(redis, { maxEvents: 3 });
  for (let i = 1; i <= 7; i++) trail.record(call(i));
  await trail.flush();
  assert.equal(await redis.xlen(STREAM), 3);
  assert.deepEqual(await reader().verify(), { checked: 3, first: 5, last: 7, trimmedThrough: 4, checkpoints: UNCHECKED });
});

test('while Redis cannot take events, commit refuses at its deadline, and queued events are written in order once it can', async () => {
  const isolated = await startRedis();
  const client = await connectRedis({ url: isolated.url, logger: captureLogger().logger, commandTimeoutMs: 5_000 });
  try {
    const trail = trailOn(client, { redisTimeoutMs: 300 });
    trail.record(call(1));
    await trail.flush();
    isolated.pause();
    trail.record(call(2));
    // Refused while Redis is still paused: commit does not wait for it to come back.
    await assert.rejects(
      within(30_000, 'the commit while Redis is paused', trail.commit(call(3, { event: 'approved' }))),
      /AIRLOCK_REDIS_UNAVAILABLE|did not answer/,
    );
    isolated.resume();
    await until('the queued events', async () => (await client.xlen(STREAM)) === 3);
    const events = (await new AuditReader(client, PREFIX, 2_000).query(parseAuditQuery({}))).events;
    assert.deepEqual(
      events.map((e) => e.request_id),
      ['r1', 'r2', 'r3'],
    );
    assert.equal((await new AuditReader(client, PREFIX, 2_000).verify()).problem, undefined);
  } finally {
    isolated.resume();
    client.disconnect();
    await isolated.stop();
  }
});

test('queries filter by server, tool, grant, approver and decision, and page with a cursor', async () => {
  const trail = trailOn(redis);
  trail.record(call(1));
  trail.record(call(2, { event: 'denied', tool: 'write_file', decision: 'deny' }));
  trail.record(call(3, { event: 'approved', approvers: [{ id: 'U1', name: 'alice', via: 'slack', verdict: 'approve' }] }));
  trail.record(call(4, { event: 'rejected', grant: 'dev', approvers: [{ id: 'bob', via: 'console', verdict: 'reject' }] }));
  trail.record({ event: 'tools_accepted', admin: 'bob', server: 'fs' });
  await trail.flush();
  const ids = async (q: Record<string, unknown>) => (await reader().query(parseAuditQuery(q))).events.map((e) => e.request_id ?? e.event);
  assert.deepEqual(await ids({ tool: 'write_file' }), ['r2']);
  assert.deepEqual(await ids({ grant: 'dev' }), ['r4']);
  assert.deepEqual(await ids({ approver: 'alice' }), ['r3']);
  assert.deepEqual(await ids({ approver: 'U1' }), ['r3']);
  assert.deepEqual(await ids({ approver: 'bob' }), ['r4', 'tools_accepted']);
  assert.deepEqual(await ids({ decision: 'deny' }), ['r2']);
  assert.deepEqual(await ids({ decision: 'approved' }), ['r3']);
  const first = await reader().query(parseAuditQuery({ limit: '2' }));
  assert.deepEqual(
    first.events.map((e) => e.seq),
    [1, 2],
  );
  const second = await reader().query(parseAuditQuery({ limit: '2', cursor: first.next }));
  assert.deepEqual(
    second.events.map((e) => e.seq),
    [3, 4],
  );
  const last = await reader().query(parseAuditQuery({ limit: '2', cursor: second.next }));
  assert.deepEqual(
    last.events.map((e) => e.seq),
    [5],
  );
  assert.equal(last.next, undefined);
  const future = new Date(Date.now() + 3_600_000).toISOString();
  assert.deepEqual(await ids({ since: future }), []);
  assert.equal((await ids({ since: '1h' })).length, 5);
});

test('the JSON-lines mirror holds the stream line for line, resumes after a restart without repeats, and verifies', async () => {
  const file = join(dir, 'mirror.jsonl');
  const trail = trailOn(redis);
  const mirror = await AuditMirror.start({ file, redis, prefix: PREFIX, logger: captureLogger().logger });
  for (let i = 1; i <= 4; i++) trail.record(call(i));
  await trail.flush();
  await until('4 mirrored lines', () => readFileSync(file, 'utf8').split('\n').filter(Boolean).length === 4);
  await mirror.stop();
  for (let i = 5; i <= 6; i++) trail.record(call(i));
  await trail.flush();
  const again = await AuditMirror.start({ file, redis, prefix: PREFIX, logger: captureLogger().logger });
  await until('6 mirrored lines', () => readFileSync(file, 'utf8').split('\n').filter(Boolean).length === 6);
  await again.stop();
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  const entries = await rawEntries();
  assert.equal(lines.length, entries.length);
  lines.forEach((line, i) => {
    const parsed = JSON.parse(line) as Record<string, unknown>;
    const { id, ...rest } = parsed;
    assert.equal(id, entries[i]?.id);
    assert.deepEqual(rest, JSON.parse(entries[i]?.json ?? ''));
  });
  assert.deepEqual(await verifyAuditFile(file), { checked: 6, first: 1, last: 6, checkpoints: UNCHECKED });
  writeFileSync(file, lines.map((l, i) => (i === 4 ? l.replace('"r5"', '"r9"') : l)).join('\n') + '\n');
  assert.match((await verifyAuditFile(file)).problem?.message ?? '', /line 5: event seq 5 .* was changed|event seq 5 .* was changed/);
});

test('a mirror file that cannot be written is refused at start, naming it', async () => {
  await assert.rejects(
    AuditMirror.start({ file: join(dir, 'no-such-folder', 'audit.jsonl'), redis, prefix: PREFIX, logger: captureLogger().logger }),
    (err: Error) => {
      assert.match(err.message, /audit\.file: .*no-such-folder\/audit\.jsonl cannot be written \(ENOENT\)/);
      return true;
    },
  );
});

test('the Lua SHA-256 the append script links with matches Node at every padding boundary', async () => {
  const lua = `${readLuaScript(new URL('../../src/audit/sha256.lua', import.meta.url))}\nreturn sha256(ARGV[1])`;
  const { createHash } = await import('node:crypto');
  for (const length of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 140, 200]) {
    const message = Array.from({ length }, (_, i) => String.fromCharCode(33 + ((i * 7) % 90))).join('');
    assert.equal(await redis.eval(lua, 0, message), createHash('sha256').update(message).digest('hex'), `length ${length}`);
  }
});

test('a reason or detail that quotes a secret argument is stored with the secret hidden', async () => {
  const trail = trailOn(redis);
  await trail.commit(
    call(1, {
      event: 'denied',
      args: { password: 'hunter2-secret' },
      reason: 'args.password is "hunter2-secret": weak',
      detail: 'echoed hunter2-secret',
    }),
  );
  await trail.commit({ event: 'executed', detail: 'upstream: Authorization: Bearer abcdef123456' });
  const stored = JSON.stringify(await redis.xrange(STREAM, '-', '+'));
  assert.ok(!stored.includes('hunter2-secret'));
  assert.ok(!stored.includes('abcdef123456'));
  const events = (await reader().query(parseAuditQuery({}))).events;
  assert.equal(events[0]?.reason, 'args.password is "[redacted]": weak');
});

test('an event whose arguments cannot be walked (nested 10,000 deep) is stored without them, saying why, and the events after it are not held up', async () => {
  let deep: unknown = 0;
  for (let i = 0; i < 10_000; i++) deep = [deep];
  const { logger, lines } = captureLogger();
  const trail = trailOn(redis, { logger });
  trail.record(call(1));
  trail.record(call(2, { event: 'denied', args: { text: deep }, detail: 'refused' }));
  await trail.commit(call(3, { event: 'approved' }));
  const events = (await rawEntries()).map((e) => JSON.parse(e.json) as Record<string, unknown>);
  assert.deepEqual(
    events.map((e) => e.request_id),
    ['r1', 'r2', 'r3'],
  );
  assert.equal(events[1]?.arguments, undefined);
  assert.equal(events[1]?.digest, undefined);
  assert.match(String(events[1]?.detail), /^refused; the arguments could not be recorded: Maximum call stack size exceeded/);
  assert.ok(lines.some((l) => l.msg === 'audit event stored without its arguments' && l.request_id === 'r2'));
  assert.deepEqual(await reader().verify(), { checked: 3, first: 1, last: 3, checkpoints: UNCHECKED });
});
