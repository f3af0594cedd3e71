/**
 * Characters that change how text reads without being seen: the bidi
 * controls (`rm -rf /`, U+202E, ` eludom_esu` reads `rm -rf /use_module`),
 * zero-width and other format characters (`\p{Cf}`), everything Unicode calls default
 * ignorable (fillers, variation selectors, the tag characters U+E0000–E007F
 * that can spell hidden ASCII after an emoji), C0 and C1 controls but tab and
 * line feed (a carriage return rewrites a terminal line, ESC drives it), line
 * and paragraph separators, lone surrogates, and code points this Node's
 * Unicode tables do not know (`\p{Cn}`: nobody can tell how they show).
 * The tables are the JavaScript engine's (ICU), kept current with Node; no
 * list of our own to fall behind.
 */
const INVISIBLE_CLASS = String.raw`[\x00-\x08\x0B-\x1F\x7F-\x9F\p{Cf}\p{Cs}\p{Cn}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\p{Variation_Selector}]`;
const INVISIBLE = new RegExp(INVISIBLE_CLASS, 'u');
const EVERY_INVISIBLE = new RegExp(INVISIBLE_CLASS, 'gu');
/**
 * A whole run of backslashes that an escape, or a literal `u`, follows; or
 * an invisible character. The run is taken from its first backslash only
 * and at once (`(?=(…))\1` cannot backtrack): tried from every backslash, or
 * shortened one by one, a long run would cost time quadratic in its length.
 */
const PLAIN_ESCAPES = new RegExp(String.raw`(?<!\\)(?=(\\+))\1(?=u|${INVISIBLE_CLASS})|${INVISIBLE_CLASS}`, 'gu');

/** The same, with tab and line feed too: for text shown on one line, where a line feed would start a line of its own. */
const LINE_CLASS = INVISIBLE_CLASS.replace(String.raw`\x00-\x08\x0B-\x1F`, String.raw`\x00-\x1F`);
const LINE_ESCAPES = new RegExp(String.raw`(?<!\\)(?=(\\+))\1(?=u|${LINE_CLASS})|${LINE_CLASS}`, 'gu');

/** What a reader of escaped text is told, wherever it is shown. */
export const INVISIBLE_NOTE = 'This call contains invisible or direction-changing characters, shown as \\uXXXX';

export function hasInvisible(text: string): boolean {
  return INVISIBLE.test(text);
}

/** Whether any string in `value`, or any key of an object in it, holds an invisible character. */
export function containsInvisible(value: unknown): boolean {
  if (typeof value === 'string') return hasInvisible(value);
  if (Array.isArray(value)) return value.some(containsInvisible);
  if (value === null || typeof value !== 'object') return false;
  return Object.entries(value).some(([key, child]) => hasInvisible(key) || containsInvisible(child));
}

/**
 * Text as a reader must see it: each invisible character as `\u202E`
 * (`\u{E0041}` beyond the BMP). So that text which already reads `\u202E`
 * cannot pass for an escaped U+202E, backslashes before a `u` or an escape
 * are doubled: a typed `\u202E` shows as `\\u202E`, and any output reads
 * back to one input only (an odd run of backslashes before `u` ends in an
 * escape, an even one does not).
 */
export function escapeInvisible(text: string): string {
  return text.replace(PLAIN_ESCAPES, (match: string, backslashes: string | undefined) =>
    backslashes === undefined ? escapeOne(match) : backslashes + backslashes,
  );
}

/**
 * `escapeInvisible` for text shown on one line of a table or a header (a
 * tool name, a client name, a grant): a line feed or tab there is escaped
 * too (`\u000A`), so text an agent or an upstream chose cannot add a row
 * of its own, such as a command that decides another request.
 */
export function escapeLine(text: string): string {
  return text.replace(LINE_ESCAPES, (match: string, backslashes: string | undefined) =>
    backslashes === undefined ? escapeOne(match) : backslashes + backslashes,
  );
}

/**
 * `escapeInvisible` for JSON text (`JSON.stringify`'s output): its
 * backslashes are already escapes of JSON's own (a typed `\u202E` is
 * `\\u202E` there), so only the invisible characters it leaves as they are
 * (DEL, C1, format characters, separators) are escaped. Within the BMP the
 * escape is JSON's own, so the text still parses to the same value.
 */
export function escapeInvisibleInJson(json: string): string {
  return json.replace(EVERY_INVISIBLE, escapeOne);
}

function escapeOne(char: string): string {
  const point = char.codePointAt(0) ?? 0;
  const hex = point.toString(16).toUpperCase();
  return point > 0xffff ? `\\u{${hex}}` : `\\u${hex.padStart(4, '0')}`;
}
