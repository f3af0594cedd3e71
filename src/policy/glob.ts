/**
 * Tool-name globs: `*` is any run of characters, `?` one character, every
 * other character is literal. Written here rather than taken from picomatch
 * because a policy has only these two wildcards and tool names are
 * not paths: picomatch would give `/`, `!`, `{a,b}` and `[...]` meanings a
 * policy author does not expect.
 */
export function isGlob(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('?');
}

export function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (const ch of pattern) {
    if (ch === '*') source += source.endsWith('.*') ? '' : '.*';
    else if (ch === '?') source += '.';
    else source += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}

/** Why a tool name or glob can never match a tool, or undefined when it can. */
export function whyNeverMatches(pattern: string): string | undefined {
  if (pattern === '') return 'an empty name matches no tool';
  if (/\s/.test(pattern)) return 'tool names never contain whitespace, so this can never match';
  if (pattern.replace(/\*/g, '').length > 128) return 'tool names are at most 128 characters, so this can never match';
  return undefined;
}

/** True when the glob matches every name, so later globs can never be reached. */
export function matchesEverything(pattern: string): boolean {
  return /^\*+$/.test(pattern);
}
