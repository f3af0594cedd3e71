import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toolListRefresh } from '../../src/proxy/tool-list-refresh.js';

/** A server whose list is whatever `list` holds, read through toolListRefresh; records when each read started. */
function server(gapMs: number, live = () => true) {
  const state = { list: '["a"]', starts: [] as number[], seen: [] as (string | undefined)[] };
  const refresh = toolListRefresh({
    read: async (current) => {
      state.starts.push(performance.now());
      state.seen.push(current);
      await new Promise((resolve) => setImmediate(resolve));
      return state.list;
    },
    live,
    gapMs,
  });
  return { state, refresh };
}

test('the list read at connect is version 1; a read that finds it unchanged keeps the version, a changed one adds one', async () => {
  const { state, refresh } = server(0);
  assert.equal(await refresh(), 1);
  assert.equal(await refresh(), 1);
  state.list = '["a","b"]';
  assert.equal(await refresh(), 2);
  assert.deepEqual(state.seen, [undefined, '["a"]', '["a"]'], 'each read is told the JSON of the list served');
});

test('a burst of announcements during a read costs one more read, and that one starts a gap after the one before', async () => {
  const { state, refresh } = server(50);
  const first = refresh();
  const burst = Promise.all(Array.from({ length: 100 }, () => refresh()));
  assert.equal(await first, 1);
  assert.deepEqual(new Set(await burst), new Set([1]));
  assert.equal(state.starts.length, 2);
  assert.ok(state.starts[1]! - state.starts[0]! >= 49, `reads ${state.starts[1]! - state.starts[0]!} ms apart`);
});

test('a read still waiting for its gap when the connection goes is skipped', async () => {
  let live = true;
  const { state, refresh } = server(30, () => live);
  await refresh();
  const waiting = refresh();
  live = false;
  assert.equal(await waiting, 1);
  assert.equal(state.starts.length, 1);
});
