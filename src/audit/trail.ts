import type { ArgumentsDigest } from '../arguments-digest.js';
import { readFileSync } from 'node:fs';
import type { Redis, Result } from 'ioredis';
import type { Logger } from 'pino';
import { AirlockError, ErrorCode } from '../errors.js';
import type { Redactor } from '../redact.js';
import { redisGraceMs, withDeadline } from '../redis/index.js';
import { contentHash, decodeHead, linkHash, type DraftEvent } from './chain.js';
import type { AuditInput, AuditRecorder } from './event.js';
import { auditKeys, type AuditKeys } from './keys.js';
import { shapeEvent } from './shape.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    airlockAuditAppend(stream: string, head: string, trimmed: string, ...args: string[]): Result<string[], Context>;
  }
}

export interface AuditTrailOptions {
  /** The request-path client (fails fast while Redis is down). */
  redis: Redis;
  prefix: string;
  redisTimeoutMs: number;
  /**
   * How long `commit` waits for its event to be stored, queueing included.
   * Default `redisGraceMs` (max(1 s, 4 × redisTimeoutMs)): a committed event may wait behind an
   * append already under way before its own is sent, and a held call that
   * waited minutes for a person can wait a second for its record rather than
   * be refused while Redis is healthy but busy.
   */
  commitTimeoutMs?: number;
  /** Events older than this are trimmed. */
  retentionMs: number;
  maxEvents?: number;
  maxArgumentsBytes: number;
  redactor: Redactor;
  /** Names this process in its events (host and pid). */
  instance: string;
  /** The deployment's keyed digest of arguments (see argumentsDigest). */
  digest: ArgumentsDigest;
  logger: Logger;
  now?: () => number;
  /** Most events kept waiting while Redis is unreachable; beyond it the oldest are dropped (and logged as lost). */
  maxQueued?: number;
}

interface Queued {
  input: AuditInput;
  time: number;
  /** Set by `commit`: told once the event is stored, or that it could not be. */
  settle?: (err?: Error) => void;
  /** Its committer was told it failed and went on as if it was not stored: not written later either (unless already on its way). */
  abandoned?: boolean;
}

// Redis scripts have no SHA-256: the append script runs after one of ours.
const APPEND = ['sha256', 'append'].map((name) => readFileSync(new URL(`./${name}.lua`, import.meta.url), 'utf8')).join('\n');
/** Events per append: one script call, one round trip. */
const BATCH = 256;
const RETRY_MS = { first: 250, max: 5_000 };
/** How long an event may wait for others to share its append: one round trip per call at most, far fewer under load. */
const LINGER_MS = 25;
/** Retention is applied at most this often by one instance. */
const TRIM_EVERY_MS = 1_000;

/**
 * The audit trail's writer: one Redis stream shared by every instance,
 * each event chained to the one before by SHA-256. Events are queued in
 * order and appended in batches after the current tick, so an allowed call
 * does not wait for its event; `commit` waits (the `approved` event comes
 * before the call it releases). Linking happens inside the append script,
 * so instances never wait for one another.
 */
export class AuditTrail implements AuditRecorder {
  readonly #options: AuditTrailOptions;
  readonly #keys: AuditKeys;
  readonly #now: () => number;
  #queue: Queued[] = [];
  #draining: Promise<void> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #linger: NodeJS.Timeout | undefined;
  /** The chain head as this instance last wrote it ('<seq> <hash>'), so it can link its next batch itself. */
  #head = '';
  #trimmedAt = 0;
  #failures = 0;
  #dropped = 0;

  constructor(options: AuditTrailOptions) {
    this.#options = options;
    this.#keys = auditKeys(options.prefix);
    this.#now = options.now ?? Date.now;
    options.redis.defineCommand('airlockAuditAppend', { lua: APPEND, numberOfKeys: 3 });
  }

  record(input: AuditInput): void {
    this.#enqueue({ input, time: this.#now() });
  }

  commit(input: AuditInput): Promise<void> {
    // A call is waiting on this one: try now rather than at the end of a backoff.
    if (this.#retry) {
      clearTimeout(this.#retry);
      this.#retry = undefined;
    }
    const entry: Queued = { input, time: this.#now() };
    const stored = new Promise<void>((resolve, reject) => {
      entry.settle = (err) => (err ? reject(err) : resolve());
    });
    this.#enqueue(entry, true);
    const ms = this.#options.commitTimeoutMs ?? redisGraceMs(this.#options.redisTimeoutMs);
    return withDeadline(stored, ms, `writing the ${input.event} audit event`).catch((err: unknown) => {
      entry.abandoned = true;
      throw err;
    });
  }

  /** Resolves once every event queued so far is stored; rejects when Redis cannot take them within `ms`. */
  async flush(ms = this.#options.redisTimeoutMs): Promise<void> {
    if (this.#queue.length === 0) return;
    const last = this.#queue.at(-1);
    if (!last) return;
    await withDeadline(
      new Promise<void>((resolve, reject) => {
        const earlier = last.settle;
        last.settle = (err) => {
          earlier?.(err);
          if (err) reject(err);
          else resolve();
        };
        this.#kick(true);
      }),
      ms,
      'writing queued audit events',
    );
  }

  /** Writes what is queued (bounded by `ms`), then stops retrying; what is still queued is logged as lost. */
  async close(ms = 2_000): Promise<void> {
    await this.flush(ms).catch(() => undefined);
    clearTimeout(this.#retry);
    clearTimeout(this.#linger);
    if (this.#queue.length > 0) this.#options.logger.error({ lost: this.#queue.length }, 'audit events could not be written before shutdown');
  }

  #enqueue(entry: Queued, urgent = false): void {
    const limit = this.#options.maxQueued ?? 10_000;
    if (this.#queue.length >= limit) {
      const lost = this.#queue.shift();
      lost?.settle?.(new AirlockError(ErrorCode.RedisUnavailable, 'the audit queue overflowed while Redis was unreachable'));
      this.#dropped += 1;
      if (this.#dropped === 1 || this.#dropped % 1_000 === 0) this.#options.logger.error({ dropped: this.#dropped }, 'audit events lost: Redis has been unreachable and the queue is full');
    }
    this.#queue.push(entry);
    this.#kick(urgent);
  }

  /** Starts an append soon (after the current tick when `urgent`, else after a short linger); one runs at a time. */
  #kick(urgent = false): void {
    if (this.#draining || this.#retry) return;
    if (!urgent) {
      this.#linger ??= setTimeout(() => {
        this.#linger = undefined;
        this.#kick(true);
      }, LINGER_MS);
      return;
    }
    clearTimeout(this.#linger);
    this.#linger = undefined;
    // After the current tick: the call's answer goes out first.
    this.#draining = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#drain());
  }

  async #drain(): Promise<void> {
    try {
      for (;;) {
        // An abandoned event is dropped, and whoever waits on it (a flush) is told it is dealt with.
        for (const entry of this.#queue) if (entry.abandoned) entry.settle?.();
        this.#queue = this.#queue.filter((entry) => !entry.abandoned);
        if (this.#queue.length === 0) return;
        const batch = this.#queue.slice(0, BATCH);
        try {
          await this.#append(batch);
        } catch (err) {
          this.#failed(batch, err as Error);
          return;
        }
        this.#queue.splice(0, batch.length);
        this.#failures = 0;
        for (const entry of batch) entry.settle?.();
      }
    } finally {
      this.#draining = undefined;
    }
  }

  #failed(batch: Queued[], err: Error): void {
    this.#failures += 1;
    this.#head = '';
    // The events stay queued, in order; only their waiters hear of the failure now.
    for (const entry of batch) {
      entry.settle?.(err);
      delete entry.settle;
    }
    const delay = Math.min(RETRY_MS.max, RETRY_MS.first * 2 ** (this.#failures - 1));
    if (this.#failures === 1 || this.#failures % 20 === 0) this.#options.logger.error({ err: err.message, queued: this.#queue.length, retry_ms: delay }, 'audit events could not be written; retrying');
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#kick(true);
    }, delay);
    this.#retry.unref();
  }

  async #append(batch: Queued[]): Promise<void> {
    const { redis, redisTimeoutMs, retentionMs, maxEvents } = this.#options;
    // Linked here to the head this instance last saw; the script links them itself when another instance appended since.
    let { seq, hash: prev } = decodeHead(this.#head);
    const args = batch.flatMap((entry) => {
      const draft = shapeOrStrip(entry, this.#options);
      const content = contentHash(draft);
      seq += 1;
      prev = linkHash(seq, prev, content);
      return [content, JSON.stringify(draft), prev];
    });
    const now = this.#now();
    const trim = now - this.#trimmedAt >= TRIM_EVERY_MS;
    const minId = trim ? String(Math.max(1, now - retentionMs)) : '0';
    const reply = await step(redis.airlockAuditAppend(this.#keys.stream, this.#keys.head, this.#keys.trimmed, this.#head, minId, String(maxEvents ?? 0), ...args), redisTimeoutMs);
    this.#head = reply[0] ?? '';
    if (trim) this.#trimmedAt = now;
  }
}

/** The event of an input its arguments cannot be shaped from (too deep to walk, say) is stored without them, saying so: one bad event must not hold up the queue behind it. */
function shapeOrStrip(entry: Queued, options: AuditTrailOptions): DraftEvent {
  try {
    return shapeEvent(entry.input, entry.time, options);
  } catch (err) {
    const { args: _dropped, ...rest } = entry.input;
    const why = `the arguments could not be recorded: ${(err as Error).message}`;
    options.logger.error({ event: entry.input.event, request_id: entry.input.request_id, err: (err as Error).message }, 'audit event stored without its arguments');
    return shapeEvent({ ...rest, detail: rest.detail === undefined ? why : `${rest.detail}; ${why}` }, entry.time, options);
  }
}

async function step<T>(work: Promise<T>, ms: number): Promise<T> {
  try {
    return await withDeadline(work, ms, 'appending audit events');
  } catch (err) {
    if (err instanceof AirlockError) throw err;
    throw new AirlockError(ErrorCode.RedisUnavailable, `appending audit events: ${(err as Error).message}`, { cause: err });
  }
}
