/** How much of one paginated list is read: at most `pages` requests and `items` entries. */
export interface ListCaps {
  pages: number;
  items: number;
}

export interface ListRead<T> {
  items: T[];
  /** Pages requested. */
  pages: number;
  /** Which cap stopped the walk while the server still offered more; undefined when it ended the list itself. */
  cut: 'pages' | 'items' | undefined;
}

/** One page of a list, fetched with `signal` (each page gets its own, see below). */
export type PageFetch<P> = (cursor: string | undefined, signal: AbortSignal) => Promise<P>;

/**
 * Walks a paginated MCP list (`nextCursor`) until the server ends it or a cap
 * is reached, and stops as soon as `signal` aborts (the client that asked
 * went away): a server that always answers with another cursor costs at most
 * `caps.pages` requests and `caps.items` entries.
 *
 * Each page gets its own AbortSignal, unlinked from `signal` once the page is
 * in: the SDK adds an abort listener to the signal of every request it sends
 * and never removes it, so one signal shared by a long walk would collect one
 * listener per page (Node warns past 10) and, when it finally aborted, send a
 * `notifications/cancelled` for every page already answered.
 */
export async function readPages<P extends { nextCursor?: string }, T>(
  fetchPage: PageFetch<P>,
  itemsOf: (page: P) => readonly T[],
  caps: ListCaps,
  signal?: AbortSignal,
): Promise<ListRead<T>> {
  const items: T[] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    if (signal?.aborted) throw abandoned(signal);
    const page = await fetchWith(fetchPage, cursor, signal);
    pages++;
    const got = itemsOf(page);
    // Item by item rather than push(...got): spreading a page of a million entries overflows the call stack.
    let kept = 0;
    while (kept < got.length && items.length < caps.items) items.push(got[kept++]!);
    if (kept < got.length) return { items, pages, cut: 'items' };
    if (page.nextCursor === undefined || page.nextCursor === '') return { items, pages, cut: undefined };
    if (items.length >= caps.items) return { items, pages, cut: 'items' };
    if (pages >= caps.pages) return { items, pages, cut: 'pages' };
    cursor = page.nextCursor;
  }
}

async function fetchWith<P>(fetchPage: PageFetch<P>, cursor: string | undefined, signal: AbortSignal | undefined): Promise<P> {
  const page = new AbortController();
  const onAbort = () => page.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await fetchPage(cursor, page.signal);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

function abandoned(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return new Error(`the list was abandoned: ${reason instanceof Error ? reason.message : String(reason ?? 'the request was cancelled')}`, {
    cause: reason,
  });
}
