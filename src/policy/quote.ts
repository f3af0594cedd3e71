import { typeName, type JsonType } from './json-compare.js';

/**
 * How a reason quotes an argument. A reason reaches the agent, Slack and the
 * audit trail, and redaction can only hide a secret that appears whole: a
 * cut-off secret would pass it. So a quote is a short excerpt of the value
 * the caller says may be shown, never a long prefix of it.
 */
export const EXCERPT_CHARS = 32;

/** `"main"`, `20000`, `"DROP TABLE…"…(205 characters)`, `a list of 40 items`. */
export function quote(value: unknown): string {
  if (value === undefined) return '(not shown)';
  if (typeof value === 'string') return excerpt(value);
  // A number, boolean or null is at most 24 characters of JSON.
  const text = printable(JSON.stringify(value) ?? String(value));
  if (text.length <= EXCERPT_CHARS || value === null || typeof value !== 'object') return text;
  return Array.isArray(value) ? `a list of ${count(value.length, 'item')}` : `an object with ${count(Object.keys(value).length, 'key')}`;
}

/**
 * The value with its JSON type, for a reason about a type the rule did not
 * expect: `a string "true"`, `a list ["prod"]`, `null`. The type is the one
 * the condition saw; the value is the one that may be shown.
 */
export function quoteTyped(type: JsonType, shown: unknown): string {
  if (type === 'null') return 'null';
  const quoted = quote(shown);
  return quoted.startsWith('a list of') || quoted.startsWith('an object with') ? quoted : `${typeName(type)} ${quoted}`;
}

/** A value written in the policy (not secret, but may be long): JSON, cut at 80 characters. */
export function showExpected(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = printable(JSON.stringify(value) ?? String(value));
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function excerpt(text: string): string {
  if (text.length <= EXCERPT_CHARS) return printable(JSON.stringify(text));
  // Cutting between the halves of a surrogate pair would quote half a character.
  const end = isHighSurrogate(text.charCodeAt(EXCERPT_CHARS - 1)) ? EXCERPT_CHARS - 1 : EXCERPT_CHARS;
  return `${printable(JSON.stringify(text.slice(0, end)))}…(${text.length} characters)`;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/**
 * JSON escapes C0 controls but not DEL, C1 controls, bidirectional overrides
 * or line separators, which could make a quoted value read as something else
 * to a reviewer.
 */
function printable(json: string): string {
  return json.replace(/[\u007f-\u009f\p{Cf}\u2028\u2029]/gu, (ch) => `\\u${(ch.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`);
}
