import { isDeepStrictEqual } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { isSafePattern } from 'redos-detector';
import { parseArgPath, resolvePath, type ParsedPath } from './arg-path.js';
import type { Condition, Operator } from './schema.js';

/**
 * `holds` / `fails` as the operator says; `missing` when the path is absent;
 * `mismatch` when the value has a type the operator cannot judge (a string
 * where `gt` needs a number). The evaluator treats `mismatch` as the
 * restrictive outcome in every list, so a type trick cannot slip past a rule.
 */
export type Verdict = 'holds' | 'fails' | 'missing' | 'mismatch';

export interface CompiledCondition {
  readonly source: Condition;
  /** Where it is written: `tools.create_refund.deny_if[0]`. */
  readonly where: string;
  readonly path: ParsedPath;
  check(args: unknown, grant: string | undefined): Verdict;
  /** What the condition saw, in words: `args.amount is 20000, greater than 10000`. */
  describe(args: unknown, grant: string | undefined): string;
}

const MAX_REGEX_LENGTH = 1_000;

const PHRASES: Record<Operator, string> = {
  eq: 'equal to', neq: 'not equal to', gt: 'greater than', gte: 'at least', lt: 'less than', lte: 'at most',
  in: 'one of', not_in: 'not one of', contains: 'containing', starts_with: 'starting with', ends_with: 'ending with',
  regex: 'matching', exists: 'present', not_exists: 'absent',
};

/** Compiles a condition, or returns the reason it cannot be used. */
export function compileCondition(condition: Condition, where: string): CompiledCondition | { problem: string; at: 'path' | 'value' | 'op' } {
  const path = parseArgPath(condition.path);
  if (typeof path === 'string') return { problem: path, at: 'path' };
  const test = compileTest(condition);
  if (typeof test === 'string') return { problem: test, at: 'value' };
  const check = (args: unknown, grant: string | undefined): Verdict => test(resolvePath(path, args, grant));
  return {
    source: condition,
    where,
    path,
    check,
    describe(args, grant) {
      const actual = resolvePath(path, args, grant);
      const verdict = test(actual);
      const expected = condition.op === 'exists' || condition.op === 'not_exists' ? PHRASES[condition.op] : `${PHRASES[condition.op]} ${formatExpected(condition)}`;
      if (verdict === 'missing') return `${condition.path} is missing (the rule wants it ${expected})`;
      if (verdict === 'mismatch' && condition.op === 'regex' && typeof actual === 'string') {
        return `${condition.path} is ${actual.length} characters long, more than the ${MAX_LINEAR_REGEX_INPUT} this regex condition reads`;
      }
      if (verdict === 'mismatch') return `${condition.path} is ${typeName(actual)} ${show(actual)}, which ${condition.op} cannot compare with ${show(condition.value)}`;
      const is = verdict === 'holds' ? 'is' : 'is not';
      if (condition.op === 'exists' || condition.op === 'not_exists') return `${condition.path} ${is} ${expected}`;
      return `${condition.path} is ${show(actual)}, which ${is} ${expected}`;
    },
  };
}

type Test = (actual: unknown) => Verdict;

function compileTest(condition: Condition): Test | string {
  const { op, value } = condition;
  if (condition.flags !== undefined && op !== 'regex') return `flags apply to regex conditions only, not ${op}`;
  const hasValue = value !== undefined;
  switch (op) {
    case 'exists':
    case 'not_exists': {
      if (hasValue) return `${op} takes no value`;
      const present = (actual: unknown): boolean => actual !== undefined && actual !== null;
      return op === 'exists' ? (a) => (present(a) ? 'holds' : 'fails') : (a) => (present(a) ? 'fails' : 'holds');
    }
    case 'eq':
      if (!hasValue) return 'eq needs a value';
      return present((a) => (isDeepStrictEqual(a, value) ? 'holds' : 'fails'));
    case 'neq':
      if (!hasValue) return 'neq needs a value';
      return present((a) => (isDeepStrictEqual(a, value) ? 'fails' : 'holds'));
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return `${op} needs a number as value, got ${show(value)}`;
      const compare = { gt: (a: number) => a > value, gte: (a: number) => a >= value, lt: (a: number) => a < value, lte: (a: number) => a <= value }[op];
      return present((a) => (typeof a !== 'number' || !Number.isFinite(a) ? 'mismatch' : compare(a) ? 'holds' : 'fails'));
    }
    case 'in':
    case 'not_in': {
      if (!Array.isArray(value)) return `${op} needs a list as value, got ${show(value)}`;
      const member = (a: unknown): boolean => value.some((v) => isDeepStrictEqual(v, a));
      return present(op === 'in' ? (a) => (member(a) ? 'holds' : 'fails') : (a) => (member(a) ? 'fails' : 'holds'));
    }
    case 'contains':
      if (!hasValue) return 'contains needs a value';
      return present((a) => {
        if (typeof a === 'string') return typeof value === 'string' ? (a.includes(value) ? 'holds' : 'fails') : 'mismatch';
        if (Array.isArray(a)) return a.some((item) => isDeepStrictEqual(item, value)) ? 'holds' : 'fails';
        return 'mismatch';
      });
    case 'starts_with':
    case 'ends_with': {
      if (typeof value !== 'string') return `${op} needs a string as value, got ${show(value)}`;
      const test = op === 'starts_with' ? (a: string) => a.startsWith(value) : (a: string) => a.endsWith(value);
      return present((a) => (typeof a !== 'string' ? 'mismatch' : test(a) ? 'holds' : 'fails'));
    }
    case 'regex': {
      const regex = compileSafeRegex(value, condition.flags ?? '');
      if (typeof regex === 'string') return regex;
      return present((a) => (typeof a !== 'string' ? 'mismatch' : regex.test(a)));
    }
  }
}

/** Every operator but exists/not_exists sees an absent path as `missing`. */
function present(test: Test): Test {
  return (actual) => (actual === undefined ? 'missing' : test(actual));
}

// V8's non-backtracking engine runs a regex with the `l` flag in time linear in
// the input. It is behind a flag; setting it only enables the `l` flag and does
// not change how any other regex runs.
setFlagsFromString('--enable-experimental-regexp-engine');

/** Longest text a regex on the linear engine reads (≈100 ms worst case); longer text counts as a mismatch. */
export const MAX_LINEAR_REGEX_INPUT = 65_536;

export interface SafeRegex {
  test(text: string): Verdict;
}

/**
 * A condition's regex runs on text an agent chose, so a pattern that can
 * backtrack catastrophically would let one call stall the gateway. A pattern
 * that redos-detector proves safe runs on the fast backtracking engine; any
 * other runs on V8's linear-time engine, with bounded input. A pattern neither
 * can run safely (lookaround or backreferences that might backtrack) is refused
 * when the policy loads. The check counts steps, not time, so a pattern loads
 * the same way on a busy machine as on an idle one.
 */
export function compileSafeRegex(value: unknown, flags: string): SafeRegex | string {
  if (typeof value !== 'string') return `regex needs a pattern string as value, got ${show(value)}`;
  if (value.length > MAX_REGEX_LENGTH) return `regex pattern is longer than ${MAX_REGEX_LENGTH} characters`;
  let regex: RegExp;
  try {
    regex = new RegExp(value, flags);
  } catch (err) {
    return `invalid regex: ${(err as Error).message}`;
  }
  if (!hasQuantifier(value)) return { test: (text) => (regex.test(text) ? 'holds' : 'fails') };
  const proven = isSafePattern(value, {
    timeout: Infinity,
    caseInsensitive: flags.includes('i'),
    dotAll: flags.includes('s'),
    multiLine: flags.includes('m'),
    unicode: flags.includes('u'),
  });
  if (proven.safe) return { test: (text) => (regex.test(text) ? 'holds' : 'fails') };
  let linear: RegExp;
  try {
    linear = new RegExp(value, `${flags}l`);
  } catch {
    return `regex ${JSON.stringify(value)} is refused: it may backtrack catastrophically on crafted input, and the linear-time engine cannot run it (it has lookaround, backreferences or the "i" flag); rewrite it without nested repetition, or without those`;
  }
  return { test: (text) => (text.length > MAX_LINEAR_REGEX_INPUT ? 'mismatch' : linear.test(text) ? 'holds' : 'fails') };
}

/**
 * Without a quantifier a match attempt reads at most the pattern's length, so
 * the pattern cannot backtrack catastrophically; this spares the detector,
 * which is slow on long alternations of words.
 */
function hasQuantifier(pattern: string): boolean {
  const bare = pattern
    .replace(/\\./g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\(\?(?:[:=!]|<[=!]|<[A-Za-z_$][\w$]*>)/g, '(');
  return /[*+?{]/.test(bare);
}

function formatExpected(condition: Condition): string {
  if (condition.op === 'regex') return `/${String(condition.value)}/`;
  return show(condition.value);
}

export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}
