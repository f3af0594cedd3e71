import { existsSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Written last by `npm run build`: the build is whole, and as new as this file's time. */
export const BUILD_STAMP = '.built';

/** Why the CLI cannot be started at all: bin/airlock.js prints the message alone, without a stack. */
export class LaunchError extends Error {
  name = 'LaunchError';
}

/**
 * The compiled CLI (`dist/cli/main.js`) when the package in `root` has no
 * `src/` (the installed package ships only dist/), or when its build is
 * complete and newer than every file under `src/`; else undefined: the
 * caller then runs the TypeScript sources, so an edit made since the last
 * build is never shadowed by stale JavaScript. With `src/`, anything
 * unreadable also means the sources. Modification times are the test:
 * sources copied in with older times than the build (`cp -p`, `rsync -a`)
 * or deleted since are not noticed. Throws a LaunchError when there is no
 * `src/` and no complete build either.
 */
export function builtEntry(root) {
  const rootPath = fileURLToPath(root);
  const stamp = join(rootPath, 'dist', BUILD_STAMP);
  if (!existsSync(join(rootPath, 'src'))) {
    if (existsSync(stamp)) return new URL('dist/cli/main.js', root);
    throw new LaunchError(
      `${rootPath} has neither src/ nor a complete build in dist/ (dist/${BUILD_STAMP} is missing): reinstall the package, or in a checkout restore src/ and run npm ci`,
    );
  }
  try {
    return newestUnder(join(rootPath, 'src')) < statSync(stamp).mtimeMs ? new URL('dist/cli/main.js', root) : undefined;
  } catch {
    return undefined;
  }
}

/** The CLI module to run from the package in `root`: the build (see `builtEntry`) or the sources through tsx. */
export async function loadCli(root) {
  const built = builtEntry(root);
  if (built) return import(built.href);
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    // tsx is a dev dependency: an install with --omit=dev has the sources but nothing to run them with.
    throw new LaunchError(
      `src/ in ${fileURLToPath(root)} is newer than the build in dist/ (or there is none), and tsx, which runs the sources, is not installed: run npm ci (it installs the dev dependencies and builds dist/)`,
    );
  }
  register();
  return import(new URL('src/cli/main.ts', root).href);
}

function newestUnder(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    // lstat: an editor's lock file is a dangling link.
    newest = Math.max(newest, entry.isDirectory() ? newestUnder(path) : lstatSync(path).mtimeMs);
  }
  return newest;
}
