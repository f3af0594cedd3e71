import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import type { Redis } from 'ioredis';
import { argumentsDigest } from '../../src/arguments-digest.js';
import {
  AuditMirror,
  AuditReader,
  AuditTrail,
  verifyAuditFile,
  type AuditInput,
  type CheckpointRules,
  type VerifyOptions,
} from '../../src/audit/index.js';
import { contentHash, linkHash } from '../../src/audit/chain.js';
import { Redactor } from '../../src/redact.js';
import { connectRedis, readLuaScript } from '../../src/redis/index.js';
import { captureLogger, LEVEL } from '../support/log.js';
import { until } from '../support/poll.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const PREFIX = '{airlock}:';
const STREAM = `${PREFIX}audit`;
const HEAD = `${PREFIX}audit:head`;
const KEY_TEXT = 'test-anchor-key-0123456789abcdefghijklmnopqrstuvwxyz';
const KEY = Buffer.from(KEY_TEXT);
/** Checkpoints by count only in most tests: by Redis's clock the interval never passes while they run. */
const EVERY = { everyEvents: 5, everyMs: 3_600_000 };
const RULES: CheckpointRules = { key: KEY, ...EVERY };
const MINUTE = 60_000;

let server: TestRedis;
let redis: Redis;
let other: Redis;
let dir: string;
/** Every trail a test opens, closed after it: a trail left open would poll, and sign, into the next test's Redis. */
const open: AuditTrail[] = [];

const trailOn = (client: Redis, options: Partial<ConstructorParameters<typeof AuditTrail>[0]> = {}) => {
  const trail = new AuditTrail({
    redis: client,
    prefix: PREFIX,
    redisTimeoutMs: 2_000,
    retentionMs: 86_400_000,
    maxArgumentsBytes: 8 * 1024,
    redactor: new Redactor(['password']),
    instance: 'a',
    digest: argumentsDigest(Buffer.alloc(32, 7)),
    logger: captureLogger().logger,
    checkpoints: { key: KEY, ...EVERY },
    ...options,
  });
  open.push(trail);
  return trail;
};
const call = (n: number): AuditInput => ({
  event: 'allowed',
  request_id: `r${n}`,
  server: 'fs',
  tool: 'read_file',
  args: { path: `/tmp/${n}` },
});
const verify = (options: VerifyOptions = { checkpoints: RULES }) => new AuditReader(redis, PREFIX, 2_000).verify(options);
/** Events `from`…`to`, each its own append (checkpoints are decided per append: one batch of many events gets one). */
async function writeEach(trail: AuditTrail, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) await trail.commit(call(i));
}

interface Entry {
  id: string;
  event: Record<string, unknown> & {
    seq: number;
    event: string;
    hash: string;
    prev: string;
    checkpoint?: { seq: number; previous: number; reached?: number; mac: string };
  };
}
const entries = async (): Promise<Entry[]> =>
  (await redis.xrange(STREAM, '-', '+')).map(([id, fields]) => ({ id, event: JSON.parse(fields[1] ?? '') as Entry['event'] }));
const checkpointsIn = (all: Entry[]) => all.filter((e) => e.event.event === 'audit_checkpoint');
/** The stream written again from `events` (as someone with Redis access would), each event's chain fields recomputed from the first on, so the hash chain holds. */
async function rewriteChained(events: Entry['event'][]): Promise<void> {
  let prev = '0'.repeat(64);
  await redis.del(STREAM);
  for (const [i, original] of events.entries()) {
    const event = { ...original, seq: i + 1, prev };
    event.hash = linkHash(event.seq, prev, contentHash(event));
    prev = event.hash;
    await redis.xadd(STREAM, '*', 'e', JSON.stringify(event));
  }
  await redis.set(HEAD, `${events.length} ${prev}`);
}
/** JSON lines with each event's chain fields recomputed from the first on, as someone editing a file would, so its hash chain holds. */
function rechained(lines: string[]): string[] {
  let prev: string | undefined;
  return lines.map((line) => {
    const event = JSON.parse(line) as Entry['event'];
    event.prev = prev ?? event.prev;
    event.hash = linkHash(event.seq, event.prev, contentHash(event));
    prev = event.hash;
    return JSON.stringify(event);
  });
}
/** Events after seq `keep` deleted and the head set back to it, at once (a running writer sees either the whole cut or none of it). */
async function cutAfter(keep: number): Promise<void> {
  const all = await entries();
  const last = all.filter((e) => e.event.seq <= keep).at(-1)?.event;
  const multi = redis.multi();
  for (const e of all.filter((x) => x.event.seq > keep)) multi.xdel(STREAM, e.id);
  multi.set(HEAD, `${last?.seq ?? 0} ${last?.hash ?? '0'.repeat(64)}`);
  await multi.exec();
}

before(async () => {
  server = await startRedis();
  redis = await connectRedis({ url: server.url, logger: captureLogger().logger, commandTimeoutMs: 5_000 });
  other = await connectRedis({ url: server.url, logger: captureLogger().logger, commandTimeoutMs: 5_000 });
  dir = mkdtempSync(join(tmpdir(), 'airlock-checkpoints-'));
});
beforeEach(async () => {
  await Promise.all(open.splice(0).map((trail) => trail.close()));
  await redis.flushall();
});
after(async () => {
  await Promise.all(open.splice(0).map((trail) => trail.close()));
  redis.disconnect();
  other.disconnect();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a trail with an anchor key signs a checkpoint every N events, right behind the event it covers, and verify checks each', async () => {
  const trail = trailOn(redis);
  await writeEach(trail, 1, 23);
  await trail.flush();
  const all = await entries();
  const checkpoints = checkpointsIn(all);
  assert.ok(checkpoints.length >= 3, `${checkpoints.length} checkpoints in ${all.length} events`);
  for (const c of checkpoints) {
    assert.equal(c.event.checkpoint?.seq, c.event.seq - 1, 'one writer: each covers the event just before it');
    assert.match(c.event.checkpoint?.mac ?? '', /^[0-9a-f]{64}$/);
    assert.equal(c.event.instance, 'a');
  }
  // Each names the one before it; the first names none.
  assert.deepEqual(
    checkpoints.map((c) => c.event.checkpoint?.previous),
    [0, ...checkpoints.slice(0, -1).map((c) => c.event.seq)],
  );
  // Five events after each, the next.
  for (let i = 1; i < checkpoints.length; i++) assert.equal(checkpoints[i]!.event.seq - checkpoints[i - 1]!.event.seq, 6);
  const report = await verify();
  const newest = checkpoints.at(-1)!.event;
  assert.equal(report.problem, undefined, JSON.stringify(report));
  assert.deepEqual(report.checkpoints, {
    count: checkpoints.length,
    checked: true,
    newest: { seq: newest.seq, covers: newest.checkpoint!.seq, time: newest.time },
    unproven: { first: newest.checkpoint!.seq + 1, last: all.length },
  });
});

test('without the key verify still checks the chain, and says the checkpoints were not checked', async () => {
  const trail = trailOn(redis);
  await writeEach(trail, 1, 12);
  await trail.flush();
  const report = await verify({});
  assert.equal(report.problem, undefined);
  assert.equal(report.checkpoints.checked, false);
  assert.equal(report.checkpoints.count, checkpointsIn(await entries()).length);
  assert.ok(report.checkpoints.count > 0);
  assert.equal(report.checkpoints.unproven, undefined, 'nothing is claimed proven without the key');
});

test('the anchor key is never sent to Redis: no command, key or value holds it', async () => {
  const monitor = await redis.monitor();
  const commands: string[] = [];
  monitor.on('monitor', (_time: string, args: string[]) => commands.push(args.join(' ')));
  try {
    const trail = trailOn(redis);
    await writeEach(trail, 1, 12);
    await trail.close();
    await until('the monitor to see the appends', () => commands.some((c) => c.includes('audit_checkpoint')));
  } finally {
    monitor.disconnect();
  }
  assert.ok(commands.length > 0);
  for (const command of commands)
    assert.ok(!command.includes(KEY_TEXT) && !command.includes(KEY.toString('hex')), `a command holds the key: ${command.slice(0, 200)}`);
  for (const key of await redis.keys('*')) {
    const type = await redis.type(key);
    const value = type === 'stream' ? JSON.stringify(await redis.xrange(key, '-', '+')) : type === 'string' ? await redis.get(key) : '';
    assert.ok(!String(value).includes(KEY_TEXT), `${key} holds the key`);
  }
});

for (const tamper of [
  {
    name: 'a checkpoint whose signature was edited (forged)',
    change: (events: Entry['event'][], at: number) =>
      events.map((e, i) =>
        i === at ? { ...e, checkpoint: { ...e.checkpoint!, mac: e.checkpoint!.mac.replace(/^./, (c) => (c === '0' ? '1' : '0')) } } : e,
      ),
    message: /is a checkpoint whose signature does not match: it was forged or changed/,
  },
  {
    name: 'a checkpoint moved to cover a later event (signature kept)',
    change: (events: Entry['event'][], at: number) =>
      events.map((e, i) => (i === at ? { ...e, checkpoint: { ...e.checkpoint!, seq: e.checkpoint!.seq + 1 } } : e)),
    message: /is a checkpoint whose signature does not match/,
  },
  {
    name: 'an event before a checkpoint changed, and the chain recomputed after it',
    change: (events: Entry['event'][], at: number) => events.map((e, i) => (i === at - 2 ? { ...e, tool: 'delete_everything' } : e)),
    message:
      /is a checkpoint of event seq \d+, but that event's hash is not the one signed: event seq \d+ or one before it was changed, removed or replaced/,
  },
  {
    name: 'a checkpoint removed from the middle, and the chain recomputed after it',
    change: (events: Entry['event'][], at: number) => events.filter((_, i) => i !== at),
    message: /is a checkpoint naming event seq \d+ as the checkpoint before it, but that is not a checkpoint: a checkpoint was removed/,
  },
]) {
  test(`verify fails on ${tamper.name}, naming the checkpoint`, async () => {
    const trail = trailOn(redis);
    await writeEach(trail, 1, 30);
    await trail.close();
    const events = (await entries()).map((e) => e.event);
    const at = events.findIndex((e, i) => e.event === 'audit_checkpoint' && i > 8);
    assert.ok(at > 0);
    await rewriteChained(tamper.change(events, at));
    const plain = await verify({});
    assert.equal(plain.problem, undefined, `the chain alone holds: ${JSON.stringify(plain.problem)}`);
    const report = await verify();
    assert.match(report.problem?.message ?? '', /^event seq \d+ \(stream id \d+-\d+, audit_checkpoint at /, JSON.stringify(report.problem));
    assert.match(report.problem?.message ?? '', tamper.message);
  });
}

test('a checkpoint signed under another key fails, naming the other key as a cause', async () => {
  const trail = trailOn(redis, { checkpoints: { key: Buffer.from('another-anchor-key-0123456789abcdefghij'), ...EVERY } });
  for (let i = 1; i <= 8; i++) trail.record(call(i));
  await trail.close();
  assert.match((await verify()).problem?.message ?? '', /signature does not match: .* or the gateways sign with another audit\.anchor_key/);
});

test('events cut from the end past a checkpoint, the head reset: the newest checkpoint left is older than one interval, and verify fails naming its age', async () => {
  // A minute per event by the trail's clock: the checkpoints' signed times are a minute apart per event.
  let now = Date.parse('2026-12-01T10:00:00Z');
  const trail = trailOn(redis, { now: () => now, checkpoints: { key: KEY, everyEvents: 5, everyMs: MINUTE } });
  for (let i = 1; i <= 30; i++) {
    now += MINUTE;
    await trail.commit(call(i));
  }
  await trail.close();
  const asOf = { ms: now, now: false };
  assert.equal(
    (await verify({ checkpoints: { ...RULES, everyMs: MINUTE }, asOf })).problem,
    undefined,
    'untouched, it verifies as of the end',
  );
  const checkpoints = checkpointsIn(await entries());
  const kept = checkpoints.at(-3)!.event;
  await cutAfter(kept.seq + 2);
  assert.equal((await verify({})).problem, undefined, 'the chain alone cannot tell');
  const report = await verify({ checkpoints: { ...RULES, everyMs: MINUTE }, asOf });
  assert.equal(report.problem?.where, 'the end of the trail');
  assert.match(
    report.problem?.message ?? '',
    new RegExp(
      `^the newest checkpoint \\(event seq ${kept.seq}, covering events through seq ${kept.seq - 1}\\) was signed at ${kept.time}, \\d+ min before 2026-12-01T10:30:00.000Z, but gateways sign one every 1 minute: events after it were cut from the end of the trail`,
    ),
  );
  assert.deepEqual(report.checkpoints.unproven, { first: kept.seq, last: kept.seq + 2 });
});

test('events cut only after the newest checkpoint are the window verify says it cannot prove, and it passes', async () => {
  const trail = trailOn(redis);
  // Not closed: a closing trail would sign what is left.
  await writeEach(trail, 1, 24);
  await trail.flush();
  const all = await entries();
  const newest = checkpointsIn(all).at(-1)!.event;
  assert.ok(all.length - newest.seq >= 3, 'events follow the newest checkpoint');
  const before = await verify();
  assert.deepEqual(before.checkpoints.unproven, { first: newest.checkpoint!.seq + 1, last: all.length });
  await cutAfter(newest.seq + 1);
  const report = await verify();
  assert.equal(report.problem, undefined, JSON.stringify(report.problem));
  assert.deepEqual(report.checkpoints.unproven, { first: newest.checkpoint!.seq + 1, last: newest.seq + 1 });
});

test('a writer that sees the head set back below what it saw signs a checkpoint saying so, and verify fails on it', async () => {
  const { logger, lines } = captureLogger();
  const trail = trailOn(redis, { logger });
  await writeEach(trail, 1, 12);
  const before = (await entries()).at(-1)!.event.seq;
  await cutAfter(before - 4);
  await trail.commit(call(13));
  await trail.flush();
  const cut = checkpointsIn(await entries()).find((c) => c.event.checkpoint?.reached !== undefined);
  assert.equal(cut?.event.checkpoint?.reached, before, 'the checkpoint records the seq the trail had reached');
  assert.ok(
    lines.some(
      (l) =>
        l.level === LEVEL.error &&
        l.msg ===
          `the audit trail went back from seq ${before} to seq ${before - 4}: events were cut from its end (or Redis lost them); a signed checkpoint records it`,
    ),
  );
  const report = await verify();
  assert.match(
    report.problem?.message ?? '',
    new RegExp(
      `is a checkpoint recording that the trail had reached seq ${before} before its head was set back \\(signed by a\\): events up to seq ${before} were cut from its end`,
    ),
  );
});

test('two instances writing one chain share the checkpoints: each signed once, by either, and all verify', async () => {
  const a = trailOn(redis, { instance: 'a', checkpoints: { key: KEY, everyEvents: 10, everyMs: 3_600_000 } });
  const b = trailOn(other, { instance: 'b', checkpoints: { key: KEY, everyEvents: 10, everyMs: 3_600_000 } });
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 400; i++) {
    writes.push((i % 2 === 0 ? a : b).commit(call(i)));
    if (i % 7 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(writes);
  // A checkpoint the concurrent writes claimed is queued after their commit and written by the next flush: both settled
  // first (a flush ends with the claim, the second writes it), so the turns below start with none on its way.
  for (let i = 0; i < 2; i++) await Promise.all([a.flush(), b.flush()]);
  // Then each in turn: whichever appends when one is due signs it.
  await writeEach(b, 400, 411);
  await writeEach(a, 412, 423);
  await Promise.all([a.flush(), b.flush()]);
  // Read before they close: two closing at once may each sign the head they leave.
  const all = await entries();
  await Promise.all([a.close(), b.close()]);
  const checkpoints = checkpointsIn(all);
  const covered = checkpoints.map((c) => c.event.checkpoint!.seq);
  assert.equal(new Set(covered).size, covered.length, 'no event is signed twice');
  // Each append that takes the count past 10 ends in a claim; an append is a batch, of up to 256 events.
  for (let i = 1; i < covered.length; i++) assert.ok(covered[i]! - covered[i - 1]! <= 10 + 2 * 256, `checkpoints at ${covered.join(', ')}`);
  assert.deepEqual(
    checkpoints.slice(-2).map((c) => c.event.instance),
    ['b', 'a'],
  );
  const report = await verify({ checkpoints: { ...RULES, everyEvents: 10 } });
  assert.equal(report.problem, undefined, JSON.stringify(report.problem));
  assert.ok(report.checked >= all.length);
  assert.ok(report.checkpoints.count >= checkpoints.length);
});

test('the append script hands the next checkpoint to one caller at a time, by count, by time, or forced', async () => {
  const lua = readLuaScript(new URL('../../src/audit/append.lua', import.meta.url));
  const keys = [STREAM, HEAD, `${PREFIX}audit:trimmed`, `${PREFIX}audit:checkpoint`, `${PREFIX}audit:checkpoint:claim`];
  /** One call as `token` asks (every 3 events or `everyMs`), appending `events` plain events, the first a checkpoint of seq `covers` when given. */
  const append = async (token: string, events: number, options: { covers?: number; force?: boolean; everyMs?: number } = {}) => {
    const triples = Array.from({ length: events }, (_, i) => {
      const json = JSON.stringify({
        time: new Date().toISOString(),
        event: i === 0 && options.covers ? 'audit_checkpoint' : 'allowed',
        instance: token,
      });
      return [contentHash(JSON.parse(json) as Record<string, unknown>), json, ''];
    }).flat();
    const request = `3 ${options.everyMs ?? 3_600_000} 5000 ${options.force ? 1 : 0} ${token}`;
    const [head, claim, newest] = (await redis.eval(
      lua,
      keys.length,
      ...keys,
      'not-linked',
      '0',
      '0',
      request,
      String(options.covers ?? 0),
      ...triples,
    )) as string[];
    return { seq: Number(head?.split(' ')[0]), claim, newest };
  };
  assert.deepEqual(await append('a', 0), { seq: 0, claim: '', newest: '0' }, 'an empty trail has nothing to sign');
  assert.deepEqual(await append('a', 2), { seq: 2, claim: '1', newest: '0' }, 'no checkpoint yet: due at once');
  assert.deepEqual(await append('b', 1), { seq: 3, claim: '', newest: '0' }, 'a holds the claim');
  assert.deepEqual(
    await append('a', 1, { covers: 2 }),
    { seq: 4, claim: '', newest: '4' },
    'the checkpoint lands; the same call is never due again',
  );
  assert.equal(await redis.get(`${PREFIX}audit:checkpoint:claim`), null, 'and the claim is let go');
  assert.deepEqual(await append('b', 2), { seq: 6, claim: '', newest: '4' }, '2 events after it: not due');
  assert.deepEqual(await append('b', 1), { seq: 7, claim: '1', newest: '4' }, '3 events after it: due, and b takes it');
  assert.deepEqual(await append('a', 5), { seq: 12, claim: '', newest: '4' }, 'b holds it, however many events');
  assert.deepEqual(await append('a', 0, { force: true }), { seq: 12, claim: '1', newest: '4' }, 'a closing caller takes it anyway');
  assert.deepEqual(await append('b', 1, { covers: 12 }), { seq: 13, claim: '', newest: '13' });
  // Due by time, by Redis's clock, once a millisecond has passed there.
  await until('a checkpoint due by time', async () => (await append('a', 0, { everyMs: 1 })).claim === '1');
  await redis.persist(`${PREFIX}audit:checkpoint:claim`);
  assert.deepEqual(
    await append('b', 0, { everyMs: 1 }),
    { seq: 13, claim: '1', newest: '13' },
    "a claim without a lease is not a gateway's: taken",
  );
});

test('an idle writer signs by time alone, and a closing one signs what it leaves', async () => {
  const trail = trailOn(redis, { checkpoints: { key: KEY, everyEvents: 1_000, everyMs: 300 } });
  await trail.commit(call(1));
  await until('three checkpoints with nothing else written', async () => checkpointsIn(await entries()).length >= 3);
  assert.deepEqual((await entries()).map((e) => e.event.event).slice(0, 2), ['allowed', 'audit_checkpoint']);
  await trail.commit(call(2));
  await trail.close();
  const last = (await entries()).at(-1)!.event;
  assert.equal(last.event, 'audit_checkpoint');
  assert.equal(last.checkpoint?.seq, last.seq - 1, 'the closing checkpoint covers everything before it');
  assert.equal((await verify({ checkpoints: { key: KEY, everyEvents: 1_000, everyMs: 300 } })).problem, undefined);
});

test('checkpoint state in Redis set to stop them (a time far ahead, a claim that never lapses) does not stop them', async () => {
  await redis.set(`${PREFIX}audit:checkpoint`, `1 1 ${Date.now() + 365 * 86_400_000}`);
  await redis.set(`${PREFIX}audit:checkpoint:claim`, 'someone-else');
  const trail = trailOn(redis);
  await writeEach(trail, 1, 12);
  assert.ok(checkpointsIn(await entries()).length >= 2);
  assert.equal((await verify()).problem, undefined);
});

test('retention and max_events trim checkpoints like any event, and what is kept verifies', async () => {
  const trail = trailOn(redis, { maxEvents: 40 });
  await writeEach(trail, 1, 150);
  await trail.close();
  assert.equal(await redis.xlen(STREAM), 40);
  const report = await verify();
  assert.equal(report.problem, undefined, JSON.stringify(report.problem));
  assert.ok(report.trimmedThrough !== undefined && report.trimmedThrough > 100);
  assert.ok(report.checkpoints.count >= 5);
});

test('the mirror carries the checkpoints, and verifying the file checks them too', async () => {
  const file = join(dir, 'mirror.jsonl');
  const mirror = await AuditMirror.start({ file, redis, prefix: PREFIX, logger: captureLogger().logger });
  const trail = trailOn(redis);
  await writeEach(trail, 1, 20);
  await trail.close();
  const count = (await entries()).length;
  await until('the mirror to hold every event', () => readFileSync(file, 'utf8').split('\n').filter(Boolean).length === count);
  await mirror.stop();
  const report = await verifyAuditFile(file, { checkpoints: RULES });
  assert.equal(report.problem, undefined, JSON.stringify(report.problem));
  assert.equal(report.checkpoints.count, checkpointsIn(await entries()).length);
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  const at = lines.findIndex((line, i) => i > 3 && line.includes('"audit_checkpoint"'));
  const forgedLines = rechained(
    lines.map((line, i) => (i === at ? line.replace(/"mac":"([0-9a-f])/, (_, c: string) => `"mac":"${c === 'a' ? 'b' : 'a'}`) : line)),
  );
  writeFileSync(file, `${forgedLines.join('\n')}\n`);
  assert.equal((await verifyAuditFile(file)).problem, undefined, 'the chain of the file alone holds');
  const forged = await verifyAuditFile(file, { checkpoints: RULES });
  assert.match(
    forged.problem?.message ?? '',
    new RegExp(`mirror\\.jsonl line ${at + 1}, audit_checkpoint at .*\\) is a checkpoint whose signature does not match`),
  );
  assert.equal((await verifyAuditFile(file)).problem, undefined, 'without the key the file is only checked as a chain');
});
