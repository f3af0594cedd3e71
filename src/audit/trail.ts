import type { ArgumentsDigest } from '../arguments-digest.js';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AirlockError, ErrorCode, errorMessage } from '../errors.js';
import type { Redactor } from '../redact.js';
import { LuaScript, redisGraceMs, withDeadline } from '../redis/index.js';
import { contentHash, decodeHead, linkHash, type DraftEvent } from './chain.js';
import type { CheckpointSettings } from './checkpoint.js';
import { CheckpointSigner, type CheckpointReply } from './checkpoint-signer.js';
import type { AuditInput, AuditRecorder } from './event.js';
import { auditKeys, type AuditKeys } from './keys.js';
import { shapeEvent } from './shape.js';

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
  /** With `audit.anchor_key`: this process signs checkpoints, sharing the work with every other that does. */
  checkpoints?: CheckpointSettings;
}

interface Waiter {
  /** Set by `commit` and `flush`: told once the entry is stored, or that it could not be. */
  settle?: (err?: Error) => void;
  /** Its committer was told it failed and went on as if it was not stored: not written later either (unless already on its way). */
  abandoned?: boolean;
}

/** What waits to be appended: an event; a checkpoint this instance signed; or only a question whether a checkpoint is due. */
type Queued = Waiter &
  ({ kind: 'event'; input: AuditInput; time: number } | { kind: 'checkpoint'; draft: DraftEvent } | { kind: 'poll'; force: boolean });

// KEYS, then ARGV, as append.lua's header lists them.
const APPEND = new LuaScript<
  string[],
  [stream: string, head: string, trimmed: string, checkpoint: string, checkpointClaim: string],
  [linkedTo: string, minId: string, maxEvents: string, checkpointRequest: string, covers: string, ...triples: string[]]
>({
  name: 'airlockAuditAppend',
  file: new URL('./append.lua', import.meta.url),
  numberOfKeys: 5,
});
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
 * so instances never wait for one another. With checkpoint settings, the
 * script's reply says when this instance is to sign the head (see
 * append.lua); an idle instance asks every quarter interval, and a closing
 * one signs the head it leaves, so a stopped trail ends covered.
 */
export class AuditTrail implements AuditRecorder {
  readonly #options: AuditTrailOptions;
  readonly #keys: AuditKeys;
  readonly #now: () => number;
  readonly #appendScript: ReturnType<typeof APPEND.define>;
  #queue: Queued[] = [];
  #draining: Promise<void> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #linger: NodeJS.Timeout | undefined;
  /** The chain head as this instance last wrote it ('<seq> <hash>'), so it can link its next batch itself. */
  #head = '';
  #trimmedAt = 0;
  #failures = 0;
  #dropped = 0;
  readonly #signer: CheckpointSigner | undefined;
  #idle: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: AuditTrailOptions) {
    this.#options = options;
    this.#keys = auditKeys(options.prefix);
    this.#now = options.now ?? Date.now;
    this.#appendScript = APPEND.define(options.redis);
    if (options.checkpoints) {
      this.#signer = new CheckpointSigner(options.checkpoints, options.instance, options.logger);
      // An idle gateway still signs every interval: a fresh signed time is what tells "nothing happened" from "the end was cut".
      this.#idle = setInterval(
        () => {
          if (this.#queue.length === 0 && !this.#draining && !this.#retry) this.#enqueue({ kind: 'poll', force: false }, true);
        },
        Math.max(250, options.checkpoints.everyMs / 4),
      );
      this.#idle.unref();
    }
  }

  record(input: AuditInput): void {
    this.#enqueue({ kind: 'event', input, time: this.#now() });
  }

  commit(input: AuditInput): Promise<void> {
    // A call is waiting on this one: try now rather than at the end of a backoff.
    if (this.#retry) {
      clearTimeout(this.#retry);
      this.#retry = undefined;
    }
    const entry: Queued = { kind: 'event', input, time: this.#now() };
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

  /** Writes what is queued (bounded by `ms`) and a checkpoint over it, then stops retrying; what is still queued is logged as lost. */
  async close(ms = 2_000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#idle);
    const end = this.#now() + ms;
    await this.flush(ms).catch(() => undefined);
    if (this.#signer) {
      this.#enqueue({ kind: 'poll', force: true }, true);
      // The first flush ends with the claim, which queues the checkpoint; the second writes it.
      for (let i = 0; i < 2; i++) await this.flush(Math.max(1, end - this.#now())).catch(() => undefined);
    }
    clearTimeout(this.#retry);
    clearTimeout(this.#linger);
    const lost = this.#queue.filter((entry) => entry.kind === 'event').length;
    if (lost > 0) this.#options.logger.error({ lost }, 'audit events could not be written before shutdown');
  }

  #enqueue(entry: Queued, urgent = false): void {
    const limit = this.#options.maxQueued ?? 10_000;
    if (this.#queue.length >= limit) {
      const lost = this.#queue.shift();
      lost?.settle?.(new AirlockError(ErrorCode.RedisUnavailable, 'the audit queue overflowed while Redis was unreachable'));
      this.#dropped += 1;
      if (this.#dropped === 1 || this.#dropped % 1_000 === 0)
        this.#options.logger.error({ dropped: this.#dropped }, 'audit events lost: Redis has been unreachable and the queue is full');
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
        let reply: CheckpointReply;
        try {
          reply = await this.#append(batch);
        } catch (err) {
          this.#failed(batch, err as Error);
          return;
        }
        this.#queue.splice(0, batch.length);
        this.#failures = 0;
        // Queued before the batch's waiters hear of it, so a flush that follows (close) waits for the checkpoint too.
        const checkpoint = this.#signer?.after(
          decodeHead(this.#head),
          batch.filter((entry) => entry.kind !== 'poll').length,
          reply,
          this.#now(),
        );
        if (checkpoint) this.#queue.unshift({ kind: 'checkpoint', draft: checkpoint });
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
    // A checkpoint is signed over the head as it was: once that is stale another instance (or this one, later) signs afresh.
    this.#queue = this.#queue.filter((entry) => entry.kind === 'event');
    const delay = Math.min(RETRY_MS.max, RETRY_MS.first * 2 ** (this.#failures - 1));
    if (this.#failures === 1 || this.#failures % 20 === 0)
      this.#options.logger.error(
        { err: err.message, queued: this.#queue.length, retry_ms: delay },
        'audit events could not be written; retrying',
      );
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#kick(true);
    }, delay);
    this.#retry.unref();
  }

  async #append(batch: Queued[]): Promise<CheckpointReply> {
    const { redisTimeoutMs, retentionMs, maxEvents } = this.#options;
    const keys = this.#keys;
    // Linked here to the head this instance last saw; the script links them itself when another instance appended since.
    let { seq, hash: prev } = decodeHead(this.#head);
    const args = batch.flatMap((entry) => {
      if (entry.kind === 'poll') return [];
      const draft = entry.kind === 'checkpoint' ? entry.draft : shapeOrStrip(entry, this.#options);
      const content = contentHash(draft);
      seq += 1;
      prev = linkHash(seq, prev, content);
      return [content, JSON.stringify(draft), prev];
    });
    const first = batch[0];
    const covers = first?.kind === 'checkpoint' ? String(first.draft.checkpoint?.seq ?? 0) : '0';
    const claim = this.#signer?.request(batch.some((entry) => entry.kind === 'poll' && entry.force)) ?? '';
    const now = this.#now();
    const trim = now - this.#trimmedAt >= TRIM_EVERY_MS;
    const minId = trim ? String(Math.max(1, now - retentionMs)) : '0';
    const reply = await step(
      this.#appendScript(
        [keys.stream, keys.head, keys.trimmed, keys.checkpoint, keys.checkpointClaim],
        [this.#head, minId, String(maxEvents ?? 0), claim, covers, ...args],
      ),
      redisTimeoutMs,
    );
    this.#head = reply[0] ?? '';
    if (trim) this.#trimmedAt = now;
    return { claimed: reply[1] === '1', newest: Number(reply[2] ?? 0) };
  }
}

/** The event of an input its arguments cannot be shaped from (too deep to walk, say) is stored without them, saying so: one bad event must not hold up the queue behind it. */
function shapeOrStrip(entry: Extract<Queued, { kind: 'event' }>, options: AuditTrailOptions): DraftEvent {
  try {
    return shapeEvent(entry.input, entry.time, options);
  } catch (err) {
    const { args: _dropped, ...rest } = entry.input;
    const why = `the arguments could not be recorded: ${errorMessage(err)}`;
    options.logger.error(
      { event: entry.input.event, request_id: entry.input.request_id, err: errorMessage(err) },
      'audit event stored without its arguments',
    );
    return shapeEvent({ ...rest, detail: rest.detail === undefined ? why : `${rest.detail}; ${why}` }, entry.time, options);
  }
}

async function step<T>(work: Promise<T>, ms: number): Promise<T> {
  try {
    return await withDeadline(work, ms, 'appending audit events');
  } catch (err) {
    if (err instanceof AirlockError) throw err;
    throw new AirlockError(ErrorCode.RedisUnavailable, `appending audit events: ${errorMessage(err)}`, { cause: err });
  }
}
