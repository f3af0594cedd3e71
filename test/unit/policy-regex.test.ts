import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatProblem } from '../../src/errors.js';
import { evaluate } from '../../src/policy/index.js';
import { decide, policyError, policyFrom } from '../support/policy.js';

const denyIf = (condition: object) => ({ version: '1', default: 'deny', tools: { query: { deny_if: [condition] } } });

interface FlagCase {
  name: string;
  condition: object;
  sql: string;
  action: 'allow' | 'deny';
}

const flagCases: FlagCase[] = [
  {
    name: 'flag i matches in any case',
    condition: { path: 'args.sql', op: 'regex', value: '\\b(?:drop|delete)\\b', flags: 'i' },
    sql: 'DeLeTe FROM t',
    action: 'deny',
  },
  {
    name: 'without flag i the case must match',
    condition: { path: 'args.sql', op: 'regex', value: '\\b(?:drop|delete)\\b' },
    sql: 'DELETE FROM t',
    action: 'allow',
  },
  {
    name: 'flag m makes ^ match at each line',
    condition: { path: 'args.sql', op: 'regex', value: '^DROP', flags: 'm' },
    sql: 'SELECT 1\nDROP TABLE t',
    action: 'deny',
  },
  {
    name: 'without flag m ^ matches only at the start',
    condition: { path: 'args.sql', op: 'regex', value: '^DROP' },
    sql: 'SELECT 1\nDROP TABLE t',
    action: 'allow',
  },
  {
    name: 'flag s lets . match a newline',
    condition: { path: 'args.sql', op: 'regex', value: 'a.b', flags: 's' },
    sql: 'a\nb',
    action: 'deny',
  },
  {
    name: 'a pattern the detector cannot prove safe runs on the linear engine',
    condition: { path: 'args.sql', op: 'regex', value: ';\\s*\\S' },
    sql: 'SELECT 1; DROP TABLE t',
    action: 'deny',
  },
  {
    name: 'the linear engine lets a trailing semicolon pass',
    condition: { path: 'args.sql', op: 'regex', value: ';\\s*\\S' },
    sql: 'SELECT 1;  ',
    action: 'allow',
  },
];

for (const c of flagCases) {
  test(`regex: ${c.name}`, () => {
    assert.equal(decide(denyIf(c.condition), { tool: 'query', args: { sql: c.sql } }).action, c.action);
  });
}

const refused: { name: string; condition: object; says: string }[] = [
  {
    name: 'flags on an operator other than regex',
    condition: { path: 'args.sql', op: 'eq', value: 'x', flags: 'i' },
    says: 'flags apply to regex conditions only, not eq',
  },
  {
    name: 'an unknown flag',
    condition: { path: 'args.sql', op: 'regex', value: 'x', flags: 'g' },
    says: 'regex flags are any of "i" (ignore case), "m", "s" and "u"',
  },
  { name: 'a repeated flag', condition: { path: 'args.sql', op: 'regex', value: 'x', flags: 'ii' }, says: 'each at most once' },
  {
    name: 'flag i on a pattern that may backtrack (the linear engine has no i)',
    condition: { path: 'args.sql', op: 'regex', value: '(a+)+$', flags: 'i' },
    says: 'the linear-time engine cannot run it',
  },
  // redos-detector throws on these instead of answering; that is refused with the reason, not a crash of the loader.
  {
    name: 'flags i and u together on a pattern with repetition (the detector cannot model them)',
    condition: { path: 'args.sql', op: 'regex', value: '^a+b', flags: 'iu' },
    says: 'redos-detector cannot tell whether it may backtrack catastrophically (`caseInsensitive` cannot be used with `unicode`.), and the linear-time engine cannot run it',
  },
  {
    name: 'flag i on a byte range the detector cannot case-fold',
    condition: { path: 'args.sql', op: 'regex', value: '[\\x00-\\xff]+x', flags: 'i' },
    says: 'redos-detector cannot tell whether it may backtrack catastrophically (Internal error: expected codepoint)',
  },
];

for (const c of refused) {
  test(`regex refused: ${c.name}`, () => {
    const err = policyError(denyIf(c.condition));
    assert.equal(err.problems.length, 1);
    assert.ok(formatProblem(err.problems[0]!).includes(c.says), formatProblem(err.problems[0]!));
  });
}

test('an unquoted YAML version 1 means version "1"', () => {
  assert.equal(decide('version: 1\ndefault: allow\n', { tool: 'x' }, 'p.yaml').action, 'allow');
});

test('a rate_limit shorthand whose counter clashes with an explicit limit is refused', () => {
  const err = policyError({
    version: '1',
    default: 'deny',
    tools: {
      export: { rate_limit: { max: 5, window: 60 } },
      other: { limits: [{ counter: 'export_rate', window: 'hour', max: 1, scope: 'grant' }] },
    },
  });
  assert.deepEqual(
    err.problems.map((p) => p.path),
    ['tools.other.limits[0].counter'],
  );
  assert.match(err.problems[0]!.message, /also defined at tools\.export\.rate_limit/);
});

test('a decision cannot be used to change the compiled policy', () => {
  const policy = policyFrom({ version: '1', default: 'allow', all_tools: { limits: [{ counter: 'all', window: 60, max: 5 }] } });
  const decision = evaluate(policy, { tool: 'x' });
  assert.throws(() => (decision.limits as unknown as object[]).push({}), TypeError);
  assert.throws(() => {
    (decision.limits[0] as { max: number }).max = 1_000;
  }, TypeError);
  assert.equal(policy.allToolsLimits[0]!.max, 5);
});
