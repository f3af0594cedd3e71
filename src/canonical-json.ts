import { createHash } from 'node:crypto';

/**
 * RFC 8785 (JCS) for values that came from JSON: keys sorted by UTF-16 code
 * units, and numbers and strings as ECMAScript's JSON.stringify writes them,
 * which is what the RFC specifies. (The `canonicalize` package does the same
 * but its types do not match its CommonJS export under NodeNext.)
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

/** SHA-256 (hex) over the canonical JSON: key order and number spelling cannot change it. */
export function canonicalDigest(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}
