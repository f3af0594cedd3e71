import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareRuns, formatTable } from '../support/conformance-compare.js';
import { parseSummary, type SuiteRun } from '../support/conformance.js';

const run = (scores: Record<string, [number, number]>): SuiteRun =>
  new Map(Object.entries(scores).map(([name, [passed, failed]]) => [name, { passed, failed }]));

const cases: {
  name: string;
  direct: SuiteRun;
  through: SuiteRun;
  expected?: Record<string, string>;
  unexpected: string[];
  stale: string[];
}[] = [
  { name: 'the same checks passed: nothing to say', direct: run({ a: [2, 0] }), through: run({ a: [2, 0] }), unexpected: [], stale: [] },
  {
    name: 'one check fewer through Airlock is a loss',
    direct: run({ a: [2, 0] }),
    through: run({ a: [1, 1] }),
    unexpected: ['a'],
    stale: [],
  },
  {
    name: 'a scenario missing through Airlock lost all it passed',
    direct: run({ a: [3, 0] }),
    through: run({}),
    unexpected: ['a'],
    stale: [],
  },
  {
    name: 'more checks passed through Airlock is no loss',
    direct: run({ a: [1, 1] }),
    through: run({ a: [2, 0] }),
    unexpected: [],
    stale: [],
  },
  {
    name: 'a scenario failing in both runs loses nothing',
    direct: run({ a: [0, 3] }),
    through: run({ a: [0, 3] }),
    unexpected: [],
    stale: [],
  },
  {
    name: 'a listed loss is expected',
    direct: run({ a: [2, 0] }),
    through: run({ a: [0, 2] }),
    expected: { a: 'issue 20' },
    unexpected: [],
    stale: [],
  },
  {
    name: 'a listed scenario that lost nothing is stale',
    direct: run({ a: [2, 0] }),
    through: run({ a: [2, 0] }),
    expected: { a: 'issue 20' },
    unexpected: [],
    stale: ['a'],
  },
  {
    name: 'a listed scenario the suite no longer has is stale',
    direct: run({ a: [2, 0] }),
    through: run({ a: [2, 0] }),
    expected: { gone: 'issue 21' },
    unexpected: [],
    stale: ['gone'],
  },
];

for (const c of cases) {
  test(`conformance comparison: ${c.name}`, () => {
    const comparison = compareRuns(c.direct, c.through, new Map(Object.entries(c.expected ?? {})));
    assert.deepEqual(
      comparison.unexpected.map((r) => r.scenario),
      c.unexpected,
    );
    assert.deepEqual(
      comparison.stale.map((r) => r.scenario),
      c.stale,
    );
  });
}

test('the table has a line per scenario with both scores and the verdict, and the totals', () => {
  const lines = formatTable('t', compareRuns(run({ a: [2, 0], b: [1, 0] }), run({ a: [1, 1], b: [1, 0] }), new Map()));
  assert.equal(lines.length, 5);
  assert.match(lines[2]!, /^a\s+2\/2\s+1\/2\s+LOST$/);
  assert.match(lines[3]!, /^b\s+1\/1\s+1\/1\s+$/);
  assert.match(lines[4]!, /^passed\s+3\s+2\s+$/);
});

test("the runner's summary is read per scenario, a crashed scenario included", () => {
  const stdout = [
    '=== Running scenario: ping ===',
    '✓ not-the-summary: 9 passed, 0 failed',
    '=== SUMMARY ===',
    '✓ ping: 1 passed, 0 failed',
    '✗ tools-call-sampling: 0 passed, 1 failed',
    '',
    'Total: 1 passed, 1 failed',
  ].join('\n');
  assert.deepEqual(
    parseSummary(stdout),
    run({
      ping: [1, 0],
      'tools-call-sampling': [0, 1],
    }),
  );
  assert.throws(() => parseSummary('Running scenario ping'), /no summary/);
});
