import { randomUUID } from 'node:crypto';
import type { EventId, EventStore, JSONRPCMessage, StreamId } from '@modelcontextprotocol/server';

/** How much one 2025 session keeps of what it sent, for a client that resumes a stream with `Last-Event-ID`. */
export interface EventBounds {
  maxEvents: number;
  /** Bytes of the events' JSON. */
  maxBytes: number;
}

/**
 * A session's streams are resumed within seconds (a dropped connection, or
 * a call's stream Airlock closed to mirror its upstream's): a few calls'
 * progress and their results fit. A larger result that arrives while its
 * stream is closed cannot be resumed (the client is told so, see below);
 * the bytes bound what an idle session holds: sessions × 4 MiB at most.
 */
export const SESSION_EVENT_BOUNDS: EventBounds = { maxEvents: 1_000, maxBytes: 4 * 1024 * 1024 };

/**
 * The `retry:` a 2025 client is sent with each stream's priming event: how
 * long it waits before resuming a stream that closed before its answer.
 * Airlock closes one only to mirror an upstream that did (once per call),
 * when the result may follow at once, so a second adds little to the call
 * and is as often as any stream of Airlock's makes a client reconnect.
 */
export const RESUME_RETRY_MS = 1_000;

interface StoredEvent {
  id: EventId;
  stream: StreamId;
  /** Order of storing, across the session's streams. */
  seq: number;
  /** The message as JSON, so a later change to the object cannot change what is replayed; empty for a priming event. */
  json: string;
  bytes: number;
}

/**
 * The events one 2025 session sent on its SSE streams, so a client that
 * lost a stream (or whose call's stream Airlock closed) resumes it with
 * `Last-Event-ID` on a GET. Bounded by `bounds`, oldest first. Kept so that
 * a resumption never skips an event silently: for every id still known,
 * every later event of its stream is still here, and an id that is not
 * (evicted, another session's, made up) is answered by the SDK with
 * `400 Invalid event ID format`, which tells the client to give up on that
 * stream. Event ids are random UUIDs, known only to this session's store,
 * and name the stream they were sent on. `clear()` when the session ends.
 */
export class SessionEvents implements EventStore {
  readonly #bounds: EventBounds;
  /** In storing order: the first is the oldest. */
  readonly #events = new Map<EventId, StoredEvent>();
  /** Each stream's events, oldest first. */
  readonly #streams = new Map<StreamId, StoredEvent[]>();
  #bytes = 0;
  #seq = 0;
  #cleared = false;

  constructor(bounds: EventBounds = SESSION_EVENT_BOUNDS) {
    this.#bounds = bounds;
  }

  /** Events and bytes held now. */
  get held(): { events: number; bytes: number } {
    return { events: this.#events.size, bytes: this.#bytes };
  }

  async storeEvent(stream: StreamId, message: JSONRPCMessage): Promise<EventId> {
    // 122 random bits; randomUUID draws on a cached pool of entropy, randomBytes costs a system call per id (4 µs against 0.2).
    const id = randomUUID();
    // The SDK's priming event is `{}`: only its id matters, as the point a resumption starts after.
    const json = 'jsonrpc' in message ? JSON.stringify(message) : '';
    const bytes = Buffer.byteLength(json);
    // A late answer after the session ended is not kept: nothing can resume it.
    if (this.#cleared) return id;
    if (bytes > this.#bounds.maxBytes) {
      // It cannot be kept, so the stream cannot be resumed from before it: forgetting those ids makes a resumption fail, not skip it.
      this.#dropStream(stream);
      return id;
    }
    while (this.#events.size > 0 && (this.#events.size >= this.#bounds.maxEvents || this.#bytes + bytes > this.#bounds.maxBytes))
      this.#dropOldest();
    const event: StoredEvent = { id, stream, seq: this.#seq++, json, bytes };
    this.#events.set(id, event);
    this.#bytes += bytes;
    const events = this.#streams.get(stream);
    if (events) events.push(event);
    else this.#streams.set(stream, [event]);
    return id;
  }

  async getStreamIdForEventId(id: EventId): Promise<StreamId | undefined> {
    return this.#events.get(id)?.stream;
  }

  /**
   * Sends every message of the id's stream stored after it. Read as it goes,
   * not from a copy: a message stored while the replay awaits is sent too.
   */
  async replayEventsAfter(
    lastEventId: EventId,
    { send }: { send: (id: EventId, message: JSONRPCMessage) => Promise<void> },
  ): Promise<StreamId> {
    const from = this.#events.get(lastEventId);
    if (!from) throw new Error('unknown event id');
    let seq = from.seq;
    for (;;) {
      const next = this.#after(from.stream, seq);
      if (!next) return from.stream;
      seq = next.seq;
      if (next.json !== '') await send(next.id, JSON.parse(next.json) as JSONRPCMessage);
    }
  }

  /** Frees everything; later events are not kept. */
  clear(): void {
    this.#cleared = true;
    this.#events.clear();
    this.#streams.clear();
    this.#bytes = 0;
  }

  /** The stream's first event stored after `seq` (its events are in order, so a binary search). */
  #after(stream: StreamId, seq: number): StoredEvent | undefined {
    const events = this.#streams.get(stream) ?? [];
    let low = 0;
    let high = events.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (events[mid]!.seq <= seq) low = mid + 1;
      else high = mid;
    }
    return events[low];
  }

  #dropOldest(): void {
    const oldest = this.#events.values().next().value;
    if (!oldest) return;
    this.#events.delete(oldest.id);
    this.#bytes -= oldest.bytes;
    // The oldest of all is the oldest of its stream.
    const events = this.#streams.get(oldest.stream)!;
    events.shift();
    if (events.length === 0) this.#streams.delete(oldest.stream);
  }

  #dropStream(stream: StreamId): void {
    for (const event of this.#streams.get(stream) ?? []) {
      this.#events.delete(event.id);
      this.#bytes -= event.bytes;
    }
    this.#streams.delete(stream);
  }
}
