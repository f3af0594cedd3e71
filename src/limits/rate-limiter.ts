import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Limit } from '../policy/index.js';
import { LuaScript, withDeadline } from '../redis/index.js';
import { cancelKey, counterKey, DEFAULT_PREFIX, type Caller } from './keys.js';
import { LeasePool } from './lease-pool.js';

// KEYS, then ARGV, as charge.lua's header lists them: a counter and a max and window for each limit, so no fixed key count.
const CHARGE_NAME = 'airlockCharge';
const CHARGE = new LuaScript<number[], ChargeKeys, ChargeArgs>({
  name: CHARGE_NAME,
  file: new URL('./charge.lua', import.meta.url),
});

export type Charge =
  | { admitted: true }
  | {
      admitted: false;
      limit: Readonly<Limit>;
      /** When the next call would be admitted; undefined when `max` is 0 and none ever is. */
      retry_after_ms: number | undefined;
      count: number;
    };

type ChargeKeys = [cancelMark: string, ...counters: string[]];
type ChargeArgs = [id: string, want: number, leaseMs: number, ...maxThenWindow: number[]];

interface Queued {
  keys: ChargeKeys;
  args: ChargeArgs;
  settle(err: Error | null, reply?: number[]): void;
}

export interface CounterState {
  limit: Readonly<Limit>;
  count: number;
}

const ADMITTED: Charge = Object.freeze({ admitted: true });
/** How long slots taken ahead stay usable. */
export const LEASE_MS = 100;
/** Shorter windows are charged call by call: there a slot counted up to LEASE_MS late would be a noticeable share of the window. */
export const MIN_LEASE_WINDOW_MS = 100 * LEASE_MS;
/** A lease takes at most this share of a counter's room left (the same in charge.lua). */
const LEASE_SHARE = 64;
const SWEEP_MS = 2 * LEASE_MS;

/**
 * Rate-limit counters in Redis, shared by every gateway instance. A call is
 * charged against all of its limits in one script, so either every counter
 * admits it and counts it, or none is touched.
 *
 * A busy caller's calls would each wait for a round trip to Redis, which is
 * most of what a limit adds to a call (see bench:proxy). So where a set of
 * counters is busy and far from full, one request takes a few slots ahead
 * (a lease, see LeasePool) and the next calls are admitted from them
 * without waiting; a lease is topped up before it runs out. This stays
 * exact and fails closed:
 * - every slot is charged in Redis before a call uses it, so the instances
 *   together never admit more than `max`;
 * - a leased slot is scored at the lease's end, and is used only before
 *   that end as measured from before the request was sent, so it leaves
 *   the window no earlier than the call it admits would;
 * - fewer than 128 calls from `max` (a lease takes at most 1/64 of the room
 *   left), in windows under MIN_LEASE_WINDOW_MS and for a call now and
 *   then, calls are charged one by one as before;
 * - slots left unused when a lease ends are given back (ZREM) within
 *   SWEEP_MS. Until then, or until their window ends if that fails or the
 *   process dies first, they are counted: a counter may refuse a little
 *   early (at most 1/64 of the room a lease saw), never admit too much;
 * - with Redis gone, a call is admitted only from a slot charged before,
 *   for at most LEASE_MS; after that it is refused [UNAVAILABLE].
 *
 * Requests asked for in one turn of the event loop go to Redis together, one
 * script call each in one pipeline: one socket write and one read for all of
 * them instead of one each. Each keeps its own reply and deadline, so
 * batching changes when a request is sent, by at most one turn, never what
 * it answers.
 */
export class RateLimiter {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  readonly #chargeScript: ReturnType<typeof CHARGE.define>;
  #queued: Queued[] = [];
  readonly #pools = new Map<string, { pool: LeasePool; counters: string[] }>();
  readonly #sweep: NodeJS.Timeout;
  #closed = false;
  /** Requests and give-backs on their way to Redis, for close to wait for. */
  readonly #pending = new Set<Promise<unknown>>();
  /** Give-backs Redis did not take, to try again. */
  #owed: { counters: string[]; unused: string[]; until: number }[] = [];
  /** The longest window charged so far: how long a slot not given back can count. */
  #longestWindowMs = 0;

  constructor(redis: Redis, options: { prefix?: string; timeoutMs?: number; now?: () => number } = {}) {
    this.#redis = redis;
    this.#prefix = options.prefix ?? DEFAULT_PREFIX;
    this.#timeoutMs = options.timeoutMs ?? 500;
    this.#now = options.now ?? (() => performance.now());
    this.#chargeScript = CHARGE.define(redis);
    this.#sweep = setInterval(() => {
      const now = this.#now();
      this.#retryOwed(now);
      this.#giveBack(now);
    }, SWEEP_MS);
    this.#sweep.unref();
  }

  async charge(limits: readonly Readonly<Limit>[], caller: Caller): Promise<Charge> {
    if (limits.length === 0) return ADMITTED;
    const counters = limits.map((l) => counterKey(this.#prefix, l, caller));
    if (limits.some((l) => l.window_ms < MIN_LEASE_WINDOW_MS)) return this.#request(limits, counters, 1);
    for (const l of limits) this.#longestWindowMs = Math.max(this.#longestWindowMs, l.window_ms + LEASE_MS);
    // The counters and their sizes: a reload that changes a max or a window starts a new pool.
    const key = `${counters.join(' ')} ${limits.map((l) => `${l.max}/${l.window_ms}`).join(' ')}`;
    let entry = this.#pools.get(key);
    if (!entry) this.#pools.set(key, (entry = { pool: new LeasePool(LEASE_MS), counters }));
    const { pool } = entry;
    const now = this.#now();
    pool.note(now);
    if (pool.take(now) !== undefined) {
      this.#topUp(pool, limits, counters, now);
      return ADMITTED;
    }
    const coming = pool.claim();
    if (coming) {
      // Redis did not answer that request in time: this call fails with it (fail closed), as its own request would.
      await coming;
      if (pool.take(this.#now()) !== undefined) return ADMITTED;
    }
    return this.#request(limits, counters, this.#want(pool, limits), pool);
  }

  /** What the pool's pace asks for, within what Redis would grant an empty counter. */
  #want(pool: LeasePool, limits: readonly Readonly<Limit>[]): number {
    return Math.max(1, Math.min(pool.want(), Math.floor(Math.min(...limits.map((l) => l.max)) / LEASE_SHARE)));
  }

  /**
   * Asks Redis for `want` slots: the first for the call waiting (unless
   * `ahead`, where all are for later calls), the rest leased into `pool`.
   */
  async #request(limits: readonly Readonly<Limit>[], counters: string[], want: number, pool?: LeasePool, ahead = false): Promise<Charge> {
    const id = randomUUID();
    const leaseMs = want > 1 || ahead ? LEASE_MS : 0;
    const keys: ChargeKeys = [cancelKey(this.#prefix, id), ...counters];
    const args: ChargeArgs = [id, want, leaseMs, ...limits.flatMap((l) => [l.max, l.window_ms])];
    // Measured before sending, so the lease ends here no later than the slots' scores say.
    const until = this.#now() + leaseMs;
    const sent = withDeadline(this.#send(keys, args), this.#timeoutMs, 'charging rate limits');
    if (pool) {
      pool.expect(sent, ahead ? want : want - 1);
      this.#pend(sent);
    }
    let reply: number[];
    try {
      reply = await sent;
    } catch (err) {
      const members = Array.from({ length: want }, (_, j) => `${id}#${j + 1}`);
      this.#cancel(id, members, counters, Math.max(...limits.map((l) => l.window_ms)) + leaseMs);
      throw err;
    }
    if (reply[0] === 1) {
      const granted = reply[1] ?? 1;
      const first = ahead ? 1 : 2;
      if (pool && granted >= first) {
        const unused = Array.from({ length: granted - first + 1 }, (_, j) => `${id}#${granted - j}`);
        // A lease that lands after close has nobody left to give it back later.
        if (this.#closed) this.#unlease(counters, unused);
        else pool.add({ id, unused, until });
      }
      return ADMITTED;
    }
    const [, index = 1, retry = -1, count = 0] = reply;
    return { admitted: false, limit: limits[index - 1] as Readonly<Limit>, retry_after_ms: retry < 0 ? undefined : retry, count };
  }

  /** Takes the next lease before this one runs out, so a busy caller's calls do not wait for it. */
  #topUp(pool: LeasePool, limits: readonly Readonly<Limit>[], counters: string[], now: number): void {
    const want = this.#want(pool, limits);
    if (want === 1 || pool.coming > 0 || pool.available(now) > want / 2) return;
    // A refusal or a failure here reaches nobody: the next call without a slot asks again and gets its own answer.
    this.#request(limits, counters, want, pool, true).catch(() => undefined);
  }

  /** Gives back the unused slots of leases that ended, and forgets pools nobody uses. */
  #giveBack(now: number): void {
    for (const [key, { pool, counters }] of this.#pools) {
      this.#unlease(
        counters,
        pool.ended(now).flatMap((lease) => lease.unused),
      );
      if (pool.idle(now)) this.#pools.delete(key);
    }
  }

  /**
   * Sends the ZREM of slots nobody will use. One that fails (Redis away) is
   * tried again at the next sweeps until its slots have left every window
   * anyway; until then they are counted, which refuses early, never admits
   * too much.
   */
  #unlease(counters: string[], unused: string[], until = this.#now() + this.#longestWindowMs): void {
    if (unused.length === 0) return;
    const sent: Promise<unknown> = Promise.all(counters.map((counter) => this.#redis.zrem(counter, ...unused))).then(
      () => undefined,
      () => void (this.#closed || this.#owed.push({ counters, unused, until })),
    );
    this.#pend(sent);
  }

  /** Keeps `work` in #pending until it settles, for close to wait for. */
  #pend(work: Promise<unknown>): void {
    this.#pending.add(work);
    const done = () => this.#pending.delete(work);
    work.then(done, done);
  }

  /** Tries again the give-backs that failed, while their slots still count. */
  #retryOwed(now: number): void {
    const owed = this.#owed;
    this.#owed = [];
    for (const { counters, unused, until } of owed) if (until > now) this.#unlease(counters, unused, until);
  }

  /**
   * Stops the sweep, waits for the requests on their way (each within its
   * deadline), and gives back every slot still leased (at shutdown, before
   * Redis closes), waiting at most `redis.timeout` for Redis to take them.
   */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
    this.#closed = true;
    clearInterval(this.#sweep);
    this.#retryOwed(this.#now());
    this.#giveBack(Infinity);
    const given = Promise.allSettled([...this.#pending]);
    await withDeadline(given, this.#timeoutMs, 'giving back rate-limit slots').catch(() => undefined);
  }

  /** Queues one script call; the first of a turn sends the turn's calls once the loop has read every socket that was ready. */
  #send(keys: ChargeKeys, args: ChargeArgs): Promise<number[]> {
    return new Promise((resolve, reject) => {
      this.#queued.push({ keys, args, settle: (err, reply) => (err ? reject(err) : resolve(reply ?? [])) });
      if (this.#queued.length === 1) setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    const batch = this.#queued;
    this.#queued = [];
    const [only] = batch;
    if (batch.length === 1 && only) {
      this.#chargeScript(only.keys, only.args).then(
        (reply) => only.settle(null, reply),
        (err: unknown) => only.settle(err as Error),
      );
      return;
    }
    const pipeline = this.#redis.pipeline();
    // The script is defined on the client, so its command exists on the client's pipelines too (under the same name, keys counted).
    const run = Reflect.get(pipeline, CHARGE_NAME) as (...keysThenArgs: (string | number)[]) => unknown;
    for (const entry of batch) run.call(pipeline, entry.keys.length, ...entry.keys, ...entry.args);
    pipeline.exec().then(
      (results) =>
        batch.forEach((entry, i) => {
          const [err, reply] = results?.[i] ?? [new Error('Redis sent no reply for a charge in a pipeline')];
          entry.settle(err, reply as number[]);
        }),
      (err: unknown) => batch.forEach((entry) => entry.settle(err as Error)),
    );
  }

  /**
   * The call was refused for want of an answer, so it must not count: a
   * script already written to a paused Redis still runs when Redis resumes.
   * The mark makes a late run charge nothing and the ZREM undoes an early
   * one; sent on the same connection, they follow the script. Best effort:
   * with the connection gone there is nothing to send them on.
   */
  #cancel(id: string, members: string[], counters: string[], windowMs: number): void {
    const marked = this.#redis.set(cancelKey(this.#prefix, id), '1', 'PX', Math.max(windowMs, 60_000));
    const undone = counters.map((key) => this.#redis.zrem(key, ...members));
    void Promise.all([marked, ...undone]).catch(() => undefined);
  }

  /** How many calls each counter holds in its window now, without charging (for `policy explain`). */
  async peek(limits: readonly Readonly<Limit>[], caller: Caller): Promise<CounterState[]> {
    const [seconds = '0', micros = '0'] = await this.#redis.time();
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    return Promise.all(
      limits.map(async (limit) => ({
        limit,
        count: await this.#redis.zcount(counterKey(this.#prefix, limit, caller), `(${now - limit.window_ms}`, '+inf'),
      })),
    );
  }
}
