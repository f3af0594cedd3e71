/**
 * Condition paths: `args.amount`, `args.items[0].price`, `args["key.with.dots"]`,
 * or `grant`. Parsed once when the policy is compiled.
 */
export type PathRoot = 'args' | 'grant';
export interface ParsedPath {
  root: PathRoot;
  segments: (string | number)[];
}

const ROOTS: readonly PathRoot[] = ['args', 'grant'];

export function parseArgPath(text: string): ParsedPath | string {
  const rootMatch = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text);
  const root = rootMatch?.[0];
  if (root === undefined || !ROOTS.includes(root as PathRoot)) {
    return `path must start with "args" (the tool's arguments, e.g. "args.amount") or be "grant", got ${JSON.stringify(text)}`;
  }
  const segments: (string | number)[] = [];
  let i = root.length;
  while (i < text.length) {
    const rest = text.slice(i);
    const dotted = /^\.([A-Za-z0-9_$-]+)/.exec(rest);
    const indexed = /^\[(\d+)\]/.exec(rest);
    const quoted = /^\[("(?:[^"\\]|\\.)*")\]/.exec(rest);
    if (dotted) {
      segments.push(dotted[1] as string);
      i += dotted[0].length;
    } else if (indexed) {
      segments.push(Number(indexed[1]));
      i += indexed[0].length;
    } else if (quoted) {
      segments.push(JSON.parse(quoted[1] as string) as string);
      i += quoted[0].length;
    } else {
      return `cannot read path ${JSON.stringify(text)} at ${JSON.stringify(rest)}: use ".key", "[0]" or ["key with.dots"]`;
    }
  }
  if (root === 'grant' && segments.length > 0) return `"grant" is the grant's name and has no fields, got ${JSON.stringify(text)}`;
  return { root: root as PathRoot, segments };
}

/** The value at a parsed path, or undefined when any step is missing. Own properties only. */
export function resolvePath(path: ParsedPath, args: unknown, grant: string | undefined): unknown {
  if (path.root === 'grant') return grant;
  let current: unknown = args;
  for (const segment of path.segments) {
    if (Array.isArray(current)) {
      // `items.0` reads like `items[0]` on an array, as in most policy languages.
      const index = typeof segment === 'number' ? segment : /^\d+$/.test(segment) ? Number(segment) : -1;
      if (index < 0 || index >= current.length) return undefined;
      current = current[index];
    } else if (typeof segment === 'number') {
      return undefined;
    } else {
      if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
      if (!Object.hasOwn(current, segment)) return undefined;
      current = (current as Record<string, unknown>)[segment];
    }
  }
  return current;
}
