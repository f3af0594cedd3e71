import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Written last by `npm run build`: the build is whole, and as new as this file's time. */
export const BUILD_STAMP = '.built';

/**
 * The compiled CLI (`dist/cli/main.js`) when the build in `root` is complete
 * and newer than every file under `src/`, else undefined: the caller then
 * runs the TypeScript sources, so an edit made since the last build is
 * never shadowed by stale JavaScript.
 */
export function builtEntry(root) {
  const rootPath = fileURLToPath(root);
  let builtAt;
  try {
    builtAt = statSync(join(rootPath, 'dist', BUILD_STAMP)).mtimeMs;
  } catch {
    return undefined;
  }
  return newestUnder(join(rootPath, 'src')) < builtAt ? new URL('dist/cli/main.js', root) : undefined;
}

function newestUnder(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestUnder(path) : statSync(path).mtimeMs);
  }
  return newest;
}
