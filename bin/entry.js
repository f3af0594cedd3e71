import { lstatSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Written last by `npm run build`: the build is whole, and as new as this file's time. */
export const BUILD_STAMP = '.built';

/**
 * The compiled CLI (`dist/cli/main.js`) when the build in `root` is complete
 * and newer than every file under `src/`, else undefined: the caller then
 * runs the TypeScript sources, so an edit made since the last build is
 * never shadowed by stale JavaScript. Anything unreadable also means the
 * sources. Modification times are the test: sources copied in with older
 * times than the build (`cp -p`, `rsync -a`) or deleted since are not noticed.
 */
export function builtEntry(root) {
  const rootPath = fileURLToPath(root);
  try {
    const builtAt = statSync(join(rootPath, 'dist', BUILD_STAMP)).mtimeMs;
    return newestUnder(join(rootPath, 'src')) < builtAt ? new URL('dist/cli/main.js', root) : undefined;
  } catch {
    return undefined;
  }
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
