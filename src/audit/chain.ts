import { createHash } from 'node:crypto';
import { canonicalDigest } from '../canonical-json.js';
import { AuditEventSchema, type AuditEvent } from './event.js';

export const GENESIS = '0'.repeat(64);

/** Where the chain stands: an event's place and hash (seq 0 and 64 zeros before the first). */
export interface ChainHead {
  seq: number;
  hash: string;
}

export const EMPTY_HEAD: ChainHead = { seq: 0, hash: GENESIS };

/** An event before it joins the chain: the append script adds `seq`, `prev` and `hash`. */
export type DraftEvent = Omit<AuditEvent, 'id' | 'seq' | 'prev' | 'hash'>;

/** SHA-256 over the canonical JSON of what an event says: every field but its place in the chain and its stream id. */
export function contentHash(event: Record<string, unknown>): string {
  const { id: _id, seq: _seq, prev: _prev, hash: _hash, ...content } = event;
  return canonicalDigest(content);
}

/** The chain link, as `append.lua` computes it: SHA-256 of `<seq>:<prev>:<content hash>`. */
export function linkHash(seq: number, prev: string, content: string): string {
  return createHash('sha256').update(`${seq}:${prev}:${content}`).digest('hex');
}

/** `'<seq> <hash>'` as the head and trim-mark keys hold it. */
export function decodeHead(text: string | null): ChainHead {
  if (text === null || text === '') return EMPTY_HEAD;
  const [seq = '', hash = ''] = text.split(' ');
  return { seq: Number(seq), hash };
}

/** One stored event as read back: its raw JSON and where it came from (a stream id, a file line). */
export interface StoredEvent {
  where: string;
  raw: string;
  /** Its stream id, when read from Redis. */
  id?: string;
}

export type ChainProblem = { where: string; seq?: number; message: string };

export interface ChainReport {
  checked: number;
  first?: number;
  last?: number;
  problem?: ChainProblem;
}

/**
 * Walks events in stored order and names the first one that breaks the
 * chain: content changed (its hash no longer matches), one removed (a seq
 * skipped, and the next event's `prev` is not the hash before it), events
 * reordered, or a line that is not an event at all. `start` is where the
 * kept events begin: nothing before the first (seq 1), or the last event
 * retention trimmed. Fed one event at a time, so a long trail is read in pages.
 * `observe` sees each event that passed, and may name what else is wrong
 * with it (a checkpoint's signature): that stops the walk the same way.
 */
export class ChainCheck {
  #expected: ChainHead;
  #checked = 0;
  #first: number | undefined;
  #problem: ChainProblem | undefined;
  readonly #observe: ((event: AuditEvent) => string | undefined) | undefined;

  constructor(start: ChainHead = EMPTY_HEAD, observe?: (event: AuditEvent) => string | undefined) {
    this.#expected = start;
    this.#observe = observe;
  }

  /** Checks the next event; false once a problem is found (later events are not looked at). */
  add(stored: StoredEvent): boolean {
    if (this.#problem) return false;
    this.#problem = this.#check(stored);
    return this.#problem === undefined;
  }

  report(): ChainReport {
    const span = this.#first === undefined ? {} : { first: this.#first, last: this.#expected.seq };
    return { checked: this.#checked, ...span, ...(this.#problem && { problem: this.#problem }) };
  }

  #check(stored: StoredEvent): ChainProblem | undefined {
    const parsed = parseStored(stored);
    if ('message' in parsed) return parsed;
    const { event, json } = parsed;
    const expected = this.#expected;
    const fail = (message: string): ChainProblem => ({
      where: stored.where,
      seq: event.seq,
      message: `${describeEvent(stored.where, event)} ${message}`,
    });
    // Hashed as stored, not as parsed: a field the schema does not know is content too.
    if (linkHash(event.seq, event.prev, contentHash(json)) !== event.hash)
      return fail('was changed: its content no longer matches its hash');
    if (event.seq <= expected.seq) return fail(`is out of order: it comes after seq ${expected.seq}`);
    if (event.seq > expected.seq + 1) {
      const gap = event.seq - expected.seq - 1;
      return fail(
        `follows seq ${expected.seq}: ${gap === 1 ? `event seq ${expected.seq + 1} was` : `events seq ${expected.seq + 1}–${event.seq - 1} were`} removed or moved`,
      );
    }
    if (event.prev !== expected.hash)
      return fail("does not follow the event before it (its prev is not that event's hash): an earlier event was changed or replaced");
    const observed = this.#observe?.(event);
    if (observed !== undefined) return fail(observed);
    this.#first ??= event.seq;
    this.#checked += 1;
    this.#expected = { seq: event.seq, hash: event.hash };
    return undefined;
  }
}

function parseStored(stored: StoredEvent): { event: AuditEvent; json: Record<string, unknown> } | ChainProblem {
  let json: unknown;
  try {
    json = JSON.parse(stored.raw);
  } catch {
    return { where: stored.where, message: `${stored.where} is not valid JSON: it was changed or cut` };
  }
  const parsed = AuditEventSchema.safeParse(json);
  if (!parsed.success)
    return {
      where: stored.where,
      message: `${stored.where} is not an audit event (${parsed.error.issues[0]?.path.join('.') ?? ''}: ${parsed.error.issues[0]?.message ?? ''}): it was changed`,
    };
  return { event: parsed.data, json: json as Record<string, unknown> };
}

/** `event seq 42 (stream id 1764…-0, approved fixture/echo at 2026-…)`: enough to find it. */
function describeEvent(where: string, event: AuditEvent): string {
  const subject = [event.event, event.server && event.tool ? `${event.server}/${event.tool}` : undefined, event.approval_id]
    .filter(Boolean)
    .join(' ');
  return `event seq ${event.seq} (${where}, ${subject} at ${event.time})`;
}
