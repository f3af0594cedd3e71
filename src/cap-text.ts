/**
 * Text an agent or an upstream chose (a tool name, a client name, an error
 * message) cut to `max` characters, with a marker saying how much was cut,
 * so that one oversized request cannot grow every event, log line and mirror
 * line that names it. Never splits a surrogate pair.
 */
export function capText(text: string, max: number): string {
  if (text.length <= max) return text;
  let kept = text.slice(0, max);
  if (/[\uD800-\uDBFF]$/.test(kept)) kept = kept.slice(0, -1);
  return `${kept}…[${text.length - kept.length} more characters]`;
}

/** Longest name (tool, server, grant, client, session, rule) kept whole in an audit event or log line. */
export const MAX_NAME_CHARS = 256;

/** Longest free text (a reason, a detail, an error message) kept whole in an audit event or log line. */
export const MAX_TEXT_CHARS = 2_000;
