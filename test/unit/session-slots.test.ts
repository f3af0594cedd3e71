import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionSlots } from '../../src/http/session-slots.js';

type Step = { take: string | undefined; expect: 'ok' | 'grant' | 'total' } | { release: number };

const cases: { name: string; perGrant: number; total: number; steps: Step[]; counts?: [string | undefined, number][] }[] = [
  {
    name: 'a grant gets its limit and no more',
    perGrant: 2,
    total: 10,
    steps: [
      { take: 'a', expect: 'ok' },
      { take: 'a', expect: 'ok' },
      { take: 'a', expect: 'grant' },
    ],
    counts: [['a', 2]],
  },
  {
    name: 'grants are counted apart',
    perGrant: 1,
    total: 10,
    steps: [
      { take: 'a', expect: 'ok' },
      { take: 'b', expect: 'ok' },
      { take: 'a', expect: 'grant' },
      { take: 'b', expect: 'grant' },
    ],
    counts: [
      ['a', 1],
      ['b', 1],
    ],
  },
  {
    name: 'without grants every agent is one grant',
    perGrant: 2,
    total: 10,
    steps: [
      { take: undefined, expect: 'ok' },
      { take: undefined, expect: 'ok' },
      { take: undefined, expect: 'grant' },
    ],
    counts: [[undefined, 2]],
  },
  {
    name: 'the total binds across grants',
    perGrant: 5,
    total: 3,
    steps: [
      { take: 'a', expect: 'ok' },
      { take: 'a', expect: 'ok' },
      { take: 'b', expect: 'ok' },
      { take: 'b', expect: 'total' },
      { take: 'c', expect: 'total' },
    ],
  },
  {
    name: 'a grant at its own limit is told about its own limit, even when the total is reached too (its agents can do something about that one)',
    perGrant: 2,
    total: 2,
    steps: [
      { take: 'a', expect: 'ok' },
      { take: 'a', expect: 'ok' },
      { take: 'a', expect: 'grant' },
      { take: 'b', expect: 'total' },
    ],
  },
  {
    name: 'a released slot can be taken again',
    perGrant: 1,
    total: 10,
    steps: [{ take: 'a', expect: 'ok' }, { release: 0 }, { take: 'a', expect: 'ok' }, { take: 'a', expect: 'grant' }],
    counts: [['a', 1]],
  },
  {
    name: 'releasing twice gives back one slot, not two',
    perGrant: 2,
    total: 10,
    steps: [
      { take: 'a', expect: 'ok' },
      { take: 'a', expect: 'ok' },
      { release: 0 },
      { release: 0 },
      { take: 'a', expect: 'ok' },
      { take: 'a', expect: 'grant' },
    ],
    counts: [['a', 2]],
  },
  {
    name: 'a refused take holds nothing',
    perGrant: 1,
    total: 1,
    steps: [
      { take: 'a', expect: 'ok' },
      { take: 'a', expect: 'grant' },
      { take: 'b', expect: 'total' },
      { release: 0 },
      { take: 'b', expect: 'ok' },
    ],
    counts: [
      ['a', 0],
      ['b', 1],
    ],
  },
];

for (const c of cases) {
  test(c.name, () => {
    const slots = new SessionSlots({ perGrant: c.perGrant, total: c.total });
    const releases: (() => void)[] = [];
    for (const step of c.steps) {
      if ('release' in step) {
        releases[step.release]?.();
        continue;
      }
      const taken = slots.take(step.take);
      assert.equal(taken.ok ? 'ok' : taken.limit, step.expect, `take(${String(step.take)})`);
      if (taken.ok) releases.push(taken.release);
      else assert.equal(taken.max, taken.limit === 'grant' ? c.perGrant : c.total);
    }
    if (c.counts) assert.deepEqual(slots.counts(), c.counts);
    assert.equal(
      slots.total,
      slots.counts().reduce((sum, [, n]) => sum + n, 0),
    );
  });
}
