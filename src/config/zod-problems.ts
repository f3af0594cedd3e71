import { closest, distance } from 'fastest-levenshtein';
import type { z } from 'zod';
import type { Problem } from '../errors.js';
import { problemAt, type SourceDocument } from './document.js';

type AnySchema = z.core.$ZodType;

/**
 * Turns zod issues into one `file: path: problem` line each, in words a person
 * writing YAML understands ("expected a number, got "ten""), with a
 * "did you mean" for misspelt keys and enum values.
 */
export function problemsFromIssues(source: SourceDocument, schema: AnySchema, issues: readonly z.core.$ZodIssue[]): Problem[] {
  const problems: Problem[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(schema, issue.path);
      for (const key of issue.keys) {
        problems.push(problemAt(source, [...issue.path, key], `unknown key${suggest(key, known)}`));
      }
      continue;
    }
    problems.push(problemAt(source, issue.path, describeIssue(issue)));
  }
  return problems;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const got = describeValue((issue as { input?: unknown }).input);
  switch (issue.code) {
    case 'invalid_type':
      if (got === 'nothing') return `required: expected ${article(issue.expected)}`;
      return `expected ${article(issue.expected)}, got ${got}`;
    case 'invalid_value': {
      const values = issue.values.map((v) => JSON.stringify(v));
      const input = (issue as { input?: unknown }).input;
      const hint = typeof input === 'string' ? suggest(input, issue.values.map(String), { listOtherwise: false }) : '';
      const expected = `expected ${values.length === 1 ? values[0] : `one of ${values.join(', ')}`}`;
      return got === 'nothing' ? `required: ${expected}` : `${expected}, got ${got}${hint}`;
    }
    case 'too_small':
      return issue.origin === 'array' || issue.origin === 'string'
        ? `too short: needs at least ${String(issue.minimum)} ${issue.origin === 'array' ? 'entries' : 'characters'}`
        : `must be ${issue.inclusive ? 'at least' : 'greater than'} ${String(issue.minimum)}, got ${got}`;
    case 'too_big':
      return issue.origin === 'array' || issue.origin === 'string'
        ? `too long: at most ${String(issue.maximum)} ${issue.origin === 'array' ? 'entries' : 'characters'}`
        : `must be ${issue.inclusive ? 'at most' : 'less than'} ${String(issue.maximum)}, got ${got}`;
    case 'invalid_union':
      if (got === 'nothing') return 'required';
      return `${issue.message === 'Invalid input' ? 'does not match any accepted form' : issue.message}, got ${got}`;
    default:
      return issue.message;
  }
}

function article(type: string): string {
  const names: Record<string, string> = {
    object: 'a mapping',
    array: 'a list',
    string: 'a string',
    number: 'a number',
    int: 'an integer',
    boolean: 'true or false',
    record: 'a mapping',
  };
  return names[type] ?? type;
}

export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return String(value);
}

/**
 * `, did you mean "allow"?` when a known word is close enough to be a typo;
 * otherwise the known words, unless the message lists them already.
 */
export function suggest(word: string, known: readonly string[], { listOtherwise = true } = {}): string {
  if (known.length === 0) return '';
  const best = closest(word, known as string[]);
  const limit = Math.max(2, Math.floor(best.length / 3));
  const apart = distance(word.toLowerCase(), best.toLowerCase());
  // A word that shares no letter with the best match ("2" for "1") is no typo of it.
  if (apart > limit || apart >= best.length) {
    return listOtherwise && known.length <= 12 ? ` (expected one of: ${known.join(', ')})` : '';
  }
  return `, did you mean "${best}"?`;
}

/** The keys an object schema accepts at `path`, looking through optional, default, array and record wrappers. */
function knownKeysAt(schema: AnySchema, path: readonly PropertyKey[]): string[] {
  const found = new Set<string>();
  const visit = (s: AnySchema, rest: readonly PropertyKey[]): void => {
    const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
    switch (def.type) {
      case 'optional':
      case 'default':
      case 'prefault':
      case 'nullable':
      case 'readonly':
        visit(def.innerType as AnySchema, rest);
        return;
      case 'pipe':
        visit(def.in as AnySchema, rest);
        return;
      case 'union':
        for (const option of def.options as AnySchema[]) visit(option, rest);
        return;
      case 'array':
        if (rest.length > 0) visit(def.element as AnySchema, rest.slice(1));
        return;
      case 'record':
        if (rest.length > 0) visit(def.valueType as AnySchema, rest.slice(1));
        return;
      case 'object': {
        const shape = def.shape as Record<string, AnySchema>;
        if (rest.length === 0) {
          for (const key of Object.keys(shape)) found.add(key);
          return;
        }
        const next = shape[String(rest[0])];
        if (next) visit(next, rest.slice(1));
        return;
      }
      default:
        return;
    }
  };
  visit(schema, path);
  return [...found];
}
