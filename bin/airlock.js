#!/usr/bin/env node
// `npm ci` builds dist/ (the `prepare` script). It runs when it is newer than
// every source; otherwise the TypeScript sources run through tsx, which costs
// about 0.7 s more at start-up and 80 MB or more of memory, but never runs
// stale code.
import { builtEntry } from './entry.js';

const built = builtEntry(new URL('../', import.meta.url));
if (built) {
  const { main } = await import(built.href);
  await main();
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../src/cli/main.ts');
  await main();
}
