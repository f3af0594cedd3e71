import { REDACTED, type Redactor } from '../../redact.js';
import { cutEscaped, escapeCode } from './mrkdwn.js';

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
 * The arguments as a reviewer sees them: secrets redacted first (so no cut
 * can leave half a secret visible), then long strings shortened, then the
 * pretty JSON escaped and cut at a line end to fit Slack's 3,000-character
 * section text.
 */
export function argumentsText(args: Record<string, unknown>, redactor: Redactor, limits: ArgumentsLimits): ArgumentsText {
  const redaction = redactor.redact(args);
  let cutValues = 0;
  const shorten = (node: unknown): unknown => {
    if (typeof node === 'string') {
      if (node.length <= limits.valueChars) return node;
      cutValues++;
      return `${node.slice(0, limits.valueChars)}… [${node.length - limits.valueChars} more characters]`;
    }
    if (Array.isArray(node)) return node.map(shorten);
    if (node === null || typeof node !== 'object') return node;
    return Object.fromEntries(Object.entries(node).map(([key, child]) => [key, shorten(child)]));
  };
  const pretty = JSON.stringify(shorten(redaction.value), null, 2);
  const escaped = escapeCode(pretty);
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

/**
 * Hides in free text (the policy's reason, an upstream error) every value the
 * redactor hides in the arguments: a condition's reason quotes the argument
 * it tested (`args.api_key is "sk_live_…"`), and an error may echo one.
 */
export function secretHider(args: Record<string, unknown>, redactor: Redactor): (text: string) => string {
  const secrets = new Set<string>();
  const collect = (original: unknown, shown: unknown): void => {
    if (shown === REDACTED && original !== REDACTED) {
      for (const leaf of leaves(original)) secrets.add(leaf).add(JSON.stringify(leaf).slice(1, -1));
      return;
    }
    if (original !== null && typeof original === 'object' && shown !== null && typeof shown === 'object') {
      for (const [key, child] of Object.entries(original)) collect(child, (shown as Record<string, unknown>)[key]);
    }
  };
  collect(args, redactor.redact(args).value);
  // Longest first, so a secret containing another is hidden whole.
  const ordered = [...secrets].filter((s) => s !== '').sort((a, b) => b.length - a.length);
  return (text) => ordered.reduce((hidden, secret) => hidden.split(secret).join(REDACTED), text);
}

/** The texts of a hidden value. Short numbers and booleans (`secret_enabled: true`) are left out: hiding every "1" or "true" in a reason would garble it and protect nothing. */
function leaves(value: unknown): string[] {
  if (value === null || value === undefined) return [];
  if (typeof value === 'string') return [value];
  if (typeof value !== 'object') return String(value).length >= 4 ? [String(value)] : [];
  return Object.values(value).flatMap(leaves);
}
