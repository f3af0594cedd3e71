import { readFileSync } from 'node:fs';

/** The package's version, as `airlock --version` and the build-info metric report it. */
export const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
