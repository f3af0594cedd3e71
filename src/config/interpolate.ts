import type { Problem } from '../errors.js';
import { problemAt, type SourceDocument } from './document.js';

export type Expansion = { ok: true; text: string } | { ok: false; message: string };

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(:-|\})/y;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in one string; `$${` is a literal
 * `${`. As in the shell, `:-` applies when the variable is unset or empty, and
 * a default is only expanded when it is used, so `${A:-${B}}` needs B only
 * when A is unset.
 */
export function expandString(text: string, env: NodeJS.ProcessEnv): Expansion {
  const result = expand(text, 0, env, true, false);
  return 'message' in result ? { ok: false, message: result.message } : { ok: true, text: result.text };
}

type Scan = { text: string; end: number } | { message: string };

function expand(text: string, start: number, env: NodeJS.ProcessEnv, evaluate: boolean, inDefault: boolean): Scan {
  let out = '';
  let i = start;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      out += '${';
      i += 3;
    } else if (inDefault && text[i] === '}') {
      return { text: out, end: i + 1 };
    } else if (text.startsWith('${', i)) {
      REFERENCE.lastIndex = i;
      const match = REFERENCE.exec(text);
      if (!match) return { message: badReference(text, i) };
      const name = match[1] ?? '';
      const value = env[name];
      i = REFERENCE.lastIndex;
      if (match[2] === '}') {
        if (value === undefined && evaluate) return { message: notSet(name) };
        out += value ?? '';
        continue;
      }
      const useDefault = value === undefined || value === '';
      const fallback = expand(text, i, env, evaluate && useDefault, true);
      if ('message' in fallback) return fallback;
      out += useDefault ? fallback.text : value;
      i = fallback.end;
    } else {
      out += text[i];
      i += 1;
    }
  }
  if (inDefault) return { message: `unterminated "\${...:-default}" in ${JSON.stringify(text)}: a "}" is missing` };
  return { text: out, end: i };
}

function notSet(name: string): string {
  return `environment variable ${name} is not set (use \${${name}:-value} for a default)`;
}

function badReference(text: string, at: number): string {
  const shown = text.slice(at, at + 30);
  return `cannot read ${JSON.stringify(shown)} as a variable reference: write \${NAME} or \${NAME:-default}, or $\${ for a literal "\${"`;
}

/**
 * Expands references in every string of a parsed document (keys stay as
 * written). Working on parsed values rather than the raw text means a
 * variable's value can never add YAML structure. A string that cannot be
 * expanded is left as written and reported.
 */
export function interpolate(source: SourceDocument, env: NodeJS.ProcessEnv): { value: unknown; problems: Problem[] } {
  const problems: Problem[] = [];
  const walk = (value: unknown, path: readonly PropertyKey[]): unknown => {
    if (typeof value === 'string') {
      const result = expandString(value, env);
      if (result.ok) return result.text;
      problems.push(problemAt(source, path, result.message));
      return value;
    }
    if (Array.isArray(value)) return value.map((item, index) => walk(item, [...path, index]));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, walk(item, [...path, key])]));
    }
    return value;
  };
  return { value: walk(source.value, []), problems };
}
