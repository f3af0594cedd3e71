import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coalesced } from '../../src/proxy/coalesce.js';

/** A run that waits until the test ends it, counting how many ran and how many at once. */
function gatedRuns() {
  const ends: ((fail?: Error) => void)[] = [];
  let started = 0;
  let running = 0;
  let most = 0;
  const run = coalesced(
    () =>
      new Promise<number>((resolve, reject) => {
        const n = ++started;
        running++;
        most = Math.max(most, running);
        ends.push((fail) => {
          running--;
          if (fail) reject(fail);
          else resolve(n);
        });
      }),
  );
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return {
    run,
    ends,
    settle,
    get started() {
      return started;
    },
    get most() {
      return most;
    },
  };
}

test('a burst of calls during a run costs one more run, and every call is answered by a run that began after it', async () => {
  const g = gatedRuns();
  const first = g.run();
  const burst = Array.from({ length: 50 }, () => g.run());
  assert.equal(g.started, 1);
  g.ends[0]!();
  assert.equal(await first, 1);
  await g.settle();
  assert.equal(g.started, 2, 'the calls during run 1 share run 2');
  g.ends[1]!();
  assert.deepEqual(new Set(await Promise.all(burst)), new Set([2]));
  assert.equal(g.most, 1, 'never two at once');
});

test('a call once everything is done starts a new run', async () => {
  const g = gatedRuns();
  const one = g.run();
  g.ends[0]!();
  assert.equal(await one, 1);
  const two = g.run();
  assert.equal(g.started, 2);
  g.ends[1]!();
  assert.equal(await two, 2);
});

test('a failed run fails the calls it answered, and the next run still happens for the ones after', async () => {
  const g = gatedRuns();
  const first = g.run();
  const later = g.run();
  g.ends[0]!(new Error('server went away'));
  await assert.rejects(first, /server went away/);
  await g.settle();
  assert.equal(g.started, 2);
  g.ends[1]!();
  assert.equal(await later, 2);
});

test('calls arriving during the trailing run get a third run, not the trailing one', async () => {
  const g = gatedRuns();
  void g.run();
  const second = g.run();
  g.ends[0]!();
  await g.settle();
  const third = g.run();
  g.ends[1]!();
  assert.equal(await second, 2);
  await g.settle();
  g.ends[2]!();
  assert.equal(await third, 3);
  assert.equal(g.most, 1);
});
