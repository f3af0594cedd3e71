import { parseArgPath, resolvePath, type ParsedPath } from './arg-path.js';
import { jsonType, pluralTypeNames, sameJson, textFold, whyNotJson, type Fold } from './json-compare.js';
import { quote, quoteTyped, showExpected } from './quote.js';
import { compileSafeRegex, MAX_LINEAR_REGEX_INPUT } from './safe-regex.js';
import type { Condition, Operator } from './schema.js';

/**
 * `holds` / `fails` as the operator says; `missing` when the path is absent;
 * `mismatch` when the value has a JSON type the operator cannot judge (a
 * string where `gt` needs a number, `"true"` for `eq true`, `["prod"]` for
 * `in ["prod"]`). The evaluator treats `mismatch` as the restrictive outcome
 * in every list, so a type trick cannot slip past a rule.
 */
export type ConditionVerdict = 'holds' | 'fails' | 'missing' | 'mismatch';

export interface CompiledCondition {
  readonly source: Condition;
  /** Where it is written: `tools.create_refund.deny_if[0]`. */
  readonly where: string;
  readonly path: ParsedPath;
  check(args: unknown, grant: string | undefined): ConditionVerdict;
  /**
   * What the condition saw, in words: `args.amount is 20000, which is greater than 10000`.
   * The verdict is taken from `args`; the value it quotes from `quotable` (the arguments as
   * they may be shown, e.g. redacted) when that is given, and from `args` only when it is not.
   */
  describe(args: unknown, grant: string | undefined, quotable?: unknown): string;
}

export type ConditionProblem = { problem: string; at: 'path' | 'value' | 'flags' | 'ignore_case' | 'normalize' };

const PHRASES: Record<Operator, string> = {
  eq: 'equal to',
  neq: 'not equal to',
  gt: 'greater than',
  gte: 'at least',
  lt: 'less than',
  lte: 'at most',
  in: 'one of',
  not_in: 'not one of',
  contains: 'containing',
  starts_with: 'starting with',
  ends_with: 'ending with',
  regex: 'matching',
  exists: 'present',
  not_exists: 'absent',
};

/** The operators that compare text, so the ones `ignore_case` and `normalize` apply to. */
const TEXT_OPERATORS: readonly Operator[] = ['eq', 'neq', 'in', 'not_in', 'contains', 'starts_with', 'ends_with'];

interface Test {
  run(actual: unknown): ConditionVerdict;
  /** What the rule compares, for the reason of a mismatch: `the rule compares strings`. */
  wants: string;
}

/** Compiles a condition, or returns the reason it cannot be used and the key at fault. */
export function compileCondition(condition: Condition, where: string): CompiledCondition | ConditionProblem {
  const path = parseArgPath(condition.path);
  if (typeof path === 'string') return { problem: path, at: 'path' };
  const misplaced = misplacedOption(condition);
  if (misplaced) return misplaced;
  const test = compileTest(condition, textFold(condition));
  if (typeof test === 'string') return { problem: test, at: 'value' };
  const { op } = condition;
  const expected =
    op === 'exists' || op === 'not_exists' ? PHRASES[op] : `${PHRASES[op]} ${formatExpected(condition)}${foldingNote(condition)}`;
  return {
    source: condition,
    where,
    path,
    check: (args, grant) => test.run(resolvePath(path, args, grant)),
    describe(args, grant, quotable) {
      const actual = resolvePath(path, args, grant);
      const verdict = test.run(actual);
      const shown = quotable === undefined ? actual : resolvePath(path, quotable, grant);
      if (verdict === 'missing') return `${condition.path} is missing (the rule wants it ${expected})`;
      if (verdict === 'mismatch' && typeof actual === 'number' && !Number.isFinite(actual)) {
        return `${condition.path} is ${String(actual)}, a number beyond what JSON can hold, which ${op} cannot compare with ${formatExpected(condition)}`;
      }
      if (verdict === 'mismatch' && op === 'regex' && typeof actual === 'string') {
        return `${condition.path} is ${actual.length} characters long, more than the ${MAX_LINEAR_REGEX_INPUT} this regex condition reads`;
      }
      if (verdict === 'mismatch')
        return `${condition.path} is ${quoteTyped(jsonType(actual), shown)}, which ${op} cannot compare with ${formatExpected(condition)} (${test.wants})`;
      const is = verdict === 'holds' ? 'is' : 'is not';
      if (op === 'exists' || op === 'not_exists') return `${condition.path} ${is} ${expected}`;
      return `${condition.path} is ${quote(shown)}, which ${is} ${expected}`;
    },
  };
}

/** A key that means nothing for this operator is an error, not silently ignored. */
function misplacedOption(condition: Condition): ConditionProblem | undefined {
  const { op } = condition;
  if (condition.flags !== undefined && op !== 'regex') return { problem: `flags apply to regex conditions only, not ${op}`, at: 'flags' };
  for (const key of ['ignore_case', 'normalize'] as const) {
    if (condition[key] === undefined || TEXT_OPERATORS.includes(op)) continue;
    const hint = op === 'regex' && key === 'ignore_case' ? '; a regex ignores case with flags: i' : '';
    return { problem: `${key} applies to ${TEXT_OPERATORS.join(', ')} only, not ${op}${hint}`, at: key };
  }
  return undefined;
}

function compileTest(condition: Condition, fold: Fold): Test | string {
  const { op, value } = condition;
  const hasValue = value !== undefined;
  const notJson = hasValue ? whyNotJson(value) : undefined;
  if (notJson) return notJson;
  switch (op) {
    case 'exists':
    case 'not_exists': {
      if (hasValue) return `${op} takes no value`;
      const present = (actual: unknown): boolean => actual !== undefined && actual !== null;
      return {
        wants: 'the rule takes any value',
        run: op === 'exists' ? (a) => (present(a) ? 'holds' : 'fails') : (a) => (present(a) ? 'fails' : 'holds'),
      };
    }
    case 'eq':
    case 'neq': {
      if (!hasValue) return `${op} needs a value`;
      const type = jsonType(value);
      const [same, different] = op === 'eq' ? (['holds', 'fails'] as const) : (['fails', 'holds'] as const);
      return {
        wants: `the rule compares ${pluralTypeNames([type])}`,
        run: whenPresent((a) => (jsonType(a) !== type ? 'mismatch' : sameJson(a, value, fold) ? same : different)),
      };
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      if (typeof value !== 'number') return `${op} needs a number as value, got ${showExpected(value)}`;
      const compare = {
        gt: (a: number) => a > value,
        gte: (a: number) => a >= value,
        lt: (a: number) => a < value,
        lte: (a: number) => a <= value,
      }[op];
      return {
        wants: 'the rule compares numbers',
        run: whenPresent((a) => (typeof a !== 'number' ? 'mismatch' : compare(a) ? 'holds' : 'fails')),
      };
    }
    case 'in':
    case 'not_in': {
      if (!Array.isArray(value)) return `${op} needs a list as value, got ${showExpected(value)}`;
      const types = new Set(value.map(jsonType));
      const [inside, outside] = op === 'in' ? (['holds', 'fails'] as const) : (['fails', 'holds'] as const);
      // An empty list has no type to mismatch: nothing is in it.
      const run = (a: unknown): ConditionVerdict =>
        types.size > 0 && !types.has(jsonType(a)) ? 'mismatch' : value.some((v) => sameJson(a, v, fold)) ? inside : outside;
      return { wants: `the rule compares ${pluralTypeNames([...types])}`, run: whenPresent(run) };
    }
    case 'contains': {
      if (!hasValue) return 'contains needs a value';
      const type = jsonType(value);
      const needle = typeof value === 'string' ? fold(value) : undefined;
      const wants =
        needle === undefined
          ? `the rule looks in a list of ${pluralTypeNames([type])}`
          : 'the rule looks in a string, or in a list of strings';
      return {
        wants,
        run: whenPresent((a) => {
          if (typeof a === 'string') return needle === undefined ? 'mismatch' : fold(a).includes(needle) ? 'holds' : 'fails';
          // One item of another type could be what a coercing upstream reads as the value (["pii"] for "pii").
          if (Array.isArray(a))
            return a.some((item) => jsonType(item) !== type)
              ? 'mismatch'
              : a.some((item) => sameJson(item, value, fold))
                ? 'holds'
                : 'fails';
          return 'mismatch';
        }),
      };
    }
    case 'starts_with':
    case 'ends_with': {
      if (typeof value !== 'string') return `${op} needs a string as value, got ${showExpected(value)}`;
      const affix = fold(value);
      const test = op === 'starts_with' ? (a: string) => fold(a).startsWith(affix) : (a: string) => fold(a).endsWith(affix);
      return {
        wants: 'the rule compares strings',
        run: whenPresent((a) => (typeof a !== 'string' ? 'mismatch' : test(a) ? 'holds' : 'fails')),
      };
    }
    case 'regex': {
      const regex = compileSafeRegex(value, condition.flags ?? '');
      if (typeof regex === 'string') return regex;
      return { wants: 'the rule matches strings', run: whenPresent((a) => (typeof a !== 'string' ? 'mismatch' : regex.test(a))) };
    }
  }
}

/**
 * Every operator but exists/not_exists sees an absent path as `missing`. A
 * number JSON cannot hold (`1e400` parses as Infinity, and is sent on as
 * null) is a mismatch: the rule would judge one value and the server get another.
 */
function whenPresent(run: Test['run']): Test['run'] {
  return (actual) => (actual === undefined ? 'missing' : typeof actual === 'number' && !Number.isFinite(actual) ? 'mismatch' : run(actual));
}

function formatExpected(condition: Condition): string {
  if (condition.op === 'regex') return `/${String(condition.value)}/`;
  return showExpected(condition.value);
}

function foldingNote(condition: Condition): string {
  const notes = [condition.ignore_case ? 'ignoring case' : '', condition.normalize === 'nfkc' ? 'after NFKC normalization' : ''].filter(
    Boolean,
  );
  return notes.length === 0 ? '' : ` (${notes.join(', ')})`;
}
