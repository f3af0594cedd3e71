/**
 * Slack `mrkdwn` text from values Airlock does not control (the agent's
 * arguments, its MCP client name, policy reasons that quote arguments).
 * Slack reads `&`, `<` and `>` as control characters in every text, code
 * blocks included: unescaped, `<!channel>` pings a whole channel and
 * `<https://x|y>` shows a link whose text lies about its target.
 */
export function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Text shown inside a code block or span: escaped, and with a zero-width
 * space after every backtick, so no run of backticks in an argument can close
 * the block early and have the rest read as Airlock's own words.
 */
export function escapeCode(text: string): string {
  return escapeText(text).replace(/`/g, '`\u200b');
}

/** An inline code span; an empty value shows as an em dash rather than an empty span Slack would print as two backticks. */
export function inlineCode(text: string): string {
  return text === '' ? '—' : `\`${escapeCode(text)}\``;
}

/**
 * At most `max` characters of already escaped text, never ending inside an
 * entity (`&am`) or between the halves of a surrogate pair, which Slack would
 * show as garbage. Returns the text unchanged when it fits.
 */
export function cutEscaped(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, Math.max(0, max));
  cut = cut.replace(/&[a-z]{0,3}$/, '');
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return cut;
}

/** Plain text (headers, modal titles) cut to `max` characters with an ellipsis. */
export function cutPlain(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, max - 1);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
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
