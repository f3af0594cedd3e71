import { relative } from 'node:path';

/** Where a command writes; tests pass buffers, `main` passes the process streams. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** A path as a person in `cwd` would type it: relative when inside, absolute otherwise. */
export function displayPath(io: Io, file: string): string {
  const rel = relative(io.cwd, file);
  return rel === '' || rel.startsWith('..') ? file : rel;
}

/** `text` as one shell word, so a command shown to be pasted works whatever a path holds. */
export function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Aligned `label: value` lines. */
export function table(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([label]) => label.length)) + 1;
  return rows.map(([label, value]) => `${`${label}:`.padEnd(width + 1)}${value}`).join('\n');
}

export const ExitCode = { Ok: 0, Failed: 1, Usage: 2 } as const;

/** `1 request`, `2 requests`. */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
