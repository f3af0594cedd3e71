import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { test } from 'node:test';
import { readPages, type ListCaps } from '../../src/proxy/list-pages.js';

interface Page {
  items: number[];
  nextCursor?: string;
}

/** A server whose list has `sizes[i]` items on page i and ends after the last (or never, with `endless`). */
function server(sizes: number[], options: { endless?: boolean; lastCursor?: string } = {}) {
  const asked: (string | undefined)[] = [];
  let next = 0;
  const fetchPage = async (cursor: string | undefined): Promise<Page> => {
    asked.push(cursor);
    const n = cursor === undefined ? 0 : Number(cursor);
    const size = sizes[n] ?? sizes[sizes.length - 1] ?? 0;
    const items = Array.from({ length: size }, () => next++);
    const last = !options.endless && n >= sizes.length - 1;
    return last
      ? { items, ...(options.lastCursor !== undefined && { nextCursor: options.lastCursor }) }
      : { items, nextCursor: String(n + 1) };
  };
  return { asked, fetchPage };
}

const cases: {
  name: string;
  sizes: number[];
  endless?: boolean;
  lastCursor?: string;
  caps: ListCaps;
  items: number;
  pages: number;
  cut: 'pages' | 'items' | undefined;
}[] = [
  {
    name: 'a list that ends within the caps is read whole',
    sizes: [3, 3, 1],
    caps: { pages: 10, items: 100 },
    items: 7,
    pages: 3,
    cut: undefined,
  },
  { name: 'an empty list', sizes: [0], caps: { pages: 10, items: 100 }, items: 0, pages: 1, cut: undefined },
  {
    name: 'an empty nextCursor ends the list',
    sizes: [2],
    lastCursor: '',
    caps: { pages: 10, items: 100 },
    items: 2,
    pages: 1,
    cut: undefined,
  },
  {
    name: 'a list that never ends stops at the page cap',
    sizes: [2],
    endless: true,
    caps: { pages: 5, items: 100 },
    items: 10,
    pages: 5,
    cut: 'pages',
  },
  {
    name: 'a list ending exactly on the page cap is whole',
    sizes: [1, 1, 1],
    caps: { pages: 3, items: 100 },
    items: 3,
    pages: 3,
    cut: undefined,
  },
  {
    name: 'the item cap cuts inside a page',
    sizes: [4, 4],
    endless: true,
    caps: { pages: 10, items: 6 },
    items: 6,
    pages: 2,
    cut: 'items',
  },
  {
    name: 'a last page that overflows the item cap is a cut, though the list ends there',
    sizes: [4, 4],
    caps: { pages: 10, items: 6 },
    items: 6,
    pages: 2,
    cut: 'items',
  },
  {
    name: 'one page larger than the item cap is cut, and nothing more is asked for',
    sizes: [1_000],
    endless: true,
    caps: { pages: 10, items: 10 },
    items: 10,
    pages: 1,
    cut: 'items',
  },
  {
    name: 'items filling the cap exactly at a page end, with more offered, is a cut',
    sizes: [5, 5],
    endless: true,
    caps: { pages: 10, items: 10 },
    items: 10,
    pages: 2,
    cut: 'items',
  },
  {
    name: 'items filling the cap exactly on the last page is whole',
    sizes: [5, 5],
    caps: { pages: 10, items: 10 },
    items: 10,
    pages: 2,
    cut: undefined,
  },
  {
    name: 'a page of 200,000 items is kept without overflowing the stack',
    sizes: [200_000],
    caps: { pages: 1, items: 1_000_000 },
    items: 200_000,
    pages: 1,
    cut: undefined,
  },
];

for (const c of cases) {
  test(c.name, async () => {
    const upstream = server(c.sizes, {
      ...(c.endless !== undefined && { endless: c.endless }),
      ...(c.lastCursor !== undefined && { lastCursor: c.lastCursor }),
    });
    const read = await readPages(upstream.fetchPage, (p) => p.items, c.caps);
    assert.equal(read.items.length, c.items);
    assert.deepEqual(
      read.items.slice(0, 20),
      Array.from({ length: Math.min(20, c.items) }, (_, i) => i),
      'items in order',
    );
    assert.equal(read.pages, c.pages);
    assert.equal(upstream.asked.length, c.pages, 'no page is asked for beyond the ones read');
    assert.deepEqual(
      upstream.asked.slice(0, 3),
      [undefined, '1', '2'].slice(0, Math.min(3, c.pages)),
      'each page asked for by the cursor before it',
    );
    assert.equal(read.cut, c.cut);
  });
}

test('an aborted signal stops the walk before the next page, and the page in flight is aborted', async () => {
  const client = new AbortController();
  const asked: string[] = [];
  let inFlight: AbortSignal | undefined;
  const fetchPage = (cursor: string | undefined, signal: AbortSignal): Promise<Page> => {
    asked.push(cursor ?? '');
    if (asked.length < 3) return Promise.resolve({ items: [1], nextCursor: String(asked.length) });
    inFlight = signal;
    // The third page never comes: only its signal ends it.
    return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('page aborted')), { once: true }));
  };
  const walk = readPages(fetchPage, (p) => p.items, { pages: 1_000, items: 1_000 }, client.signal);
  while (asked.length < 3) await new Promise((resolve) => setImmediate(resolve));
  client.abort(new Error('the agent gave up'));
  await assert.rejects(walk, /page aborted/);
  assert.equal(inFlight?.aborted, true);
  assert.equal(asked.length, 3);
});

test('a signal already aborted asks for no page at all', async () => {
  const asked: unknown[] = [];
  await assert.rejects(
    readPages(
      async (cursor) => (asked.push(cursor), { items: [1] }),
      (p: Page) => p.items,
      { pages: 10, items: 10 },
      AbortSignal.abort(new Error('gone')),
    ),
    /the list was abandoned: gone/,
  );
  assert.deepEqual(asked, []);
});

test("each page has a signal of its own, and the caller's signal keeps no listener per page", async () => {
  const client = new AbortController();
  const signals = new Set<AbortSignal>();
  let most = 0;
  await readPages(
    async (cursor, signal) => {
      signals.add(signal);
      most = Math.max(most, getEventListeners(client.signal, 'abort').length);
      return { items: [1], nextCursor: String(Number(cursor ?? 0) + 1) };
    },
    (p: Page) => p.items,
    { pages: 50, items: 1_000 },
    client.signal,
  );
  assert.equal(signals.size, 50);
  assert.equal(most, 1, 'one listener at a time, the page in flight');
  assert.equal(getEventListeners(client.signal, 'abort').length, 0, 'none left once the walk is over');
});
