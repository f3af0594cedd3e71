import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { counterKey, DEFAULT_PREFIX, LEASE_MS, RateLimiter, type Caller } from '../../src/limits/index.js';
import type { Limit } from '../../src/policy/index.js';
import { connectRedis } from '../../src/redis/index.js';
import { captureLogger } from '../support/log.js';
import { until } from '../support/poll.js';
import { startRedis, type TestRedis } from '../support/redis.js';

// A busy caller's charges take slots ahead (see RateLimiter). These tests hold it to what its comment promises:
// fewer round trips, never more admitted than max across instances, slots used only within their lease, unused ones given back.

const ALPHA: Caller = { grant: 'alpha', session: 's1' };

let server: TestRedis;
let redis: Redis;
const clients: Redis[] = [];
const limiters: RateLimiter[] = [];

async function client(): Promise<Redis> {
  const connected = await connectRedis({ url: server.url, logger: captureLogger().logger, commandTimeoutMs: 5_000 });
  clients.push(connected);
  return connected;
}

/** A limiter on its own connection, reading the time from `clock` (performance.now() by default). */
async function limiterOf(clock?: { now: number }, timeoutMs = 500): Promise<{ limiter: RateLimiter; redis: Redis }> {
  const own = await client();
  const limiter = new RateLimiter(own, { timeoutMs, ...(clock && { now: () => clock.now }) });
  limiters.push(limiter);
  return { limiter, redis: own };
}

before(async () => {
  server = await startRedis();
  redis = await client();
});
beforeEach(() => redis.flushall());
after(async () => {
  await Promise.all(limiters.map((l) => l.close()));
  for (const c of clients) c.disconnect();
  await server.stop();
});

function limitOf(counter: string, max: number, window_ms: number, scope: Limit['scope'] = 'grant'): Limit {
  return { counter, window: window_ms / 1000, window_ms, max, scope, rule: 'tools.t.limits[0]' };
}

/** How many charge scripts Redis has run since its stats were last reset. */
async function scriptRuns(): Promise<number> {
  const stats = await redis.info('commandstats');
  return [...stats.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}

const zcard = (limit: Limit, caller = ALPHA) => redis.zcard(counterKey(DEFAULT_PREFIX, limit, caller));

/** `n` calls 1 ms apart on `clock`: close enough together for the pool to take slots ahead. */
async function closeTogether(n: number, limiter: RateLimiter, clock: { now: number }, limit: Limit): Promise<void> {
  for (let i = 0; i < n; i++) {
    clock.now += 1;
    await limiter.charge([limit], ALPHA);
  }
}

/** The count once a top-up sent by the last charge has landed (or was lost): the same over 200 ms. */
async function settled(limit: Limit): Promise<number> {
  let last = -1;
  for (;;) {
    const now = await zcard(limit);
    if (now === last) return now;
    last = now;
    await sleep(200);
  }
}

test('a busy caller is charged with far fewer round trips than calls, and once its leases end Redis counts exactly the calls admitted', async () => {
  const { limiter } = await limiterOf();
  const roomy = limitOf('roomy', 100_000, 60_000);
  await redis.config('RESETSTAT');
  for (let i = 0; i < 400; i++) assert.equal((await limiter.charge([roomy], ALPHA)).admitted, true);
  const runs = await scriptRuns();
  console.log(`leases: 400 sequential charges took ${runs} charge scripts`);
  assert.ok(runs < 100, `${runs} charge scripts for 400 calls`);
  assert.ok((await zcard(roomy)) >= 400, 'every admitted call is counted before it is admitted');
  await limiter.close();
  assert.equal(await zcard(roomy), 400, 'close gave back every unused slot');
});

for (const gap of [1.5, 3]) {
  test(`calls ${gap * LEASE_MS} ms apart, further than a lease lasts, take nothing ahead: one script per call, no slot beyond the calls`, async () => {
    const clock = { now: 0 };
    const { limiter } = await limiterOf(clock);
    const paced = limitOf(`paced-${gap}`, 100_000, 60_000);
    await redis.config('RESETSTAT');
    for (let i = 0; i < 10; i++) {
      clock.now += gap * LEASE_MS;
      assert.equal((await limiter.charge([paced], ALPHA)).admitted, true);
      assert.equal(await zcard(paced), i + 1, `call ${i + 1}: slots counted ahead`);
    }
    assert.equal(await scriptRuns(), 10);
  });
}

test('a counter lives until its newest slot leaves the window, even when a later charge takes nothing ahead', async () => {
  const busy = await limiterOf();
  const sparse = await limiterOf();
  const shared = limitOf('expiry', 100_000, 60_000, 'global');
  for (let i = 0; i < 40; i++) await busy.limiter.charge([shared], ALPHA);
  await sparse.limiter.charge([shared], ALPHA);
  const key = counterKey(DEFAULT_PREFIX, shared, ALPHA);
  // One snapshot: a top-up of the busy limiter landing between separate reads would move the newest slot.
  const replies = (await redis.multi().zrange(key, '-1', '-1', 'WITHSCORES').time().pttl(key).exec())!.map(([, r]) => r);
  const newest = Number((replies[0] as string[])[1]);
  const [seconds, micros] = replies[1] as [string, string];
  const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  const pttl = replies[2] as number;
  assert.ok(Math.abs(pttl - (newest + 60_000 - now)) <= 5, `PTTL ${pttl}, newest slot ${newest - now} ms from now`);
});

test('two gateways charging one busy counter at once never admit more than max, and together admit all of it', async () => {
  const [a, b] = [await limiterOf(), await limiterOf()];
  const shared = limitOf('shared', 2_560, 60_000, 'global');
  let admitted = 0;
  let refused = 0;
  // Eight callers on each gateway, each charging in a loop: leases are taken, topped up and run out on both.
  await Promise.all(
    Array.from({ length: 16 }, async (_, i) => {
      const limiter = (i % 2 === 0 ? a : b).limiter;
      for (let n = 0; n < 240; n++) {
        if ((await limiter.charge([shared], { grant: `g${i}`, session: undefined })).admitted) admitted++;
        else refused++;
      }
    }),
  );
  console.log(`leases: two gateways, 3,840 charges against max 2,560: ${admitted} admitted, ${refused} refused`);
  assert.ok(admitted <= 2_560, `${admitted} admitted`);
  assert.equal(admitted + refused, 3_840);
  // Near max a lease takes at most 1/64 of the room left, so the last slots go call by call and none is stranded while both call.
  assert.equal(admitted, 2_560);
  assert.equal(await zcard(shared, ALPHA), 2_560);
});

test('a leased slot is scored at the end of its lease, so it leaves the window no earlier than the call it admits', async () => {
  // A clock that stands still: no lease ends here, so none is given back while the slots are read.
  const { limiter } = await limiterOf({ now: 1_000 });
  const roomy = limitOf('scored', 100_000, 60_000);
  for (let i = 0; i < 20; i++) await limiter.charge([roomy], ALPHA);
  const key = counterKey(DEFAULT_PREFIX, roomy, ALPHA);
  // One snapshot: every script that scored a slot ran before this TIME.
  const replies = (await redis.multi().time().zrange(key, '0', '-1', 'WITHSCORES').pttl(key).exec())!.map(([, r]) => r);
  const [seconds, micros] = replies[0] as [string, string];
  const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  const scores = (replies[1] as string[]).filter((_, i) => i % 2 === 1).map(Number);
  assert.ok(scores.length > 20, `${scores.length} slots for 20 calls: nothing was leased ahead`);
  for (const s of scores) assert.ok(s <= now + LEASE_MS, `a slot scored ${s - now} ms ahead, beyond the lease`);
  const pttl = replies[2] as number;
  assert.ok(pttl > 60_000 - 1_000 && pttl <= 60_000 + LEASE_MS, `PTTL ${pttl}`);
});

test('with Redis gone, leased slots admit calls only until their lease ends; then calls are refused [UNAVAILABLE]', async () => {
  const clock = { now: 1_000 };
  const { limiter, redis: own } = await limiterOf(clock, 300);
  const roomy = limitOf('gone', 100_000, 60_000);
  await closeTogether(30, limiter, clock, roomy);
  own.disconnect();
  const counted = await settled(roomy);
  assert.ok(counted > 30, `${counted} slots counted for 30 calls: nothing was leased ahead`);
  clock.now += 1;
  assert.equal((await limiter.charge([roomy], ALPHA)).admitted, true, 'a slot charged before Redis went is still usable within its lease');
  clock.now += LEASE_MS;
  await assert.rejects(limiter.charge([roomy], ALPHA), /charging rate limits|Stream isn't writeable|Connection is closed/);
  assert.equal(await zcard(roomy), counted, 'nothing was charged without Redis');
});

test('slots left unused when a lease ends are given back, so the counter holds only the calls admitted', async () => {
  const clock = { now: 1_000 };
  const { limiter } = await limiterOf(clock);
  const roomy = limitOf('back', 100_000, 60_000);
  await closeTogether(30, limiter, clock, roomy);
  assert.ok((await zcard(roomy)) > 30);
  clock.now += LEASE_MS;
  // The sweep runs every second on the real clock.
  await until('the ended lease to be given back', async () => (await zcard(roomy)) === 30, 5_000);
});

test('a give-back Redis refuses is tried again at the next sweeps', async () => {
  const clock = { now: 1_000 };
  const { limiter } = await limiterOf(clock);
  const roomy = limitOf('owed', 100_000, 60_000);
  await closeTogether(30, limiter, clock, roomy);
  const counted = await settled(roomy);
  assert.ok(counted > 30);
  // Redis refuses the ZREM (as it fails while Redis is away); the slots stay counted meanwhile.
  await redis.acl('SETUSER', 'default', '-zrem');
  try {
    clock.now += LEASE_MS;
    await sleep(3 * LEASE_MS);
    assert.equal(await zcard(roomy), counted);
  } finally {
    await redis.acl('SETUSER', 'default', '+zrem');
  }
  await until('the refused give-back to be tried again', async () => (await zcard(roomy)) === 30, 5_000);
});

test('near max, under a short window and for a small max, calls are charged one by one: nothing counted ahead', async () => {
  const { limiter } = await limiterOf();
  const cases = [
    { limit: limitOf('near', 160, 60_000), calls: 150 },
    { limit: limitOf('short', 100_000, 5_000), calls: 30 },
    { limit: limitOf('small', 127, 60_000), calls: 30 },
  ];
  for (const { limit, calls } of cases) {
    for (let i = 0; i < calls; i++) {
      assert.equal((await limiter.charge([limit], ALPHA)).admitted, true);
      // 'near' may lease while its room is 128 or more, never beyond what it admits at its max.
      if (limit.counter !== 'near') assert.equal(await zcard(limit), i + 1, `${limit.counter}: slots counted ahead`);
    }
  }
  const near = cases[0]!.limit;
  for (let i = 150; i < 160; i++) assert.equal((await limiter.charge([near], ALPHA)).admitted, true, `call ${i + 1} of 160`);
  assert.equal((await limiter.charge([near], ALPHA)).admitted, false);
  assert.equal(await zcard(near), 160);
});

test('a reload that lowers max takes effect at once: slots leased under the old max are not used for the new one', async () => {
  const { limiter } = await limiterOf();
  const wide = limitOf('reload', 100_000, 60_000);
  for (let i = 0; i < 50; i++) await limiter.charge([wide], ALPHA);
  const counted = await zcard(wide);
  const narrowed = { ...wide, max: counted };
  const refusal = await limiter.charge([narrowed], ALPHA);
  assert.equal(refusal.admitted, false, `admitted under max ${counted} with ${counted} counted`);
});
