import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import type * as entry from '../../bin/entry.js';
import { BUILD_STAMP, builtEntry, LaunchError } from '../../bin/entry.js';

const folders: string[] = [];
after(() => folders.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A package folder with sources and a build, every file dated `at` (seconds). */
function packageAt(at: number, { stamp = true } = {}): { root: URL; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-entry-'));
  folders.push(dir);
  const files = [
    'src/version.ts',
    'src/cli/main.ts',
    'src/audit/append.lua',
    'dist/cli/main.js',
    ...(stamp ? [`dist/${BUILD_STAMP}`] : []),
  ];
  for (const file of files) {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), '');
    utimesSync(join(dir, file), at, at);
  }
  return { root: pathToFileURL(`${dir}/`), dir };
}

test('a build newer than every source is run', () => {
  const { root } = packageAt(1_000);
  utimesSync(new URL(`dist/${BUILD_STAMP}`, root), 2_000, 2_000);
  assert.equal(builtEntry(root)?.href, new URL('dist/cli/main.js', root).href);
});

test('a source edited after the build, however deep, sends the sources through tsx instead', () => {
  const { root, dir } = packageAt(1_000);
  utimesSync(new URL(`dist/${BUILD_STAMP}`, root), 2_000, 2_000);
  utimesSync(join(dir, 'src/audit/append.lua'), 3_000, 3_000);
  assert.equal(builtEntry(root), undefined);
});

test('a build without its stamp (never finished, or none at all) is not run', () => {
  assert.equal(builtEntry(packageAt(1_000, { stamp: false }).root), undefined);
  const { root, dir } = packageAt(1_000);
  rmSync(join(dir, 'dist'), { recursive: true });
  assert.equal(builtEntry(root), undefined);
});

test('a dangling link under src/ (an editor lock file) does not stop the command', () => {
  const { root, dir } = packageAt(1_000);
  utimesSync(new URL(`dist/${BUILD_STAMP}`, root), 2_000, 2_000);
  symlinkSync('nowhere@host.1234', join(dir, 'src/cli/.#main.ts'));
  assert.doesNotThrow(() => builtEntry(root));
});

test('without src/, as installed from the tarball, the build runs whatever its time', () => {
  const { root, dir } = packageAt(1_000);
  rmSync(join(dir, 'src'), { recursive: true });
  assert.equal(builtEntry(root)?.href, new URL('dist/cli/main.js', root).href);
});

test('without src/ and without a complete build, the error says so and what to do', () => {
  const { root, dir } = packageAt(1_000, { stamp: false });
  rmSync(join(dir, 'src'), { recursive: true });
  const fails = () =>
    assert.throws(
      () => builtEntry(root),
      (err) =>
        err instanceof LaunchError &&
        /has neither src\/ nor a complete build in dist\/ \(dist\/\.built is missing\): reinstall the package/.test(err.message),
    );
  fails();
  rmSync(join(dir, 'dist'), { recursive: true });
  fails();
});

test('sources to run and no tsx (installed with --omit=dev): the error says to run npm ci', async () => {
  const { root, dir } = packageAt(1_000, { stamp: false });
  // A copy of the launcher outside this repository resolves tsx from the temporary folder, where there is none.
  mkdirSync(join(dir, 'bin'));
  copyFileSync(new URL('../../bin/entry.js', import.meta.url), join(dir, 'bin/entry.js'));
  const launcher = (await import(pathToFileURL(join(dir, 'bin/entry.js')).href)) as typeof entry;
  await assert.rejects(
    launcher.loadCli(root),
    (err: Error) => err instanceof launcher.LaunchError && /tsx, which runs the sources, is not installed: run npm ci/.test(err.message),
  );
});
