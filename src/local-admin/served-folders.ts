import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { LoadedServer } from '../config/index.js';

/** A folder a stdio server was given on its command line, so it may hand out what lies under it. */
export interface ServedFolder {
  server: string;
  /** The argument as written in the config. */
  argument: string;
  /** Its real path (symbolic links resolved). */
  folder: string;
}

/**
 * Every folder the stdio servers are given: each argument, and the value of
 * each `--flag=value`, that names an existing folder, resolved against the
 * server's cwd. A leading `~` counts as the home folder too, since servers
 * such as server-filesystem expand it themselves. What an HTTP server
 * serves cannot be known from here.
 */
export function servedFolders(servers: Record<string, LoadedServer>, home: (server: LoadedServer) => string): ServedFolder[] {
  const found: ServedFolder[] = [];
  for (const [name, server] of Object.entries(servers)) {
    if (server.transport !== 'stdio') continue;
    for (const argument of server.args) {
      const folders = new Set(pathsIn(argument, home(server)).flatMap((path) => realFolder(resolve(server.cwd, path)) ?? []));
      for (const folder of folders) found.push({ server: name, argument, folder });
    }
  }
  return found;
}

/** The first served folder that `file` (which need not exist yet) would lie in, comparing real paths. */
export function folderServing(file: string, served: readonly ServedFolder[]): ServedFolder | undefined {
  const real = realPathOf(file);
  return served.find((s) => isWithin(real, s.folder));
}

function pathsIn(argument: string, home: string): string[] {
  const value = /^-[^=]*=(.+)$/.exec(argument)?.[1];
  const paths = value === undefined ? [argument] : [argument, value];
  return paths.flatMap((path) => (path === '~' || path.startsWith('~/') ? [path, join(home, path.slice(1))] : [path]));
}

function realFolder(path: string): string | undefined {
  try {
    return statSync(path).isDirectory() ? realpathSync(path) : undefined;
  } catch {
    return undefined;
  }
}

/** The real path of `path`'s deepest existing ancestor, with the rest of `path` after it. */
function realPathOf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(realPathOf(parent), basename(path));
  }
}

function isWithin(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (!isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${sep}`));
}
