import { setFlagsFromString } from 'node:v8';
import { isSafePattern } from 'redos-detector';
import { errorMessage } from '../errors.js';

// V8's non-backtracking engine runs a regex with the `l` flag in time linear in
// the input. It is behind a flag; setting it only enables the `l` flag and does
// not change how any other regex runs.
setFlagsFromString('--enable-experimental-regexp-engine');

const MAX_REGEX_LENGTH = 1_000;

/** Longest text a regex on the linear engine reads (≈100 ms worst case); longer text counts as a mismatch. */
export const MAX_LINEAR_REGEX_INPUT = 65_536;

/**
 * How a pattern can run on text an agent chose: on V8's backtracking engine
 * when it cannot backtrack catastrophically, else on the linear-time engine;
 * or why it cannot run safely at all.
 */
export type RegexPlan =
  { engine: 'backtracking' | 'linear'; regex: RegExp } | { engine: 'none'; refused: 'invalid' | 'may_backtrack'; problem: string };

/**
 * A pattern that redos-detector proves safe (or that has no quantifier) runs
 * on the fast backtracking engine; any other needs the linear-time engine,
 * which cannot run lookaround, backreferences or the `i` and `u` flags. The
 * check counts steps, not time, so a pattern gets the same answer on a busy
 * machine as on an idle one.
 */
export function planRegex(pattern: string, flags: string): RegexPlan {
  if (pattern.length > MAX_REGEX_LENGTH)
    return { engine: 'none', refused: 'invalid', problem: `the pattern is longer than ${MAX_REGEX_LENGTH} characters` };
  let regex: RegExp;
  try {
    regex = new RegExp(pattern, flags);
  } catch (err) {
    return { engine: 'none', refused: 'invalid', problem: `invalid regex: ${errorMessage(err)}` };
  }
  if (!hasQuantifier(pattern)) return { engine: 'backtracking', regex };
  const proven = detect(pattern, flags);
  if (proven === true) return { engine: 'backtracking', regex };
  try {
    return { engine: 'linear', regex: new RegExp(pattern, `${flags}l`) };
  } catch {
    return { engine: 'none', refused: 'may_backtrack', problem: proven };
  }
}

/** True when redos-detector proves the pattern safe, else why not. */
function detect(pattern: string, flags: string): true | string {
  try {
    const result = isSafePattern(pattern, {
      timeout: Infinity,
      caseInsensitive: flags.includes('i'),
      dotAll: flags.includes('s'),
      multiLine: flags.includes('m'),
      unicode: flags.includes('u'),
    });
    return result.safe || 'it may backtrack catastrophically on crafted input';
  } catch (err) {
    // The detector throws on some patterns it cannot model (flags "i" and "u" together, some "i" ranges); unproven is not safe.
    return `redos-detector cannot tell whether it may backtrack catastrophically (${errorMessage(err)})`;
  }
}

export interface SafeRegex {
  /** `mismatch` when the text is longer than the linear engine reads. */
  test(text: string): 'holds' | 'fails' | 'mismatch';
}

/**
 * A condition's regex runs on text an agent chose, so a pattern that can
 * backtrack catastrophically would let one call stall the gateway: it runs
 * on the linear-time engine, with bounded input, or is refused when the
 * policy loads.
 */
export function compileSafeRegex(value: unknown, flags: string): SafeRegex | string {
  if (typeof value !== 'string') return `regex needs a pattern string as value, got ${JSON.stringify(value) ?? String(value)}`;
  const plan = planRegex(value, flags);
  if (plan.engine === 'none' && plan.refused === 'invalid') return plan.problem;
  if (plan.engine === 'none') {
    return `regex ${JSON.stringify(value)} is refused: ${plan.problem}, and the linear-time engine cannot run it (it has lookaround, backreferences or the "i" flag); rewrite it without nested repetition, or without those`;
  }
  const { regex } = plan;
  if (plan.engine === 'backtracking') return { test: (text) => (regex.test(text) ? 'holds' : 'fails') };
  return { test: (text) => (text.length > MAX_LINEAR_REGEX_INPUT ? 'mismatch' : regex.test(text) ? 'holds' : 'fails') };
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
