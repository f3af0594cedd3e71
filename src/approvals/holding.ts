import { waitingConnection } from '../redis/index.js';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AirlockError, ErrorCode, errorMessage } from '../errors.js';
import type { ApprovalKeys } from './keys.js';
import { parseStatus, type ApprovalRequest, type ApprovalStatus } from './request.js';
import type { ApprovalStore } from './store.js';

/** The holder ends a request itself this long after its timeout, in case no worker is running. */
const EXPIRY_BACKSTOP_MS = 1_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Waiter {
  request: ApprovalRequest;
  resolve(status: ApprovalStatus): void;
  reject(err: Error): void;
}

export interface HeldCallsOptions {
  redis: Redis;
  store: ApprovalStore;
  keys: ApprovalKeys;
  /** How long held calls outlive a lost Redis connection before they end [UNAVAILABLE]. */
  redisGraceMs: number;
  logger: Logger;
}

/**
 * The calls this instance holds, each waiting for its request to end. A
 * decision taken on any instance reaches the holder over Redis pub/sub (no
 * polling); after a reconnect every held request is read again, since
 * messages sent while disconnected are lost. A lease key says this instance
 * is alive, so nobody approves a call that no one holds any more.
 *
 * The lease lives shorter than the grace after which held calls are given up
 * when Redis is lost, so by the time a call is given up its lease has run out
 * (in Redis's own clock, even across a Redis restart), and the instance then
 * takes a new id: an approval arriving once Redis is back finds the old
 * holder gone and withdraws the request, rather than approving a call that
 * nobody will run.
 */
export class HeldCalls {
  readonly #options: HeldCallsOptions;
  readonly #subscriber: Redis;
  readonly #leaseMs: number;
  #instance = randomUUID();
  readonly #waiters = new Map<string, Waiter>();
  /** Requests whose calls ended [UNAVAILABLE] while Redis was gone: withdrawn once it is back. */
  readonly #abandoned = new Set<string>();
  #leaseTimer: NodeJS.Timeout | undefined;
  #lostTimer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(options: HeldCallsOptions, subscriber: Redis) {
    this.#options = options;
    this.#subscriber = subscriber;
    this.#leaseMs = Math.max(300, Math.floor(options.redisGraceMs * 0.75));
  }

  static async start(options: HeldCallsOptions): Promise<HeldCalls> {
    const subscriber = waitingConnection(options.redis);
    const held = new HeldCalls(options, subscriber);
    subscriber.on('message', (_channel: string, message: string) => held.#onMessage(message));
    subscriber.on('close', () => held.#onLost());
    await subscriber.subscribe(options.keys.events);
    subscriber.on('ready', () => void held.#onBack());
    // The two connections come back in either order: whichever is second can withdraw what was given up.
    options.redis.on('ready', held.#onRequestClientBack);
    await held.#renewLease();
    held.#leaseTimer = setInterval(
      () => {
        void held.#renewLease().catch(() => undefined);
        void held.#withdrawAbandoned();
      },
      Math.floor(held.#leaseMs / 3),
    );
    held.#leaseTimer.unref();
    return held;
  }

  /** The id requests held from now on name as their holder. */
  get instance(): string {
    return this.#instance;
  }

  get size(): number {
    return this.#waiters.size;
  }

  /**
   * Resolves with the request's final status: decided, expired, or withdrawn
   * when `signal` aborts (the agent cancelled or went away). Rejects with
   * AIRLOCK_REDIS_UNAVAILABLE when Redis is lost for longer than the grace.
   */
  wait(request: ApprovalRequest, signal: AbortSignal, withdrawReason: () => string): Promise<ApprovalStatus> {
    return new Promise<ApprovalStatus>((resolve, reject) => {
      // Node fires longer timers at once; a request that long-lived relies on the worker alone.
      const backstopMs = Math.min(request.expires_at - request.created_at + EXPIRY_BACKSTOP_MS, MAX_TIMER_MS);
      const backstop = setTimeout(() => void this.#end(request.id, 'expired', 'nobody decided in time'), backstopMs);
      const onAbort = () => void this.#end(request.id, 'withdrawn', withdrawReason());
      const done = () => {
        clearTimeout(backstop);
        signal.removeEventListener('abort', onAbort);
        this.#waiters.delete(request.id);
      };
      this.#waiters.set(request.id, {
        request,
        resolve: (status) => {
          done();
          resolve(status);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      });
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Withdraws every request held here (at shutdown): each waiting call ends withdrawn with `reason`. */
  async withdrawAll(reason: string): Promise<void> {
    await Promise.all([...this.#waiters.keys()].map((id) => this.#end(id, 'withdrawn', reason)));
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#leaseTimer);
    clearTimeout(this.#lostTimer);
    this.#options.redis.off('ready', this.#onRequestClientBack);
    await this.#options.redis.del(this.#options.keys.lease(this.#instance)).catch(() => undefined);
    this.#subscriber.disconnect();
  }

  async #renewLease(): Promise<void> {
    await this.#options.redis.set(this.#options.keys.lease(this.#instance), String(process.pid), 'PX', this.#leaseMs);
  }

  async #end(id: string, to: 'expired' | 'withdrawn', reason: string): Promise<void> {
    const waiter = this.#waiters.get(id);
    if (!waiter) return;
    try {
      const step = await this.#options.store.settle(id, to, reason);
      if (step.code === 'missing') waiter.reject(new AirlockError(ErrorCode.ApprovalNotFound, `approval request ${id} is gone from Redis`));
      else if (step.status.state !== 'pending') waiter.resolve(step.status);
    } catch (err) {
      waiter.reject(err as Error);
    }
  }

  #onMessage(message: string): void {
    let parsed: { id?: unknown } & Record<string, string>;
    try {
      parsed = JSON.parse(message) as typeof parsed;
    } catch {
      return;
    }
    const waiter = typeof parsed.id === 'string' ? this.#waiters.get(parsed.id) : undefined;
    if (!waiter) return;
    let status: ApprovalStatus;
    try {
      status = parseStatus(parsed);
    } catch {
      // A message this version cannot read (an older or newer Airlock sent it): the state hash is the truth.
      void this.#reread([waiter]);
      return;
    }
    if (status.state !== 'pending') waiter.resolve(status);
  }

  #onLost(): void {
    if (this.#closed || this.#lostTimer) return;
    this.#lostTimer = setTimeout(() => {
      this.#lostTimer = undefined;
      if (this.#subscriber.status === 'ready') return;
      if (this.#waiters.size > 0) this.#instance = randomUUID();
      for (const [id, waiter] of this.#waiters) {
        this.#abandoned.add(id);
        waiter.reject(
          new AirlockError(
            ErrorCode.RedisUnavailable,
            `Redis was unreachable for ${this.#options.redisGraceMs} ms while the call waited for approval`,
          ),
        );
      }
    }, this.#options.redisGraceMs);
  }

  // The lease lapsed while Redis was away (and the id may be new): renewed at once, not at the next tick, or a
  // reviewer approving a call held right after would find no lease and have it withdrawn as if this instance had stopped.
  readonly #onRequestClientBack = () => {
    void this.#renewLease().catch(() => undefined);
    void this.#withdrawAbandoned();
  };

  async #withdrawAbandoned(): Promise<void> {
    for (const id of [...this.#abandoned]) {
      this.#abandoned.delete(id);
      await this.#options.store
        .settle(id, 'withdrawn', 'the gateway lost Redis while holding the call and gave up on it')
        .catch(() => this.#abandoned.add(id));
    }
  }

  /** Back after a disconnect: decisions published meanwhile were lost, so read every held request again. */
  async #onBack(): Promise<void> {
    clearTimeout(this.#lostTimer);
    this.#lostTimer = undefined;
    await this.#withdrawAbandoned();
    await this.#reread([...this.#waiters.values()]);
  }

  /** Resolves the waiters whose requests have ended, read from their state hashes. */
  async #reread(waiters: Waiter[]): Promise<void> {
    try {
      const statuses = await this.#options.store.statuses(waiters.map((w) => w.request.id));
      statuses.forEach((status, i) => {
        if (status && status.state !== 'pending') waiters[i]?.resolve(status);
      });
    } catch (err) {
      this.#options.logger.warn({ err: errorMessage(err), held: waiters.length }, 'could not re-read held approval requests');
    }
  }
}
