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
/** How often the one backstop timer looks for requests past it. */
const BACKSTOP_SWEEP_MS = 250;
/**
 * Requests this instance ends at once. When thousands of agents go away
 * together (a proxy restarts, a network drops) their withdrawals would
 * otherwise all be sent in one burst, and the last replies come back after
 * the Redis timeout: those calls were lost track of instead of withdrawn.
 */
const MAX_ENDING = 128;

/**
 * One held call. It is its signal's abort listener itself (`handleEvent`),
 * so a waiting call costs this object and its promise, not a closure and a
 * timer of its own.
 */
class Waiter {
  constructor(
    readonly request: ApprovalRequest,
    readonly signal: AbortSignal,
    readonly withdrawReason: (signal: AbortSignal) => string,
    /** performance.now() past which this instance ends the request itself (once: Infinity when tried). */
    public backstopAt: number,
    readonly resolve: (status: ApprovalStatus) => void,
    readonly reject: (err: Error) => void,
    readonly onAbort: (waiter: Waiter) => void,
  ) {}

  handleEvent(): void {
    this.onAbort(this);
  }
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
  #ending = 0;
  readonly #waitingToEnd: (() => void)[] = [];
  /** Requests whose calls ended [UNAVAILABLE] while Redis was gone: withdrawn once it is back. */
  readonly #abandoned = new Set<string>();
  #leaseTimer: NodeJS.Timeout | undefined;
  #backstopTimer: NodeJS.Timeout | undefined;
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
    held.#backstopTimer = setInterval(() => held.#sweepBackstops(), BACKSTOP_SWEEP_MS);
    held.#backstopTimer.unref();
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
  wait(request: ApprovalRequest, signal: AbortSignal, withdrawReason: (signal: AbortSignal) => string): Promise<ApprovalStatus> {
    return new Promise<ApprovalStatus>((resolve, reject) => {
      const backstopAt = performance.now() + request.expires_at - request.created_at + EXPIRY_BACKSTOP_MS;
      const waiter = new Waiter(request, signal, withdrawReason, backstopAt, resolve, reject, this.#onAbort);
      this.#waiters.set(request.id, waiter);
      if (signal.aborted) this.#onAbort(waiter);
      else signal.addEventListener('abort', waiter, { once: true });
    });
  }

  /** Withdraws every request held here (at shutdown): each waiting call ends withdrawn with `reason`. */
  async withdrawAll(reason: string): Promise<void> {
    await Promise.all([...this.#waiters.keys()].map((id) => this.#end(id, 'withdrawn', reason)));
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#leaseTimer);
    clearInterval(this.#backstopTimer);
    clearTimeout(this.#lostTimer);
    this.#options.redis.off('ready', this.#onRequestClientBack);
    await this.#options.redis.del(this.#options.keys.lease(this.#instance)).catch(() => undefined);
    this.#subscriber.disconnect();
  }

  async #renewLease(): Promise<void> {
    await this.#options.redis.set(this.#options.keys.lease(this.#instance), String(process.pid), 'PX', this.#leaseMs);
  }

  readonly #onAbort = (waiter: Waiter) => void this.#end(waiter.request.id, 'withdrawn', waiter.withdrawReason(waiter.signal));

  #sweepBackstops(): void {
    const now = performance.now();
    for (const waiter of this.#waiters.values()) {
      if (waiter.backstopAt > now) continue;
      // Tried once, as the worker's own expiry is the rule: Redis's clock may say it is early yet ('early').
      waiter.backstopAt = Infinity;
      void this.#end(waiter.request.id, 'expired', 'nobody decided in time');
    }
  }

  #resolve(waiter: Waiter, status: ApprovalStatus): void {
    this.#forget(waiter);
    waiter.resolve(status);
  }

  #reject(waiter: Waiter, err: Error): void {
    this.#forget(waiter);
    waiter.reject(err);
  }

  #forget(waiter: Waiter): void {
    waiter.signal.removeEventListener('abort', waiter);
    if (this.#waiters.get(waiter.request.id) === waiter) this.#waiters.delete(waiter.request.id);
  }

  /** Ends a held request, at most MAX_ENDING at a time; each one's Redis timeout counts from when it is sent. */
  async #end(id: string, to: 'expired' | 'withdrawn', reason: string): Promise<void> {
    if (!this.#waiters.has(id)) return;
    if (this.#ending < MAX_ENDING) this.#ending++;
    else await new Promise<void>((go) => this.#waitingToEnd.push(go));
    try {
      const waiter = this.#waiters.get(id);
      if (!waiter) return;
      const step = await this.#options.store.settle(id, to, reason);
      if (step.code === 'missing')
        this.#reject(waiter, new AirlockError(ErrorCode.ApprovalNotFound, `approval request ${id} is gone from Redis`));
      else if (step.status.state !== 'pending') this.#resolve(waiter, step.status);
    } catch (err) {
      const waiter = this.#waiters.get(id);
      if (waiter) this.#reject(waiter, err as Error);
    } finally {
      // The slot passes to the next in line, if any, so no newcomer slips past MAX_ENDING meanwhile.
      const next = this.#waitingToEnd.shift();
      if (next) next();
      else this.#ending--;
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
    if (status.state !== 'pending') this.#resolve(waiter, status);
  }

  #onLost(): void {
    if (this.#closed || this.#lostTimer) return;
    this.#lostTimer = setTimeout(() => {
      this.#lostTimer = undefined;
      if (this.#subscriber.status === 'ready') return;
      if (this.#waiters.size > 0) this.#instance = randomUUID();
      for (const [id, waiter] of this.#waiters) {
        this.#abandoned.add(id);
        this.#reject(
          waiter,
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
        const waiter = waiters[i];
        if (waiter && status && status.state !== 'pending') this.#resolve(waiter, status);
      });
    } catch (err) {
      this.#options.logger.warn({ err: errorMessage(err), held: waiters.length }, 'could not re-read held approval requests');
    }
  }
}
