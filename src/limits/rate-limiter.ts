import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Limit } from '../policy/index.js';
import { LuaScript, withDeadline } from '../redis/index.js';
import { cancelKey, counterKey, DEFAULT_PREFIX, type Caller } from './keys.js';

// KEYS, then ARGV, as charge.lua's header lists them: a counter and a max and window for each limit, so no fixed key count.
const CHARGE = new LuaScript<number[], [cancelMark: string, ...counters: string[]], [member: string, ...maxThenWindow: number[]]>({
  name: 'airlockCharge',
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

export interface CounterState {
  limit: Readonly<Limit>;
  count: number;
}

/**
 * Rate-limit counters in Redis, shared by every gateway instance. A call is
 * charged against all of its limits in one script, so either every counter
 * admits it and counts it, or none is touched.
 */
export class RateLimiter {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #chargeScript: ReturnType<typeof CHARGE.define>;

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
    const keys: [string, ...string[]] = [cancelKey(this.#prefix, member), ...counters];
    const args: [string, ...number[]] = [member, ...limits.flatMap((l) => [l.max, l.window_ms])];
    let reply: number[];
    try {
      reply = await withDeadline(this.#chargeScript(keys, args), this.#timeoutMs, 'charging rate limits');
    } catch (err) {
      this.#cancel(member, counters, Math.max(...limits.map((l) => l.window_ms)));
      throw err;
    }
    if (reply[0] === 1) return { admitted: true, counts: reply.slice(1) };
    const [, index = 1, retry = -1, count = 0] = reply;
    return { admitted: false, limit: limits[index - 1] as Readonly<Limit>, retry_after_ms: retry < 0 ? undefined : retry, count };
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
