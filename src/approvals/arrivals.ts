import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../errors.js';
import type { RequestQueue } from './queue.js';
import type { ApprovalRecord } from './request.js';

export interface PendingWatchHandlers {
  /** A pending request told for the first time; `early`: it was pending before the watch began. */
  pending(record: ApprovalRecord, early: boolean): void;
  /** The event stream's connection to Redis was lost. */
  lost(): void;
  /** Back after `lost`, the pending requests were listed again: how many there are, and how many of them were told just now. */
  back(pending: number, told: number): void;
  /** A lookup failed (Redis away, or slow); it is tried again. */
  problem(message: string): void;
}

export interface PendingWatchSource {
  queue: RequestQueue;
  /** Newest first, as Approvals.list. */
  list(filter: { state: 'pending'; limit: number }): Promise<ApprovalRecord[]>;
  get(id: string): Promise<ApprovalRecord>;
}

/** The most pending requests one look reads; a watch told of more at once tells the newest. */
const LIST_LIMIT = 1000;
/** How long after a failed look (Redis away) it is tried again. */
const RETRY_MS = 1_000;
/** How long a told request's id is kept after its expiry (past which it is never told), to never tell it twice. */
const FORGET_AFTER_MS = 60_000;

/**
 * Tells each pending request once: those pending now, then each new one as
 * it is queued (BullMQ's `added` events; see RequestQueue.arrivals), and,
 * after the stream's connection was lost, any queued meanwhile (listed
 * again once Redis is back, so a Redis restart loses nothing that is still
 * pending, and a request that survived it is not told again).
 */
export async function watchPending(source: PendingWatchSource, handlers: PendingWatchHandlers): Promise<{ close(): Promise<void> }> {
  const told = new Map<string, number>();
  const arrived = new Set<string>();
  let closed = false;

  const tell = (record: ApprovalRecord, early: boolean): boolean => {
    const { id, expires_at } = record.request;
    const now = Date.now();
    // Long past its expiry a request can no longer be approved (decide.lua expires it), so it is not news; and as its id is
    // forgotten only then, it is never told twice. The margin allows for this clock and Redis's (which set expires_at) to differ.
    if (closed || record.status.state !== 'pending' || expires_at + FORGET_AFTER_MS <= now || told.has(id)) return false;
    for (const [old, expiry] of told) if (expiry + FORGET_AFTER_MS < now) told.delete(old);
    told.set(id, expires_at);
    handlers.pending(record, early);
    return true;
  };

  // One look at a time; a look asked for during one runs once more after it.
  let looking: Promise<void> | undefined;
  let again = false;
  let reconnected = false;
  const lookAgain = (): void => {
    if (looking) {
      again = true;
      return;
    }
    looking = (async () => {
      do {
        again = false;
        const afterReconnect = reconnected;
        reconnected = false;
        try {
          const pending = (await source.list({ state: 'pending', limit: LIST_LIMIT })).reverse();
          const fresh = pending.filter((record) => tell(record, false)).length;
          if (afterReconnect) handlers.back(pending.length, fresh);
        } catch (err) {
          if (afterReconnect) reconnected = true;
          if (closed) return;
          handlers.problem(`could not list the pending requests: ${errorMessage(err)}; trying again`);
          await sleep(RETRY_MS);
          again = true;
        }
      } while (again && !closed);
    })().finally(() => (looking = undefined));
  };

  const stream = await source.queue.arrivals({
    added: (id) => {
      arrived.add(id);
      source
        .get(id)
        .then(
          (record) => tell(record, false),
          // Redis went away between the event and the look: the look after it is back finds the request.
          () => lookAgain(),
        )
        .finally(() => arrived.delete(id));
    },
    connection: (state) => {
      if (state === 'lost') return handlers.lost();
      reconnected = true;
      lookAgain();
    },
  });
  try {
    const pending = await source.list({ state: 'pending', limit: LIST_LIMIT });
    // A flood of held calls must not hide the oldest ones unsaid: the watch says it shows only the newest.
    if (pending.length === LIST_LIMIT)
      handlers.problem(
        `at least ${LIST_LIMIT} requests are pending: only the newest ${LIST_LIMIT} are shown, older ones are not told here`,
      );
    // Oldest first, as they arrived; one whose `added` event came in meanwhile is new, not early.
    for (const record of pending.reverse()) tell(record, !arrived.has(record.request.id));
  } catch (err) {
    await stream.close();
    throw err;
  }
  return {
    close: async () => {
      closed = true;
      await stream.close();
      await looking;
    },
  };
}
