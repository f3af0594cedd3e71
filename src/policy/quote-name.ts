/**
 * URIs and prompt names come from agents and servers, and end up in reasons
 * shown to the agent, in logs, in the audit trail and on terminals. A hostile
 * one can be a megabyte long, or carry escape sequences a terminal acts on
 * and bidirectional overrides that make a reviewer read another name.
 */

// Controls (C0, DEL, C1), the invisible format characters (bidi overrides, zero-width joiners), line and paragraph separators.
const UNPRINTABLE = /[\p{Cc}\p{Cf}\u2028\u2029]/gu;

function escapeUnprintable(text: string): string {
  return text.replace(UNPRINTABLE, (ch) => `\\u${ch.codePointAt(0)!.toString(16).padStart(4, '0')}`);
}

/** The first `max` UTF-16 units of `text`, never splitting a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = /[\ud800-\udbff]/.test(text[max - 1] ?? '') ? max - 1 : max;
  return text.slice(0, end);
}

/** The text with unprintable characters written as `\uXXXX`, cut at `max` characters of the original and then ending in `…`. */
export function printableName(text: string, max: number): string {
  const kept = cut(text, max);
  return escapeUnprintable(kept) + (kept.length < text.length ? '…' : '');
}

/** `"file:///srv/a.txt"`, or `"file:///srv/aaaa"… (1000000 characters)` for a long one: for a reason a person reads. */
export function quoteName(text: string, max = 200): string {
  const kept = cut(text, max);
  const quoted = escapeUnprintable(JSON.stringify(kept).slice(1, -1));
  return kept.length < text.length ? `"${quoted}"… (${text.length} characters)` : `"${quoted}"`;
}
