/**
 * Comparing JSON values the way a condition does: by JSON type first, so a
 * string never equals a number, a list never equals its only item, and an
 * upstream that coerces `"true"` or `["prod"]` cannot be handed a value the
 * rule did not mean.
 */

export type JsonType = 'string' | 'number' | 'boolean' | 'null' | 'array' | 'object';

/** Integers and floats are one type, as in JSON. Arguments are parsed JSON, so nothing else occurs. */
export function jsonType(value: unknown): JsonType {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  const type = typeof value;
  return type === 'string' || type === 'number' || type === 'boolean' ? type : 'object';
}

const ARTICLE: Record<JsonType, string> = {
  string: 'a string',
  number: 'a number',
  boolean: 'a boolean',
  null: 'null',
  array: 'a list',
  object: 'an object',
};
const PLURAL: Record<JsonType, string> = {
  string: 'strings',
  number: 'numbers',
  boolean: 'booleans',
  null: 'nulls',
  array: 'lists',
  object: 'objects',
};

/** `a string`, `a list`, `null`. */
export function typeName(type: JsonType): string {
  return ARTICLE[type];
}

/** `strings`, `strings and numbers`, for the members of a list. */
export function pluralTypeNames(types: readonly JsonType[]): string {
  const names = [...new Set(types)].map((t) => PLURAL[t]);
  return names.length <= 1 ? (names[0] ?? 'nothing') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/** How a condition reads strings before comparing them. */
export interface TextOptions {
  ignore_case?: boolean;
  normalize?: 'nfkc';
}

export type Fold = (text: string) => string;

/**
 * Exact by default. NFKC makes compatibility forms (fullwidth `ｐｒｏｄ`,
 * ligatures) the plain letters. Case is folded by upper- then lower-casing,
 * which maps `ß` to `ss` and `ſ` to `s` as full Unicode case folding does.
 * Both sides go through the same function, so texts NFKC made equal stay equal.
 */
export function textFold({ ignore_case: ignoreCase = false, normalize }: TextOptions): Fold {
  const nfkc = normalize === 'nfkc' ? (text: string) => text.normalize('NFKC') : (text: string) => text;
  return ignoreCase ? (text) => nfkc(text).toUpperCase().toLowerCase() : nfkc;
}

/**
 * Deep equality of JSON values with no coercion: types must match at every
 * level, object key order does not matter, keys are compared exactly and
 * strings through `fold`. Numbers compare with `===`, so `0` equals `-0`
 * (one JSON number) where `isDeepStrictEqual` would tell them apart.
 */
export function sameJson(a: unknown, b: unknown, fold: Fold): boolean {
  const type = jsonType(a);
  if (type !== jsonType(b)) return false;
  if (type === 'string') return fold(a as string) === fold(b as string);
  if (type === 'array') {
    const x = a as unknown[];
    const y = b as unknown[];
    return x.length === y.length && x.every((item, i) => sameJson(item, y[i], fold));
  }
  if (type === 'object') {
    const x = a as Record<string, unknown>;
    const y = b as Record<string, unknown>;
    const keys = Object.keys(x);
    return keys.length === Object.keys(y).length && keys.every((key) => Object.hasOwn(y, key) && sameJson(x[key], y[key], fold));
  }
  return a === b;
}

/** Why a value written in a policy cannot be compared with JSON arguments, if it cannot. */
export function whyNotJson(value: unknown): string | undefined {
  if (typeof value === 'number' && !Number.isFinite(value))
    return `${String(value)} is not a JSON number, so no argument can be compared with it`;
  if (Array.isArray(value)) {
    for (const item of value) {
      const why = whyNotJson(item);
      if (why) return why;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) {
      const why = whyNotJson(item);
      if (why) return why;
    }
  }
  return undefined;
}
