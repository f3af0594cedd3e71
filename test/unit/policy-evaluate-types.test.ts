import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluate, type Decision } from '../../src/policy/index.js';
import { policyFrom } from '../support/policy.js';

/**
 * JSON types are strict: a value of another type than the rule's is a
 * `mismatch`, never "equal" or "different", so an upstream that coerces
 * `"true"`, `1` or `["prod"]` cannot be handed what the rule meant to stop.
 * Each row puts one condition in `deny_if`, `approve_if` and `require` of a
 * tool and checks all three decisions:
 *
 * | verdict  | deny_if | approve_if       | require |
 * | holds    | deny    | require_approval | allow   |
 * | fails    | allow   | allow            | deny    |
 * | mismatch | deny    | require_approval | deny    |
 *
 * so a mismatch is the restrictive outcome for neq and not_in too.
 */
type ConditionVerdict = 'holds' | 'fails' | 'mismatch';

interface Row {
  op: string;
  value: unknown;
  arg: unknown;
  verdict: ConditionVerdict;
  options?: { ignore_case?: boolean; normalize?: 'nfkc' };
  /** Substrings a mismatch reason must hold besides "cannot compare". */
  says?: string[];
}

const row = (op: string, value: unknown, arg: unknown, verdict: ConditionVerdict, options?: Row['options'], says?: string[]): Row => ({
  op,
  value,
  arg,
  verdict,
  options,
  says,
});
const CI = { ignore_case: true } as const;
const NFKC = { normalize: 'nfkc' } as const;
const BOTH = { ignore_case: true, normalize: 'nfkc' } as const;

const rows: Row[] = [
  // eq: numbers
  row('eq', 5, 5, 'holds'),
  row('eq', 5, 5.0, 'holds'),
  row('eq', 0.5, 0.5, 'holds'),
  row('eq', 0, -0, 'holds'),
  row('eq', 5, 6, 'fails'),
  row('eq', 5, '5', 'mismatch', undefined, ['a string "5"', 'the rule compares numbers']),
  row('eq', 5, [5], 'mismatch', undefined, ['a list [5]']),
  row('eq', 5, { value: 5 }, 'mismatch', undefined, ['an object {"value":5}']),
  row('eq', 5, null, 'mismatch', undefined, ['is null']),
  row('eq', 1, true, 'mismatch', undefined, ['a boolean true']),
  // eq: booleans
  row('eq', true, true, 'holds'),
  row('eq', true, false, 'fails'),
  row('eq', true, 'true', 'mismatch', undefined, ['a string "true"', 'the rule compares booleans']),
  row('eq', true, 1, 'mismatch', undefined, ['a number 1']),
  row('eq', false, 0, 'mismatch'),
  row('eq', false, '', 'mismatch'),
  row('eq', true, [true], 'mismatch'),
  // eq: strings
  row('eq', 'prod', 'prod', 'holds'),
  row('eq', 'prod', 'staging', 'fails'),
  row('eq', 'prod', 'PROD', 'fails'),
  row('eq', 'prod', 'Prod', 'fails'),
  row('eq', 'prod', 'ｐｒｏｄ', 'fails'),
  row('eq', 'prod', 'prod ', 'fails'),
  row('eq', 'prod', ['prod'], 'mismatch', undefined, ['a list ["prod"]', 'the rule compares strings']),
  row('eq', 'prod', { name: 'prod' }, 'mismatch', undefined, ['an object {"name":"prod"}']),
  row('eq', 'prod', null, 'mismatch'),
  row('eq', '5', 5, 'mismatch', undefined, ['a number 5', 'the rule compares strings']),
  row('eq', 'true', true, 'mismatch'),
  row('eq', 'prod', 'PROD', 'holds', CI),
  row('eq', 'PROD', 'prod', 'holds', CI),
  row('eq', 'prod', 'ｐｒｏｄ', 'fails', CI),
  row('eq', 'prod', 'ｐｒｏｄ', 'holds', NFKC),
  row('eq', 'prod', 'ＰＲＯＤ', 'fails', NFKC),
  row('eq', 'prod', 'ＰＲＯＤ', 'holds', BOTH),
  row('eq', 'strasse', 'STRAßE', 'holds', CI),
  row('eq', 'ﬁle', 'file', 'holds', NFKC),
  row('eq', 'prod', ['PROD'], 'mismatch', BOTH),
  row('eq', 'prod', 'staging', 'fails', BOTH),
  // eq: null, lists, objects
  row('eq', null, null, 'holds'),
  row('eq', null, 'null', 'mismatch', undefined, ['the rule compares nulls']),
  row('eq', null, 0, 'mismatch'),
  row('eq', null, false, 'mismatch'),
  row('eq', null, [], 'mismatch'),
  row('eq', [1, 2], [1, 2], 'holds'),
  row('eq', [1, 2], [1, '2'], 'fails'),
  row('eq', [1, 2], '1,2', 'mismatch'),
  row('eq', [1, 2], { 0: 1, 1: 2 }, 'mismatch'),
  row('eq', ['prod'], ['PROD'], 'holds', CI),
  row('eq', { a: 1 }, { a: 1 }, 'holds'),
  row('eq', { a: 1 }, { a: '1' }, 'fails'),
  row('eq', { a: 1 }, [{ a: 1 }], 'mismatch'),
  row('eq', { a: 1 }, '{"a":1}', 'mismatch'),
  row('eq', { env: 'prod' }, { env: 'PROD' }, 'holds', CI),
  row('eq', { env: 'prod' }, { ENV: 'prod' }, 'fails', CI),

  // neq: a value of another type is neither equal nor different
  row('neq', 'prod', 'staging', 'holds'),
  row('neq', 'prod', 'prod', 'fails'),
  row('neq', 'prod', 'PROD', 'holds'),
  row('neq', 'prod', 'PROD', 'fails', CI),
  row('neq', 'prod', 'ｐｒｏｄ', 'holds'),
  row('neq', 'prod', 'ｐｒｏｄ', 'fails', NFKC),
  row('neq', 'prod', ['prod'], 'mismatch', undefined, ['a list ["prod"]']),
  row('neq', 'prod', { name: 'prod' }, 'mismatch'),
  row('neq', 'prod', null, 'mismatch'),
  row('neq', 'prod', 1, 'mismatch'),
  row('neq', true, 'true', 'mismatch'),
  row('neq', true, 1, 'mismatch'),
  row('neq', true, false, 'holds'),
  row('neq', 5, '5', 'mismatch'),
  row('neq', 5, 5.0, 'fails'),
  row('neq', 0, -0, 'fails'),
  row('neq', null, 'x', 'mismatch'),

  // in
  row('in', ['prod', 'dev'], 'prod', 'holds'),
  row('in', ['prod', 'dev'], 'qa', 'fails'),
  row('in', ['prod', 'dev'], 'PROD', 'fails'),
  row('in', ['prod', 'dev'], 'PROD', 'holds', CI),
  row('in', ['prod', 'dev'], 'ｄｅｖ', 'fails'),
  row('in', ['prod', 'dev'], 'ｄｅｖ', 'holds', NFKC),
  row('in', ['prod', 'dev'], 'ＤＥＶ', 'holds', BOTH),
  row('in', ['prod', 'dev'], ['prod'], 'mismatch', undefined, ['a list ["prod"]', 'the rule compares strings']),
  row('in', ['prod', 'dev'], { name: 'prod' }, 'mismatch'),
  row('in', ['prod', 'dev'], null, 'mismatch'),
  row('in', ['prod', 'dev'], 1, 'mismatch'),
  row('in', ['1', '2'], 1, 'mismatch'),
  row('in', [1, 2], '1', 'mismatch', undefined, ['a string "1"', 'the rule compares numbers']),
  row('in', [1, 2], 2.0, 'holds'),
  row('in', [0], -0, 'holds'),
  row('in', [true], 'true', 'mismatch'),
  row('in', [true], 1, 'mismatch'),
  row('in', ['a', 1], 1, 'holds'),
  row('in', ['a', 1], 'b', 'fails'),
  row('in', ['a', 1], '1', 'fails'),
  row('in', ['a', 1], true, 'mismatch', undefined, ['the rule compares strings and numbers']),
  row('in', [null], null, 'holds'),
  row('in', [[1, 2]], [1, 2], 'holds'),
  row('in', [[1, 2]], 1, 'mismatch'),
  row('in', [], 'anything', 'fails'),

  // not_in
  row('not_in', ['prod', 'dev'], 'qa', 'holds'),
  row('not_in', ['prod', 'dev'], 'prod', 'fails'),
  row('not_in', ['prod', 'dev'], 'PROD', 'holds'),
  row('not_in', ['prod', 'dev'], 'PROD', 'fails', CI),
  row('not_in', ['prod', 'dev'], 'ｐｒｏｄ', 'holds'),
  row('not_in', ['prod', 'dev'], 'ｐｒｏｄ', 'fails', NFKC),
  row('not_in', ['prod', 'dev'], ['prod'], 'mismatch'),
  row('not_in', ['prod', 'dev'], { name: 'prod' }, 'mismatch'),
  row('not_in', ['prod', 'dev'], null, 'mismatch'),
  row('not_in', [1], '1', 'mismatch'),
  row('not_in', [true], 'true', 'mismatch'),
  row('not_in', [1, 2], 3, 'holds'),
  row('not_in', [], 'anything', 'holds'),

  // contains: text
  row('contains', 'DROP', 'DROP TABLE t', 'holds'),
  row('contains', 'DROP', 'drop table t', 'fails'),
  row('contains', 'DROP', 'drop table t', 'holds', CI),
  row('contains', 'DROP', 'ＤＲＯＰ TABLE t', 'fails'),
  row('contains', 'DROP', 'ＤＲＯＰ TABLE t', 'holds', NFKC),
  row('contains', 'DROP', 'ｄｒｏｐ table t', 'holds', BOTH),
  row('contains', 'DROP', ['DROP'], 'holds'),
  row('contains', 'DROP', 12, 'mismatch', undefined, ['a number 12', 'the rule looks in a string, or in a list of strings']),
  row('contains', 'DROP', { DROP: true }, 'mismatch'),
  row('contains', 'DROP', null, 'mismatch'),
  row('contains', 'DROP', true, 'mismatch'),
  // contains: lists, where an item of another type could be read as the value
  row('contains', 'pii', ['public', 'pii'], 'holds'),
  row('contains', 'pii', ['public'], 'fails'),
  row('contains', 'pii', [], 'fails'),
  row('contains', 'pii', ['PII'], 'fails'),
  row('contains', 'pii', ['PII'], 'holds', CI),
  row('contains', 'pii', ['ｐｉｉ'], 'holds', NFKC),
  row('contains', 'pii', [['pii']], 'mismatch'),
  row('contains', 'pii', [{ tag: 'pii' }], 'mismatch'),
  row('contains', 'pii', ['public', 1], 'mismatch'),
  row('contains', 'pii', ['pii', null], 'mismatch'),
  row('contains', 1, [1, 2], 'holds'),
  row('contains', 1, [1.0], 'holds'),
  row('contains', 1, [2, 3], 'fails'),
  row('contains', 1, ['1'], 'mismatch', undefined, ['the rule looks in a list of numbers']),
  row('contains', 1, [true], 'mismatch'),
  row('contains', 1, 'a1', 'mismatch'),
  row('contains', true, [true], 'holds'),
  row('contains', true, ['true'], 'mismatch'),
  row('contains', { id: 1 }, [{ id: 1 }], 'holds'),
  row('contains', { id: 1 }, [{ id: '1' }], 'fails'),

  // starts_with / ends_with
  row('starts_with', '/etc/', '/etc/passwd', 'holds'),
  row('starts_with', '/etc/', '/ETC/passwd', 'fails'),
  row('starts_with', '/etc/', '/ETC/passwd', 'holds', CI),
  row('starts_with', '/etc/', '／ｅｔｃ／passwd', 'fails'),
  row('starts_with', '/etc/', '／ｅｔｃ／passwd', 'holds', NFKC),
  row('starts_with', '/etc/', '／ＥＴＣ／passwd', 'holds', BOTH),
  row('starts_with', '/etc/', ['/etc/passwd'], 'mismatch', undefined, ['a list ["/etc/passwd"]', 'the rule compares strings']),
  row('starts_with', '1', 12, 'mismatch'),
  row('starts_with', 'a', null, 'mismatch'),
  row('ends_with', '.pem', 'id_rsa.pem', 'holds'),
  row('ends_with', '.pem', 'id_rsa.PEM', 'fails'),
  row('ends_with', '.pem', 'id_rsa.PEM', 'holds', CI),
  row('ends_with', '.pem', 'id_rsa．ｐｅｍ', 'fails'),
  row('ends_with', '.pem', 'id_rsa．ｐｅｍ', 'holds', NFKC),
  row('ends_with', '.pem', { file: 'a.pem' }, 'mismatch'),
  row('ends_with', 'e', true, 'mismatch'),

  // gt, gte, lt, lte: numbers only, integers and floats alike
  row('gt', 10000, 20000, 'holds'),
  row('gt', 10000, 10000.5, 'holds'),
  row('gt', 10000, '20000', 'mismatch', undefined, ['a string "20000"', 'the rule compares numbers']),
  row('gt', 10000, [20000], 'mismatch'),
  row('gt', 10000, { amount: 20000 }, 'mismatch'),
  row('gt', 0, true, 'mismatch'),
  row('gt', 0, null, 'mismatch'),
  row('gte', 0, -0, 'holds'),
  row('gte', 100, '100', 'mismatch'),
  row('lt', 10, 9.99, 'holds'),
  row('lt', 10, '9', 'mismatch'),
  row('lt', 10, false, 'mismatch'),
  row('lte', 10, 10, 'holds'),
  row('lte', 10, [10], 'mismatch'),

  // a number beyond JSON's range: JSON.parse reads 1e400 as Infinity, which is sent on as null
  row('gt', 10000, JSON.parse('-1e400'), 'mismatch', undefined, ['is -Infinity, a number beyond what JSON can hold']),
  row('lte', 100, JSON.parse('1e400'), 'mismatch'),
  row('eq', 5, Infinity, 'mismatch'),
  row('neq', 5, -Infinity, 'mismatch'),
  row('not_in', [1, 2], Infinity, 'mismatch'),

  // regex: strings only
  row('regex', '^main$', 'main', 'holds'),
  row('regex', '^main$', 'MAIN', 'fails'),
  row('regex', '^main$', ['main'], 'mismatch', undefined, ['a list ["main"]', 'the rule matches strings']),
  row('regex', '^\\d+$', 42, 'mismatch'),
  row('regex', '^null$', null, 'mismatch'),
];

// exists / not_exists take no value and judge presence, whatever the type.
const presence: { op: 'exists' | 'not_exists'; arg: unknown; verdict: ConditionVerdict }[] = [
  ...[false, 0, '', [], {}, 'x', Infinity].map((arg) => ({ op: 'exists' as const, arg, verdict: 'holds' as const })),
  { op: 'exists', arg: null, verdict: 'fails' },
  ...[false, 0, '', [], {}].map((arg) => ({ op: 'not_exists' as const, arg, verdict: 'fails' as const })),
  { op: 'not_exists', arg: null, verdict: 'holds' },
];

const EXPECTED: Record<ConditionVerdict, Record<'deny_if' | 'approve_if' | 'require', Decision['action']>> = {
  holds: { deny_if: 'deny', approve_if: 'require_approval', require: 'allow' },
  fails: { deny_if: 'allow', approve_if: 'allow', require: 'deny' },
  mismatch: { deny_if: 'deny', approve_if: 'require_approval', require: 'deny' },
};

function decisions(condition: object, arg: unknown): Record<'deny_if' | 'approve_if' | 'require', Decision> {
  const of = (list: 'deny_if' | 'approve_if' | 'require') =>
    evaluate(policyFrom({ version: '1', default: 'deny', tools: { t: { [list]: [condition] } } }), { tool: 't', args: { v: arg } });
  return { deny_if: of('deny_if'), approve_if: of('approve_if'), require: of('require') };
}

function nameOf(r: Row): string {
  const options = r.options
    ? ` ${Object.entries(r.options)
        .map(([k, v]) => `${k}: ${String(v)}`)
        .join(', ')}`
    : '';
  return `${r.op} ${JSON.stringify(r.value)}${options} on ${typeof r.arg === 'number' ? String(r.arg) : JSON.stringify(r.arg)} (${typeof r.arg === 'object' ? (Array.isArray(r.arg) ? 'list' : r.arg === null ? 'null' : 'object') : typeof r.arg}): ${r.verdict}`;
}

for (const r of rows) {
  test(nameOf(r), () => {
    const condition = { path: 'args.v', op: r.op, value: r.value, ...r.options };
    const seen = decisions(condition, r.arg);
    for (const list of ['deny_if', 'approve_if', 'require'] as const) {
      assert.equal(seen[list].action, EXPECTED[r.verdict][list], `${list}: ${seen[list].reason}`);
    }
    const reason = seen.require.reason;
    if (r.verdict === 'mismatch') {
      assert.ok(reason.includes(`which ${r.op} cannot compare with`), reason);
      for (const part of r.says ?? []) assert.ok(reason.includes(part), `${JSON.stringify(reason)} should contain ${JSON.stringify(part)}`);
    } else {
      assert.doesNotMatch(reason, /cannot compare/);
    }
  });
}

for (const p of presence) {
  test(`${p.op} on ${typeof p.arg === 'number' ? String(p.arg) : JSON.stringify(p.arg)}: ${p.verdict}`, () => {
    const seen = decisions({ path: 'args.v', op: p.op }, p.arg);
    for (const list of ['deny_if', 'approve_if', 'require'] as const)
      assert.equal(seen[list].action, EXPECTED[p.verdict][list], `${list}: ${seen[list].reason}`);
    for (const list of ['deny_if', 'approve_if', 'require'] as const) assert.doesNotMatch(seen[list].reason, /cannot compare/);
  });
}

test('the table covers every operator, and each comparing operator with a mismatch', () => {
  const ops = new Set([...rows.map((r) => r.op), ...presence.map((p) => p.op)]);
  assert.deepEqual([...ops].sort(), [
    'contains',
    'ends_with',
    'eq',
    'exists',
    'gt',
    'gte',
    'in',
    'lt',
    'lte',
    'neq',
    'not_exists',
    'not_in',
    'regex',
    'starts_with',
  ]);
  for (const op of ops)
    if (!op.includes('exists'))
      assert.ok(
        rows.some((r) => r.op === op && r.verdict === 'mismatch'),
        op,
      );
});
