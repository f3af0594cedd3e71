import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { counterKey, DEFAULT_PREFIX, RateLimiter, type Caller, type Charge } from '../../src/limits/index.js';
import type { Limit } from '../../src/policy/index.js';
import { connectRedis } from '../../src/redis/index.js';
import { captureLogger } from '../support/log.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const YEAR_MS = 365 * 86_400_000;
const ALPHA_1: Caller = { grant: 'alpha', session: 's1' };
const ALPHA_2: Caller = { grant: 'alpha', session: 's2' };
const BETA_3: Caller = { grant: 'beta', session: 's3' };

let server: TestRedis;
let redis: Redis;
let limiter: RateLimiter;
const clients: Redis[] = [];

async function client(): Promise<Redis> {
  const connected = await connectRedis({ url: server.url, logger: captureLogger().logger, commandTimeoutMs: 5_000 });
  clients.push(connected);
  return connected;
}

before(async () => {
  server = await startRedis();
  redis = await client();
  limiter = new RateLimiter(redis);
});
beforeEach(() => redis.flushall());
after(async () => {
  for (const c of clients) c.disconnect();
  await server.stop();
});

function limitOf(counter: string, max: number, window_ms: number, scope: Limit['scope'], rule = `tools.t.limits[0]`): Limit {
  return { counter, window: window_ms / 1000, window_ms, max, scope, rule };
}

/** Fires `n` charges at once and returns how many were admitted. */
async function admittedOf(n: number, limits: Limit[], caller: Caller, by = limiter): Promise<number> {
  const charges = await Promise.all(Array.from({ length: n }, () => by.charge(limits, caller)));
  return charges.filter((c) => c.admitted).length;
}

function refused(charge: Charge): Extract<Charge, { admitted: false }> {
  assert.equal(charge.admitted, false, `expected a refusal, got ${JSON.stringify(charge)}`);
  return charge as Extract<Charge, { admitted: false }>;
}

async function counts(limits: Limit[], caller: Caller): Promise<number[]> {
  return (await limiter.peek(limits, caller)).map((s) => s.count);
}

async function redisNow(): Promise<number> {
  const [seconds, micros] = await redis.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** Redis Cluster's rule: the slot is hashed from the text between the first "{" and the first "}" after it, when not empty. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key;
}

test('grant scope: each grant is admitted exactly max times, and the sessions of one grant share its count', async () => {
  const limit = limitOf('per_grant', 5, 60_000, 'grant');
  const alpha = await admittedOf(8, [limit], ALPHA_1);
  const beta = await admittedOf(8, [limit], BETA_3);
  const alphaOtherSession = await admittedOf(3, [limit], ALPHA_2);
  console.log(`grant scope: alpha ${alpha}/8, beta ${beta}/8, alpha's second session ${alphaOtherSession}/3 admitted`);
  assert.deepEqual([alpha, beta, alphaOtherSession], [5, 5, 0]);
});

test('session scope: two sessions of one grant are counted apart', async () => {
  const limit = limitOf('per_session', 5, 60_000, 'session');
  const first = await admittedOf(8, [limit], ALPHA_1);
  const second = await admittedOf(8, [limit], ALPHA_2);
  const firstAgain = await admittedOf(2, [limit], ALPHA_1);
  console.log(`session scope: s1 ${first}/8, s2 ${second}/8, s1 again ${firstAgain}/2 admitted`);
  assert.deepEqual([first, second, firstAgain], [5, 5, 0]);
});

test('global scope: every grant and session shares one count', async () => {
  const limit = limitOf('everyone', 5, 60_000, 'global');
  const results = await Promise.all([ALPHA_1, ALPHA_2, BETA_3].map((caller) => admittedOf(4, [limit], caller)));
  console.log(`global scope: ${results.join(' + ')} = ${results.reduce((a, b) => a + b)} of 12 admitted`);
  assert.equal(
    results.reduce((a, b) => a + b),
    5,
  );
  assert.deepEqual(await counts([limit], { grant: 'gamma', session: 's9' }), [5]);
});

test('counters named alike share one count across limits of different tools; other names do not', async () => {
  const onExport = limitOf('exports', 5, 60_000, 'grant', 'tools.start_export.limits[0]');
  const onRestart = limitOf('exports', 5, 60_000, 'grant', 'tools.restart_export.limits[0]');
  const other = limitOf('restarts', 5, 60_000, 'grant', 'tools.restart_export.limits[1]');
  assert.equal(await admittedOf(3, [onExport], ALPHA_1), 3);
  assert.equal(await admittedOf(4, [onRestart], ALPHA_1), 2);
  assert.equal(await admittedOf(1, [onExport], ALPHA_1), 0);
  assert.equal(await admittedOf(5, [other], ALPHA_1), 5);
  assert.deepEqual(await counts([onExport, onRestart, other], ALPHA_1), [5, 5, 5]);
});

test('when one of two counters is full the call charges neither, whichever comes first', async () => {
  const wide = limitOf('wide', 10, 60_000, 'grant');
  const narrow = limitOf('narrow', 2, 60_000, 'grant');
  assert.deepEqual(await limiter.charge([wide, narrow], ALPHA_1), { admitted: true });
  assert.deepEqual(await counts([wide, narrow], ALPHA_1), [1, 1]);
  assert.deepEqual(await limiter.charge([wide, narrow], ALPHA_1), { admitted: true });
  for (const order of [
    [wide, narrow],
    [narrow, wide],
  ]) {
    const refusal = refused(await limiter.charge(order, ALPHA_1));
    assert.equal(refusal.limit.counter, 'narrow');
    assert.equal(refusal.count, 2);
    assert.ok(
      refusal.retry_after_ms !== undefined && refusal.retry_after_ms > 0 && refusal.retry_after_ms <= 60_000,
      String(refusal.retry_after_ms),
    );
  }
  assert.deepEqual(await counts([wide, narrow], ALPHA_1), [2, 2]);
  assert.deepEqual(await limiter.charge([wide], ALPHA_1), { admitted: true });
  assert.deepEqual(await counts([wide, narrow], ALPHA_1), [3, 2]);
});

test('the window slides: 10 admitted halfway through a 4 s window leave no room just past its end, where a fixed window would start afresh', async () => {
  const WINDOW = 4_000;
  const limit = limitOf('edge', 10, WINDOW, 'global');
  const key = counterKey(DEFAULT_PREFIX, limit, ALPHA_1);
  // Redis TIME is the clock that counts; local timers only aim at its instants. Each instant aimed at is a second or
  // more from the edge it must stay on one side of, so a loaded machine's late timers and slow calls keep to that side.
  const offset = (await redisNow()) - Date.now();
  const sleepUntil = (redisMs: number) => sleep(Math.max(0, redisMs - offset - Date.now()));
  // The reference point is a multiple of the window in Redis time, where a fixed window keyed on it would roll over.
  const reference = Math.ceil(((await redisNow()) + WINDOW / 2 + 100) / WINDOW) * WINDOW - WINDOW;
  const boundary = reference + WINDOW;

  await sleepUntil(reference + WINDOW / 2);
  assert.equal(await admittedOf(10, [limit], ALPHA_1), 10);
  const times = (await redis.zrange(key, '0', '-1', 'WITHSCORES')).filter((_, i) => i % 2 === 1).map(Number);
  const [oldest, newest] = [Math.min(...times), Math.max(...times)];
  assert.ok(newest < boundary, `the burst must land before the boundary (landed ${boundary - newest} ms early)`);

  await sleepUntil(boundary + 100);
  const before = await redisNow();
  const late = refused(await limiter.charge([limit], ALPHA_1));
  const afterCall = await redisNow();
  assert.ok(before >= boundary, 'the late call must come after the boundary');
  assert.ok(afterCall < oldest + WINDOW, 'and before the burst leaves the window');
  const retry = late.retry_after_ms ?? -1;
  console.log(
    `window edge: 10 admitted ${boundary - newest}–${boundary - oldest} ms before the boundary; ${before - boundary} ms after it refused, retry in ${retry} ms`,
  );
  assert.ok(
    retry >= oldest + WINDOW - afterCall && retry <= oldest + WINDOW - before,
    `retry_after_ms ${retry}: the retry is when the oldest admission leaves the window`,
  );

  await sleepUntil(oldest + WINDOW - 1_000);
  refused(await limiter.charge([limit], ALPHA_1));
  assert.ok((await redisNow()) < oldest + WINDOW, 'that call came while the burst was still in the window');
  await sleepUntil(newest + WINDOW + 20);
  assert.equal(await admittedOf(12, [limit], ALPHA_1), 10, 'once the burst has left the window, a full window of calls is admitted again');
});

test('max 0 refuses every call, says no retry time, and charges nothing', async () => {
  const never = limitOf('never', 0, 60_000, 'grant');
  const beside = limitOf('beside', 5, 60_000, 'grant');
  for (let i = 0; i < 3; i++) {
    const refusal = refused(await limiter.charge([beside, never], ALPHA_1));
    assert.equal(refusal.limit.counter, 'never');
    assert.equal(refusal.retry_after_ms, undefined);
  }
  assert.deepEqual(await counts([beside, never], ALPHA_1), [0, 0]);
  assert.deepEqual(await redis.keys('*'), []);
});

test('a window of a year admits, refuses with a retry of about a year, and its key expires after the window', async () => {
  const yearly = limitOf('yearly', 1, YEAR_MS, 'grant');
  assert.deepEqual(await limiter.charge([yearly], ALPHA_1), { admitted: true });
  const ttl = await redis.pttl(counterKey(DEFAULT_PREFIX, yearly, ALPHA_1));
  assert.ok(ttl > YEAR_MS - 10_000 && ttl <= YEAR_MS, `PTTL ${ttl}`);
  const refusal = refused(await limiter.charge([yearly], ALPHA_1));
  assert.ok(
    refusal.retry_after_ms !== undefined && refusal.retry_after_ms > YEAR_MS - 10_000 && refusal.retry_after_ms <= YEAR_MS,
    String(refusal.retry_after_ms),
  );
});

test('every key one charge touches carries the same hash tag, so one script runs on one Cluster slot', async () => {
  const caller: Caller = { grant: '{evil}', session: 'x}{y' };
  const limits = [limitOf('a', 5, 60_000, 'grant'), limitOf('b', 5, 3_600_000, 'session'), limitOf('c', 5, 1_000, 'global')];
  assert.equal((await limiter.charge(limits, caller)).admitted, true);
  const keys = await redis.keys('*');
  assert.equal(keys.length, 3, JSON.stringify(keys));
  for (const key of keys) assert.equal(hashTag(key), 'airlock', key);
  for (const key of keys) assert.ok((await redis.pttl(key)) > 0, `${key} expires on its own`);

  await redis.flushall();
  assert.equal((await new RateLimiter(redis, { prefix: 'tenant-7:{gw}:' }).charge(limits, caller)).admitted, true);
  assert.deepEqual([...new Set((await redis.keys('*')).map(hashTag))], ['gw']);
});

test('grant names with ":", "{" or "%" never share a count with another grant, a session or the global count', async () => {
  const limit = limitOf('c', 1, 60_000, 'grant');
  const grants = ['a:b', 'a', 'a%3Ab', 'a:b:c', '{airlock}:limit:grant:a', 'a}', '-', 'x y'];
  const charged: string[] = [];
  for (const grant of grants) {
    assert.equal(
      (await limiter.charge([limit], { grant, session: 'same' })).admitted,
      true,
      `grant ${JSON.stringify(grant)} shares a count with one of ${JSON.stringify(charged)}`,
    );
    charged.push(grant);
  }
  // A counter name that mimics another grant's key (a policy would refuse it; the key layout must not rely on that).
  assert.equal((await limiter.charge([limitOf('b:c', 1, 60_000, 'grant')], { grant: 'a', session: 'same' })).admitted, true);
  // Scope tricks: a session named like a grant, a grant named like the global slot.
  assert.equal((await limiter.charge([limitOf('c', 1, 60_000, 'session')], { grant: 'z', session: 'a' })).admitted, true);
  assert.equal((await limiter.charge([limitOf('c', 1, 60_000, 'global')], { grant: '-', session: '-' })).admitted, true);
  assert.equal((await redis.keys('*')).length, grants.length + 3);
  for (const grant of grants) refused(await limiter.charge([limit], { grant, session: 'other' }));
});

test('200 concurrent charges from two Redis clients against max 50 admit exactly 50', async () => {
  const other = new RateLimiter(await client());
  const limit = limitOf('burst', 50, 60_000, 'global');
  const charges = await Promise.all(
    Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? limiter : other).charge([limit], i % 3 === 0 ? ALPHA_1 : BETA_3)),
  );
  const admitted = charges.filter((c) => c.admitted).length;
  console.log(`concurrency: ${admitted} of 200 admitted, ${200 - admitted} refused`);
  assert.equal(admitted, 50);
  assert.deepEqual(await counts([limit], ALPHA_1), [50]);
  assert.equal(await redis.zcard(counterKey(DEFAULT_PREFIX, limit, ALPHA_1)), 50);
});

test('charges asked for in one turn share one pipeline, are charged in the order asked, and each gets its own verdict', async () => {
  const own = await client();
  const batched = new RateLimiter(own);
  let pipelines = 0;
  const pipeline = own.pipeline.bind(own);
  own.pipeline = (...args: Parameters<Redis['pipeline']>) => {
    pipelines += 1;
    return pipeline(...args);
  };
  const tight = limitOf('tight', 4, 60_000, 'grant');
  const roomy = limitOf('roomy', 100, 60_000, 'grant');
  const charges = await Promise.all([
    ...Array.from({ length: 10 }, () => batched.charge([tight], ALPHA_1)),
    batched.charge([roomy], ALPHA_1),
    batched.charge([tight, roomy], BETA_3),
  ]);
  assert.equal(pipelines, 1);
  assert.deepEqual(
    charges.slice(0, 10).map((c) => c.admitted),
    [true, true, true, true, false, false, false, false, false, false],
  );
  assert.equal(refused(charges[4] as Charge).limit, tight);
  assert.deepEqual(charges[10], { admitted: true });
  assert.deepEqual(charges[11], { admitted: true });
  assert.deepEqual(await counts([tight, roomy], BETA_3), [1, 1]);
  assert.deepEqual(await counts([tight, roomy], ALPHA_1), [4, 1]);
});

test('a turn of charges with Redis gone is refused as a whole, charge by charge, and nothing is counted once it is back', async () => {
  const own = await client();
  const batched = new RateLimiter(own, { timeoutMs: 300 });
  const limit = limitOf('gone', 100, 60_000, 'global');
  own.disconnect();
  const settled = await Promise.allSettled(Array.from({ length: 5 }, () => batched.charge([limit], ALPHA_1)));
  assert.deepEqual(
    settled.map((s) => s.status),
    ['rejected', 'rejected', 'rejected', 'rejected', 'rejected'],
  );
  assert.deepEqual(await counts([limit], ALPHA_1), [0]);
});
