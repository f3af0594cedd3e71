import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionSlots } from '../../src/http/session-slots.js';

type Step = { take: string | undefined; expect: 'ok' | 'total' } | { release: number };

const cases: { name: string; total: number; steps: Step[]; counts?: [string | undefined, number][] }[] = [
  {
    name: 'the total binds across grants',
    total: 3,
    steps: [
      { take: 'a', expect: 'ok' },
      { take: 'a', expect: 'ok' },
      { take: 'b', expect: 'ok' },
      { take: 'b', expect: 'total' },
      { take: 'c', expect: 'total' },
    ],
    counts: [
      ['a', 2],
      ['b', 1],
    ],
  },
  {
    name: 'without grants every agent is counted as one grant',
    total: 10,
    steps: [
      { take: undefined, expect: 'ok' },
      { take: undefined, expect: 'ok' },
    ],
    counts: [[undefined, 2]],
  },
  {
    name: 'a released slot can be taken again',
    total: 1,
    steps: [{ take: 'a', expect: 'ok' }, { release: 0 }, { take: 'a', expect: 'ok' }, { take: 'a', expect: 'total' }],
    counts: [['a', 1]],
  },
  {
    name: 'releasing twice gives back one slot, not two',
    total: 2,
    steps: [
      { take: 'a', expect: 'ok' },
      { take: 'a', expect: 'ok' },
      { release: 0 },
      { release: 0 },
      { take: 'a', expect: 'ok' },
      { take: 'a', expect: 'total' },
    ],
    counts: [['a', 2]],
  },
  {
    name: 'a refused take holds nothing',
    total: 1,
    steps: [{ take: 'a', expect: 'ok' }, { take: 'b', expect: 'total' }, { release: 0 }, { take: 'b', expect: 'ok' }],
    counts: [
      ['a', 0],
      ['b', 1],
    ],
  },
];

// The per-grant limit counts across instances in Redis: test/integration/session-store.test.ts.
for (const c of cases) {
  test(c.name, () => {
    const slots = new SessionSlots({ perGrant: 1, total: c.total });
    const releases: (() => void)[] = [];
    for (const step of c.steps) {
      if ('release' in step) {
        releases[step.release]?.();
        continue;
      }
      const taken = slots.take(step.take);
      assert.equal(taken.ok ? 'ok' : taken.limit, step.expect, `take(${String(step.take)})`);
      if (taken.ok) releases.push(taken.release);
      else assert.equal(taken.max, c.total);
    }
    if (c.counts) assert.deepEqual(slots.counts(), c.counts);
    assert.equal(
      slots.total,
      slots.counts().reduce((sum, [, n]) => sum + n, 0),
    );
  });
}
