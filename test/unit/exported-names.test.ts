import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

/**
 * One meaning per exported name: two modules of src/ that export the same
 * name for different declarations make every reader ask which one an import
 * means. Re-exports (a folder's index.ts) are the same declaration and pass.
 */

const SRC = new URL('../../src/', import.meta.url).pathname;

/** Names two modules may export for different things, with why. */
const ALLOWED = new Map<string, string>([]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Each exported name of src/ and the declarations (file:name) it stands for; one type-checked program serves both tests. */
let found: Map<string, Set<string>> | undefined;
function exportedNames(): Map<string, Set<string>> {
  return (found ??= readExportedNames());
}

function readExportedNames(): Map<string, Set<string>> {
  const files = sourceFiles(SRC);
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  const names = new Map<string, Set<string>>();
  for (const file of files) {
    const source = program.getSourceFile(file);
    const moduleSymbol = source && checker.getSymbolAtLocation(source);
    if (!moduleSymbol) continue;
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const original = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const declaration = original.declarations?.[0];
      if (!declaration) continue;
      const where = relative(SRC, declaration.getSourceFile().fileName);
      // A library's name re-exported is the library's.
      if (where.startsWith('..')) continue;
      const set = names.get(exported.name) ?? new Set<string>();
      set.add(`${where}:${original.name}`);
      names.set(exported.name, set);
    }
  }
  return names;
}

test('no two modules of src/ export the same name for different declarations', () => {
  const clashes = [...exportedNames()]
    .filter(([name, declarations]) => declarations.size > 1 && !ALLOWED.has(name))
    .map(([name, declarations]) => `${name}: ${[...declarations].sort().join(', ')}`);
  assert.deepEqual(clashes, [], `Rename one of each, so an import says which it means:\n${clashes.join('\n')}`);
});

test('every allowed clash still exists (the list shrinks with the code)', () => {
  const names = exportedNames();
  const stale = [...ALLOWED.keys()].filter((name) => (names.get(name)?.size ?? 0) < 2);
  assert.deepEqual(stale, []);
});
