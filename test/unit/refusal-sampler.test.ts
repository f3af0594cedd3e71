import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RefusalSampler } from '../../src/audit/index.js';

function sampler(windowMs: number) {
  let now = 1_000_000;
  const summaries: string[] = [];
  const s = new RefusalSampler({
    windowMs,
    now: () => now,
    summarize: (kind, count, from, to) => summaries.push(`${kind} ${count} ${from - 1_000_000}..${to - 1_000_000}`),
  });
  return { s, summaries, at: (ms: number) => (now = 1_000_000 + ms) };
}

test('the first of a kind in a window is admitted, the rest counted; kinds have windows of their own', () => {
  const { s, summaries, at } = sampler(60_000);
  assert.equal(s.admit('stale'), true);
  at(10);
  assert.equal(s.admit('stale'), false);
  assert.equal(s.admit('unsigned'), true);
  at(20);
  assert.equal(s.admit('stale'), false);
  assert.deepEqual(summaries, []);
  s.flush();
  assert.deepEqual(summaries, ['stale 2 10..20'], 'a kind with nothing counted has no summary');
});

test('the first refusal after the window opens a new one and sums up the old', () => {
  const { s, summaries, at } = sampler(60_000);
  s.admit('bad_signature');
  at(5);
  s.admit('bad_signature');
  at(60_000);
  assert.equal(s.admit('bad_signature'), true);
  assert.deepEqual(summaries, ['bad_signature 1 5..5']);
  s.flush();
  assert.deepEqual(summaries, ['bad_signature 1 5..5'], 'written once');
});

test('a flood that stops is summed up when its window ends, without another request', async () => {
  const { s, summaries } = sampler(50);
  s.admit('unsigned');
  s.admit('unsigned');
  s.admit('unsigned');
  await sleep(120);
  assert.deepEqual(summaries, ['unsigned 2 0..0']);
});
