import type { Redactor } from '../../redact.js';
import { cutEscaped, escapeJsonCode } from './mrkdwn.js';

export interface ArgumentsLimits {
  /** Longest string value shown whole; longer ones are cut with a marker saying how much is missing. */
  valueChars: number;
  /** Longest escaped text the code block may hold. */
  blockChars: number;
}

export interface ArgumentsText {
  /** Pretty JSON, escaped for a mrkdwn code block, within `blockChars`. */
  code: string;
  /** Some values were replaced by `[redacted]`. */
  redacted: boolean;
  /** How many string values were cut to `valueChars`. */
  cutValues: number;
  /** The JSON text itself was cut to fit (after cutting values). */
  truncated: boolean;
  /** Characters of the pretty JSON before the block was cut. */
  totalChars: number;
}

/**
 * The arguments as a reviewer sees them in the message: secrets redacted
 * first (so no cut can leave half a secret visible), then long strings
 * shortened, then the pretty JSON escaped and cut at a line end to fit
 * Slack's 3,000-character section text.
 */
export function argumentsText(args: Record<string, unknown>, redactor: Redactor, limits: ArgumentsLimits): ArgumentsText {
  const redaction = redactor.redact(args);
  let cutValues = 0;
  const shorten = (node: unknown): unknown => {
    if (typeof node === 'string') {
      if (node.length <= limits.valueChars) return node;
      cutValues++;
      // Never half a surrogate pair, which would show as an escape the agent did not send.
      const end = /[\uD800-\uDBFF]/.test(node[limits.valueChars - 1] ?? '') ? limits.valueChars - 1 : limits.valueChars;
      return `${node.slice(0, end)}… [${node.length - end} more characters]`;
    }
    if (Array.isArray(node)) return node.map(shorten);
    if (node === null || typeof node !== 'object') return node;
    return Object.fromEntries(Object.entries(node).map(([key, child]) => [key, shorten(child)]));
  };
  const pretty = JSON.stringify(shorten(redaction.value), null, 2);
  // Escaping only lengthens text, each character on its own: what lies past blockChars of the JSON is never shown, so it is not escaped (an agent's 256 KiB of U+202E would cost tens of ms on every render).
  const escaped = escapeJsonCode(pretty.length > limits.blockChars ? pretty.slice(0, limits.blockChars + 1) : pretty);
  if (escaped.length <= limits.blockChars) {
    return { code: escaped, redacted: redaction.redacted, cutValues, truncated: false, totalChars: pretty.length };
  }
  const marker = '\n…';
  const room = cutEscaped(escaped, limits.blockChars - marker.length);
  const lineEnd = room.lastIndexOf('\n');
  // Cutting at a line end keeps every shown line whole, unless that would throw most of the room away.
  const kept = lineEnd > room.length / 2 ? room.slice(0, lineEnd) : room;
  return { code: `${kept}${marker}`, redacted: redaction.redacted, cutValues, truncated: true, totalChars: pretty.length };
}

/** Every argument, redacted and escaped as in the message, nothing shortened: for the "Show all arguments" modal to split into blocks. */
export function fullArgumentsText(args: Record<string, unknown>, redactor: Redactor): { code: string; redacted: boolean } {
  const redaction = redactor.redact(args);
  return { code: escapeJsonCode(JSON.stringify(redaction.value, null, 2)), redacted: redaction.redacted };
}
