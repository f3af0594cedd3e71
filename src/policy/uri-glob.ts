import { setFlagsFromString } from 'node:v8';

/**
 * Resource URI globs. `*` is any run of characters but `/`, so
 * `file:///srv/reports/*` names the files in that folder and not those in
 * folders below it (what people mean by it in a path); `**` is any run of
 * characters, `/` included, and `/**\/` also matches a single `/`. Every
 * other character is literal. Written here rather than taken from
 * picomatch: in a URI `?` starts a query, `[` `]` hold an IPv6 host,
 * `{` `}` a template variable and `(`, `|`, `!` are ordinary characters,
 * and picomatch gives each a meaning (`https://x/(a|b)` matched
 * `https://x/a`, `?` matched any character).
 *
 * A glob matches the URI as sent, character by character. So that a URI
 * cannot name a resource under a spelling the globs do not expect, a URI
 * with a form a server may resolve to another (see `whyAmbiguous`) is
 * refused while any glob is written.
 */

// Globs run on URIs an agent chose: a pattern with several `**` would backtrack
// polynomially on the backtracking engine, so they run on V8's linear-time one.
setFlagsFromString('--enable-experimental-regexp-engine');

/** `s` (a `.` matches newlines too) and `l` (the linear-time engine); a constant, since linters do not know `l`. */
export const LINEAR_FLAGS = 'sl';

/** Longest URI a glob is matched against; longer ones are refused while globs are written. */
export const MAX_URI_LENGTH = 8_192;

export function uriGlobToRegExp(glob: string): RegExp {
  let source = '';
  for (const token of glob.match(/\/\*\*\/|\*\*+|\*|[^*]/g) ?? []) {
    if (token === '/**/') source += '/(?:.*/)?';
    else if (token.startsWith('**')) source += '.*';
    else if (token === '*') source += '[^/]*';
    else source += token.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, LINEAR_FLAGS);
}

const SCHEME = /^([a-z][a-z0-9+.-]*):/;
// Controls, invisible format characters, every kind of space, and `\`, which some servers read as `/`.
const UNSAFE_CHARACTER = /[\p{Cc}\p{Cf}\p{Z}\\]/u;
// Unreserved characters, `/` and `\`: a server that decodes them reads another path than the glob saw.
const NEEDLESS_ESCAPE = /^[A-Za-z0-9\-._~/\\]$/;

/**
 * Why a server might read this URI as another than it looks, or undefined
 * when it is plain: globs compare text, servers resolve `..`, decode `%2e`,
 * ignore the case of a scheme or host and the `localhost` of a file URI.
 */
export function whyAmbiguous(uri: string): string | undefined {
  if (uri.length > MAX_URI_LENGTH) return `is ${uri.length} characters long, more than the ${MAX_URI_LENGTH} Airlock compares with globs`;
  const scheme = SCHEME.exec(uri)?.[1];
  if (scheme === undefined) return 'does not begin with a lower-case scheme (like file: or https:)';
  return whyAmbiguousAfterScheme(scheme, uri.slice(scheme.length + 1), undefined);
}

/** `wildcard`: in a glob's probe, the character standing for wildcards, which may turn out to be anything. */
function whyAmbiguousAfterScheme(scheme: string, rest: string, wildcard: string | undefined): string | undefined {
  const text = whyUnsafeText(rest, wildcard);
  if (text) return text;
  let path = rest;
  if (rest.startsWith('//')) {
    const end = rest.slice(2).search(/[/?#]/);
    const authority = end === -1 ? rest.slice(2) : rest.slice(2, end + 2);
    // A wildcard in a glob's host may stand for a path (`file://**`): nothing is certain about it.
    if (wildcard === undefined || !authority.includes(wildcard)) {
      if (/[A-Z]/.test(authority)) return 'has upper-case letters in its host (servers ignore their case)';
      if (scheme === 'file' && authority !== '') return `names the host "${authority}" in a file URI (file:///path has none)`;
    }
    path = end === -1 ? '' : rest.slice(end + 2);
  }
  if (hasDotSegment(path)) return 'has a "." or ".." segment';
  if (path.split(/[?#]/, 1)[0]!.includes('//')) return 'has an empty path segment ("//")';
  return undefined;
}

/** Checks that hold wherever the text sits in a URI. */
function whyUnsafeText(text: string, wildcard: string | undefined): string | undefined {
  const unsafe = UNSAFE_CHARACTER.exec(text);
  if (unsafe) return `contains ${describeCharacter(unsafe[0])}`;
  for (const escape of text.matchAll(/%(.{0,2})/gs)) {
    const hex = escape[1]!;
    if (wildcard !== undefined && hex.includes(wildcard)) continue;
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return 'has a "%" that is not a percent-escape (%XX)';
    const decoded = String.fromCharCode(Number.parseInt(hex, 16));
    if (NEEDLESS_ESCAPE.test(decoded)) return `has the percent-escape ${escape[0]} of ${JSON.stringify(decoded)}, which needs none`;
  }
  return undefined;
}

function hasDotSegment(path: string): boolean {
  return path.split('/').some((s) => s === '.' || s === '..');
}

function describeCharacter(ch: string): string {
  if (ch === ' ') return 'a space';
  if (ch === '\\') return 'a backslash';
  return `the character U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

// Stands for a run of wildcards in a glob's probe; the checks treat what contains it as unknown.
const WILDCARD = '\uE000';

/** Why a glob can never match a URI that is let through to it, or undefined when it can. */
export function whyUriGlobNeverMatches(glob: string): string | undefined {
  if (glob === '') return 'an empty glob matches no URI';
  if (glob.replace(/\*/g, '').length > MAX_URI_LENGTH)
    return `URIs longer than ${MAX_URI_LENGTH} characters are refused, so this can never match`;
  // What the literal parts say for certain.
  const probe = glob.replace(/\*+/g, WILDCARD);
  const colon = probe.indexOf(':');
  const wild = probe.indexOf(WILDCARD);
  const scheme = SCHEME.exec(probe)?.[1];
  let problem: string | undefined;
  if (scheme !== undefined) problem = whyAmbiguousAfterScheme(scheme, probe.slice(scheme.length + 1), WILDCARD);
  // A wildcard before the first ":" may hold the scheme's end, so where the path starts is not known.
  else if (wild !== -1 && (colon === -1 || wild < colon))
    problem = whyUnsafeText(probe, WILDCARD) ?? (hasDotSegment(probe) ? 'has a "." or ".." segment' : undefined);
  else problem = 'does not begin with a lower-case scheme (like file: or https:)';
  return problem && `this glob can never match: it ${problem}, and such URIs are refused while resources has globs`;
}
