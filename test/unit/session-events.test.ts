import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import { SessionEvents } from '../../src/http/session-events.js';

const PRIMING = {} as JSONRPCMessage;
const note = (n: number, pad = 0): JSONRPCMessage => ({
  jsonrpc: '2.0',
  method: 'notifications/progress',
  params: { progressToken: 1, progress: n, message: 'x'.repeat(pad) },
});
const result = (id: number): JSONRPCMessage => ({ jsonrpc: '2.0', id, result: { content: [] } });
const bytesOf = (message: JSONRPCMessage) => Buffer.byteLength(JSON.stringify(message));

/** What a resumption after `id` sends, or the error it fails with. */
async function replay(store: SessionEvents, id: string): Promise<{ stream?: string; sent: [string, JSONRPCMessage][]; error?: string }> {
  const sent: [string, JSONRPCMessage][] = [];
  try {
    const stream = await store.replayEventsAfter(id, { send: async (eventId, message) => void sent.push([eventId, message]) });
    return { stream, sent };
  } catch (err) {
    return { sent, error: (err as Error).message };
  }
}

describe('a session event store', () => {
  test('a resumption sends the messages of its own stream stored after the id, in order, without the priming event', async () => {
    const store = new SessionEvents();
    const priming = await store.storeEvent('post-1', PRIMING);
    await store.storeEvent('post-2', PRIMING);
    const first = await store.storeEvent('post-1', note(1));
    await store.storeEvent('post-2', note(99));
    const last = await store.storeEvent('post-1', result(7));
    assert.equal(await store.getStreamIdForEventId(priming), 'post-1');
    const resumed = await replay(store, priming);
    assert.equal(resumed.stream, 'post-1');
    assert.deepEqual(resumed.sent, [
      [first, note(1)],
      [last, result(7)],
    ]);
    assert.deepEqual((await replay(store, last)).sent, [], 'nothing after the last event');
  });

  test('a message stored while a resumption is sending is sent by it too', async () => {
    const store = new SessionEvents();
    const priming = await store.storeEvent('s', PRIMING);
    await store.storeEvent('s', note(1));
    let late: string | undefined;
    const sent: JSONRPCMessage[] = [];
    await store.replayEventsAfter(priming, {
      send: async (_id, message) => {
        sent.push(message);
        late ??= await store.storeEvent('s', result(1));
      },
    });
    assert.deepEqual(sent, [note(1), result(1)]);
  });

  test('the stored message is a copy: changing the object afterwards changes nothing replayed', async () => {
    const store = new SessionEvents();
    const priming = await store.storeEvent('s', PRIMING);
    const message = note(1) as { params: { progress: number } } & JSONRPCMessage;
    await store.storeEvent('s', message);
    message.params.progress = 2;
    assert.deepEqual((await replay(store, priming)).sent[0]![1], note(1));
  });

  test('event ids are random UUIDs, each different', async () => {
    const store = new SessionEvents();
    const ids = new Set<string>();
    for (let i = 0; i < 500; i++) ids.add(await store.storeEvent('s', note(i)));
    assert.equal(ids.size, 500);
    for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  for (const c of [
    { name: 'an id of another session', id: async () => new SessionEvents().storeEvent('s', PRIMING) },
    { name: 'a made-up id', id: async () => '00000000-0000-4000-8000-000000000000' },
    { name: 'a stream id', id: async () => 's' },
    { name: 'an empty id', id: async () => '' },
  ]) {
    test(`${c.name} names no stream and replays nothing`, async () => {
      const store = new SessionEvents();
      await store.storeEvent('s', PRIMING);
      await store.storeEvent('s', result(1));
      const id = await c.id();
      assert.equal(await store.getStreamIdForEventId(id), undefined);
      assert.deepEqual(await replay(store, id), { sent: [], error: 'unknown event id' });
    });
  }

  test('past the event count the oldest events go first, and a resumption from a dropped id fails', async () => {
    const store = new SessionEvents({ maxEvents: 3, maxBytes: 1_000_000 });
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await store.storeEvent('s', note(i)));
    assert.equal(store.held.events, 3);
    assert.equal(await store.getStreamIdForEventId(ids[1]!), undefined);
    assert.equal((await replay(store, ids[1]!)).error, 'unknown event id');
    assert.deepEqual(
      (await replay(store, ids[2]!)).sent.map(([id]) => id),
      ids.slice(3),
    );
  });

  test('past the byte bound the oldest events go first, whatever their stream', async () => {
    const size = bytesOf(note(0, 100));
    const store = new SessionEvents({ maxEvents: 1_000, maxBytes: size * 2 });
    const a = await store.storeEvent('a', note(0, 100));
    const b = await store.storeEvent('b', note(1, 100));
    const c = await store.storeEvent('a', note(2, 100));
    assert.deepEqual(store.held, { events: 2, bytes: size * 2 });
    assert.equal(await store.getStreamIdForEventId(a), undefined);
    assert.equal(await store.getStreamIdForEventId(b), 'b');
    assert.equal(await store.getStreamIdForEventId(c), 'a');
  });

  test('a message larger than the whole bound is not kept, and its stream cannot be resumed from before it', async () => {
    const store = new SessionEvents({ maxEvents: 100, maxBytes: 500 });
    const other = await store.storeEvent('other', note(0));
    const priming = await store.storeEvent('s', PRIMING);
    await store.storeEvent('s', note(1));
    const huge = await store.storeEvent('s', note(2, 1_000));
    const after = await store.storeEvent('s', result(1));
    // Resuming from the priming event would skip the large message: it fails instead.
    assert.equal((await replay(store, priming)).error, 'unknown event id');
    assert.equal((await replay(store, huge)).error, 'unknown event id');
    assert.deepEqual((await replay(store, after)).sent, []);
    assert.equal(await store.getStreamIdForEventId(other), 'other', 'other streams keep their events');
    assert.deepEqual(store.held, { events: 2, bytes: bytesOf(note(0)) + bytesOf(result(1)) });
  });

  test('clear() frees every event, and what is stored after it is not kept', async () => {
    const store = new SessionEvents();
    const priming = await store.storeEvent('s', PRIMING);
    await store.storeEvent('s', note(1, 10_000));
    assert.ok(store.held.bytes > 10_000);
    store.clear();
    assert.deepEqual(store.held, { events: 0, bytes: 0 });
    const late = await store.storeEvent('s', result(1));
    assert.deepEqual(store.held, { events: 0, bytes: 0 });
    assert.equal(await store.getStreamIdForEventId(priming), undefined);
    assert.equal(await store.getStreamIdForEventId(late), undefined);
  });
});
