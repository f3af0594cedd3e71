import type { Redis } from 'ioredis';
import { AirlockError, ErrorCode, errorMessage } from '../errors.js';
import { withDeadline } from '../redis/index.js';
import { ChainCheck, decodeHead, type ChainReport, type StoredEvent } from './chain.js';
import { CheckpointCheck, endOfTrail, type CheckpointReport, type VerifyOptions } from './checkpoint-check.js';
import { AuditEventSchema, type AuditEvent } from './event.js';
import { jsonLine } from './format.js';
import { auditKeys, type AuditKeys } from './keys.js';
import { matchesQuery, type AuditQuery } from './query.js';

/** Entries read per XRANGE. */
const PAGE = 500;
/** Most entries one query looks at: past it, the page ends early with a cursor to go on from. */
const SCAN_LIMIT = 100_000;

export interface AuditPage {
  events: AuditEvent[];
  /** Pass as `cursor` for the next page; absent when the range is exhausted. */
  next?: string;
}

export interface VerifyReport extends ChainReport {
  /** The seq of the last event retention trimmed, when it did. */
  trimmedThrough?: number;
  checkpoints: CheckpointReport;
}

/** Reads the audit stream: queries, exports, verification. */
export class AuditReader {
  readonly #redis: Redis;
  readonly #keys: AuditKeys;
  readonly #timeoutMs: number;

  constructor(redis: Redis, prefix: string, timeoutMs: number) {
    this.#redis = redis;
    this.#keys = auditKeys(prefix);
    this.#timeoutMs = timeoutMs;
  }

  async query(query: AuditQuery): Promise<AuditPage> {
    const events: AuditEvent[] = [];
    let scanned = 0;
    for await (const entry of this.entries(query)) {
      scanned += 1;
      const event = parseEvent(entry);
      if (matchesQuery(event, query)) events.push(event);
      if (events.length === query.limit || scanned === SCAN_LIMIT) {
        const more = await this.#after(entry.id ?? '', query);
        return { events, ...(more && entry.id !== undefined && { next: entry.id }) };
      }
    }
    return { events };
  }

  /** Every event the query selects, in chain order (for export: no limit), with its JSON line. */
  async *matching(query: AuditQuery): AsyncGenerator<{ event: AuditEvent; line: string }> {
    for await (const entry of this.entries(query)) {
      const event = parseEvent(entry);
      if (matchesQuery(event, query)) yield { event, line: jsonLine(entry.id ?? '', entry.raw) };
    }
  }

  /** Raw entries within the query's time range, after its cursor, paged from Redis. */
  async *entries(range: Pick<AuditQuery, 'since' | 'until' | 'cursor'> = {}): AsyncGenerator<StoredEvent> {
    let start = range.cursor === undefined ? (range.since === undefined ? '-' : String(Math.floor(range.since))) : `(${range.cursor}`;
    const end = range.until === undefined ? '+' : String(Math.floor(range.until));
    for (;;) {
      const page = await this.#step(this.#redis.xrange(this.#keys.stream, start, end, 'COUNT', PAGE));
      for (const [id, fields] of page) yield { where: `stream id ${id}`, raw: fieldE(fields), id };
      const lastId = page.at(-1)?.[0];
      if (page.length < PAGE || lastId === undefined) return;
      start = `(${lastId}`;
    }
  }

  /**
   * Walks the whole stream from where retention left it, up to the head,
   * which names the last event written (unless it was reset too: what the
   * checkpoints are for).
   */
  async verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    const [trimmedText, headText] = await this.#step(Promise.all([this.#redis.get(this.#keys.trimmed), this.#redis.get(this.#keys.head)]));
    const trimmed = decodeHead(trimmedText);
    const checkpoints = new CheckpointCheck(options.checkpoints, trimmed);
    const check = new ChainCheck(trimmed, (event) => checkpoints.observe(event));
    for await (const entry of this.entries()) if (!check.add(entry)) break;
    const report = check.report();
    const head = decodeHead(headText);
    const last = report.last ?? trimmed.seq;
    if (!report.problem && head.seq > last) {
      const missing = head.seq === last + 1 ? `event seq ${head.seq} was` : `events seq ${last + 1}–${head.seq} were`;
      report.problem = {
        where: 'the end of the stream',
        seq: last + 1,
        message: `the trail ends at seq ${last} but ${head.seq} events were written: ${missing} removed`,
      };
    }
    return {
      ...endOfTrail(report, checkpoints, last, options.asOf ?? { ms: Date.now(), now: true }),
      ...(trimmed.seq > 0 && { trimmedThrough: trimmed.seq }),
    };
  }

  async #after(id: string, query: AuditQuery): Promise<boolean> {
    const end = query.until === undefined ? '+' : String(Math.floor(query.until));
    const next = await this.#step(this.#redis.xrange(this.#keys.stream, `(${id}`, end, 'COUNT', 1));
    return next.length > 0;
  }

  #step<T>(work: Promise<T>): Promise<T> {
    return withDeadline(work, this.#timeoutMs, 'reading the audit trail').catch((err: unknown) => {
      if (err instanceof AirlockError) throw err;
      throw new AirlockError(ErrorCode.RedisUnavailable, `reading the audit trail: ${errorMessage(err)}`, { cause: err });
    });
  }
}

function fieldE(fields: string[]): string {
  const at = fields.indexOf('e');
  return at === -1 ? '' : (fields[at + 1] ?? '');
}

/** An event as stored, with its stream id. One that does not read as an event stops the query: hiding it would hide tampering. */
function parseEvent(entry: StoredEvent): AuditEvent {
  let parsed;
  try {
    parsed = AuditEventSchema.safeParse(JSON.parse(entry.raw));
  } catch {
    parsed = undefined;
  }
  if (!parsed?.success)
    throw new AirlockError(
      ErrorCode.AuditBroken,
      `the audit event at ${entry.where} is damaged (not a valid event); run airlock audit verify`,
    );
  return { ...(entry.id !== undefined && { id: entry.id }), ...parsed.data };
}
