import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Limit } from '../policy/index.js';
import { LuaScript, withDeadline } from '../redis/index.js';
import { cancelKey, counterKey, DEFAULT_PREFIX, type Caller } from './keys.js';

// KEYS, then ARGV, as charge.lua's header lists them: a counter and a max and window for each limit, so no fixed key count.
const CHARGE_NAME = 'airlockCharge';
const CHARGE = new LuaScript<number[], ChargeKeys, ChargeArgs>({
  name: CHARGE_NAME,
  file: new URL('./charge.lua', import.meta.url),
});

export type Charge =
  | { admitted: true; counts: number[] }
  | {
      admitted: false;
      limit: Readonly<Limit>;
      /** When the next call would be admitted; undefined when `max` is 0 and none ever is. */
      retry_after_ms: number | undefined;
      count: number;
    };

type ChargeKeys = [cancelMark: string, ...counters: string[]];
type ChargeArgs = [member: string, ...maxThenWindow: number[]];

interface Queued {
  keys: ChargeKeys;
  args: ChargeArgs;
  settle(err: Error | null, reply?: number[]): void;
}

export interface CounterState {
  limit: Readonly<Limit>;
  count: number;
}

/**
 * Rate-limit counters in Redis, shared by every gateway instance. A call is
 * charged against all of its limits in one script, so either every counter
 * admits it and counts it, or none is touched.
 *
 * Charges asked for in one turn of the event loop go to Redis together, one
 * script call each in one pipeline: one socket write and one read for all of
 * them instead of one each, which is most of what a charge costs the process
 * (see bench:proxy). Each keeps its own reply and deadline, so batching
 * changes when a charge is sent, by at most one turn, never what it answers.
 */
export class RateLimiter {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #chargeScript: ReturnType<typeof CHARGE.define>;
  #queued: Queued[] = [];

  constructor(redis: Redis, options: { prefix?: string; timeoutMs?: number } = {}) {
    this.#redis = redis;
    this.#prefix = options.prefix ?? DEFAULT_PREFIX;
    this.#timeoutMs = options.timeoutMs ?? 500;
    this.#chargeScript = CHARGE.define(redis);
  }

  async charge(limits: readonly Readonly<Limit>[], caller: Caller): Promise<Charge> {
    if (limits.length === 0) return { admitted: true, counts: [] };
    const member = randomUUID();
    const counters = limits.map((l) => counterKey(this.#prefix, l, caller));
    const keys: ChargeKeys = [cancelKey(this.#prefix, member), ...counters];
    const args: ChargeArgs = [member, ...limits.flatMap((l) => [l.max, l.window_ms])];
    let reply: number[];
    try {
      reply = await withDeadline(this.#send(keys, args), this.#timeoutMs, 'charging rate limits');
    } catch (err) {
      this.#cancel(member, counters, Math.max(...limits.map((l) => l.window_ms)));
      throw err;
    }
    if (reply[0] === 1) return { admitted: true, counts: reply.slice(1) };
    const [, index = 1, retry = -1, count = 0] = reply;
    return { admitted: false, limit: limits[index - 1] as Readonly<Limit>, retry_after_ms: retry < 0 ? undefined : retry, count };
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
  #cancel(member: string, counters: string[], windowMs: number): void {
    const marked = this.#redis.set(cancelKey(this.#prefix, member), '1', 'PX', Math.max(windowMs, 60_000));
    const undone = counters.map((key) => this.#redis.zrem(key, member));
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
