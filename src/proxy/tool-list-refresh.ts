import { setTimeout as sleep } from 'node:timers/promises';
import { coalesced } from './coalesce.js';

export interface ToolListRefreshOptions {
  /** Reads the list and serves it unless its JSON is `current`; resolves with the JSON of the list served. */
  read: (current: string | undefined) => Promise<string>;
  /** False once the connection is closed or replaced: a read that was waiting is then skipped. */
  live: () => boolean;
  /** The least time from the start of one read to the start of the next. */
  gapMs: number;
}

/**
 * The reads of one connection's tool list: the first at connect, the rest on
 * `tools/list_changed`. The SDK runs a handler for every notification without
 * waiting for the last, and a server may send them as fast as it likes, each
 * read being up to the caps in pages plus a pin check of every tool: so one
 * read runs at a time (a burst costs one more), and a read starts at least
 * `gapMs` after the one before. Resolves with the version of the list served,
 * counted from 1 (the list read at connect), so a caller can tell whether the
 * read it waited for changed anything.
 */
export function toolListRefresh(options: ToolListRefreshOptions): () => Promise<number> {
  let served: string | undefined;
  let version = 0;
  let lastStart = -Infinity;
  return coalesced(async () => {
    const wait = lastStart + options.gapMs - Date.now();
    if (wait > 0) await sleep(wait);
    if (!options.live()) return version;
    lastStart = Date.now();
    const json = await options.read(served);
    if (json !== served) {
      served = json;
      version++;
    }
    return version;
  });
}
