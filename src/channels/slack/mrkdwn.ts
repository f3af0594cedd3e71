import { escapeInvisible, escapeInvisibleInJson } from '../../invisible-characters.js';

/**
 * Slack `mrkdwn` text from values Airlock does not control (the agent's
 * arguments, its MCP client name, policy reasons that quote arguments).
 * Slack reads `&`, `<` and `>` as control characters in every text, code
 * blocks included: unescaped, `<!channel>` pings a whole channel and
 * `<https://x|y>` shows a link whose text lies about its target. Invisible
 * and direction-changing characters are shown as `\u202E` (see
 * escapeInvisible), so the text cannot read as something it is not.
 */
export function escapeText(text: string): string {
  return escapeEntities(escapeInvisible(text));
}

/**
 * Text shown inside a code block or span: escaped, and with a zero-width
 * space after every backtick, so no run of backticks in an argument can close
 * the block early and have the rest read as Airlock's own words.
 */
export function escapeCode(text: string): string {
  return breakBackticks(escapeText(text));
}

/** `escapeCode` for JSON text, whose backslashes are JSON's own escapes already. */
export function escapeJsonCode(json: string): string {
  return breakBackticks(escapeEntities(escapeInvisibleInJson(json)));
}

function escapeEntities(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function breakBackticks(text: string): string {
  return text.replace(/`/g, '`\u200b');
}

/** An inline code span; an empty value shows as an em dash rather than an empty span Slack would print as two backticks. */
export function inlineCode(text: string): string {
  return text === '' ? '—' : `\`${escapeCode(text)}\``;
}

/**
 * At most `max` characters of already escaped text, never ending inside an
 * entity (`&am`) or between the halves of a surrogate pair, which Slack would
 * show as garbage, nor inside a backslash escape (`\u20`, or the first
 * backslash of `\\`), whose rest would then read as something else, nor
 * between a backtick and its zero-width space. Returns the text unchanged
 * when it fits.
 */
export function cutEscaped(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, Math.max(0, max));
  // A backtick keeps the zero-width space escapeCode put after it.
  if (cut.endsWith('`') && text[cut.length] === '\u200b') cut = cut.slice(0, -1);
  cut = cut.replace(/&[a-z]{0,3}$/, '');
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return withoutPartialEscape(cut);
}

/** An odd backslash at the end starts an escape (or is half of `\\`): it goes with what follows. */
function withoutPartialEscape(cut: string): string {
  return cut.replace(/(?<!\\)((?:\\\\)*)\\(?:u(?:\{[0-9A-F]*|[0-9A-F]{0,3}))?$/, '$1');
}

/**
 * Escaped text in pieces of at most `max` characters (one Slack block
 * each), cut where `cutEscaped` may cut, at a line end when one is in the
 * second half of the piece; a line end cut at is dropped, since each piece
 * starts a block of its own. Nothing else is lost: the pieces joined, with
 * those line ends, are the text.
 */
export function splitEscaped(text: string, max: number): string[] {
  const pieces: string[] = [];
  let rest = text;
  while (rest.length > max) {
    // `|| …`: a max shorter than one escape must still make progress.
    const room = cutEscaped(rest, max) || rest.slice(0, 1);
    const lineEnd = room.lastIndexOf('\n');
    const atLineEnd = lineEnd > room.length / 2;
    pieces.push(atLineEnd ? room.slice(0, lineEnd) : room);
    rest = rest.slice(atLineEnd ? lineEnd + 1 : room.length);
  }
  pieces.push(rest);
  return pieces;
}

/** Plain text (headers, modal titles) cut to `max` characters with an ellipsis, never inside a surrogate pair or an escape. */
export function cutPlain(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, max - 1);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${withoutPartialEscape(cut)}…`;
}

/** A time each reader sees in their own time zone; the ISO form is the fallback for clients that cannot format it. */
export function slackDate(ms: number): string {
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} at {time_secs}|${new Date(ms).toISOString()}>`;
}

/** A Slack user (`U…`, `W…`) or user group (`S…`) as a mention; anything else (an admin's name from the console) as code. */
export function mention(id: string): string {
  if (/^[UW][A-Z0-9]{2,}$/.test(id)) return `<@${id}>`;
  if (/^S[A-Z0-9]{2,}$/.test(id)) return `<!subteam^${id}>`;
  return inlineCode(id);
}
