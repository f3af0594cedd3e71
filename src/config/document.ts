import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { LineCounter, isMap, isNode, isScalar, parseDocument, type Document } from 'yaml';
import { DocumentError, type ErrorCode, errorMessage, type Problem } from '../errors.js';

/** A parsed config or policy file that can still say on which line a path sits. */
export interface SourceDocument {
  file: string;
  value: unknown;
  lineOf(path: readonly PropertyKey[]): number | undefined;
}

/**
 * Reads a YAML or JSON file. YAML is parsed with unique keys enforced, so a
 * duplicated key is an error rather than a silent overwrite; JSON goes through
 * JSON.parse first so its syntax errors read like JSON errors.
 */
export function readSourceFile(file: string, code: ErrorCode): SourceDocument {
  return parseSourceText(readSourceText(file, code), file, code);
}

/** The file's text, or a DocumentError saying it is missing or unreadable. */
export function readSourceText(file: string, code: ErrorCode): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `cannot read file: ${errorMessage(err)}`;
    throw new DocumentError(code, [{ file, path: '', message: reason }]);
  }
}

export function parseSourceText(text: string, file: string, code: ErrorCode): SourceDocument {
  if (text.trim() === '') throw new DocumentError(code, [{ file, path: '', message: 'file is empty' }]);
  if (extname(file).toLowerCase() === '.json') {
    try {
      JSON.parse(text);
    } catch (err) {
      throw new DocumentError(code, [{ file, path: '', message: `invalid JSON: ${errorMessage(err)}` }]);
    }
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new DocumentError(
      code,
      doc.errors.map((e) => ({
        file,
        path: '',
        message: `invalid ${extname(file).toLowerCase() === '.json' ? 'JSON' : 'YAML'}: ${firstLine(e.message)}`,
        line: lines.linePos(e.pos[0]).line,
      })),
    );
  }
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  if (value === null || value === undefined) throw new DocumentError(code, [{ file, path: '', message: 'file is empty' }]);
  const source: SourceDocument = { file, value, lineOf: (path) => lineOf(doc, lines, path) };
  const unusable = pathsOfKey(value, '__proto__');
  if (unusable.length > 0) {
    throw new DocumentError(
      code,
      unusable.map((path) =>
        problemAt(
          source,
          path,
          'the key "__proto__" cannot be used: the checks would drop it without a word, and a rule or setting under it would never apply',
        ),
      ),
    );
  }
  return source;
}

/** Every path at which an object holds `key` as its own property (iteratively: a document may nest deep). */
function pathsOfKey(value: unknown, key: string): PropertyKey[][] {
  const found: PropertyKey[][] = [];
  const stack: { at: unknown; path: PropertyKey[] }[] = [{ at: value, path: [] }];
  while (stack.length > 0) {
    const { at, path } = stack.pop()!;
    if (at === null || typeof at !== 'object') continue;
    if (Array.isArray(at)) {
      at.forEach((item, i) => stack.push({ at: item, path: [...path, i] }));
      continue;
    }
    for (const [k, v] of Object.entries(at)) {
      if (k === key) found.push([...path, k]);
      else stack.push({ at: v, path: [...path, k] });
    }
  }
  return found;
}

function lineOf(doc: Document, lines: LineCounter, path: readonly PropertyKey[]): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    // A mapping entry's line is its key's line: the value of a block mapping starts a line lower.
    const parent: unknown = depth > 0 ? doc.getIn(path.slice(0, depth - 1) as unknown[], true) : undefined;
    if (isMap(parent)) {
      const pair = parent.items.find((item) => isScalar(item.key) && String(item.key.value) === String(path[depth - 1]));
      if (pair && isNode(pair.key) && pair.key.range) return lines.linePos(pair.key.range[0]).line;
    }
    const node: unknown = doc.getIn(path.slice(0, depth) as unknown[], true);
    if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
  }
  return undefined;
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

/** `tools.write_file.limits[0].max`; keys that are not plain words are quoted. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (/^[A-Za-z0-9_*?-]+$/.test(String(key))) out += out === '' ? String(key) : `.${String(key)}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

export function problemAt(source: SourceDocument, path: readonly PropertyKey[], message: string): Problem {
  return { file: source.file, path: formatPath(path), message, line: source.lineOf(path) };
}
