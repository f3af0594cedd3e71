#!/usr/bin/env node
// In a checkout, `npm ci` builds dist/ (the `prepare` script). It runs when it
// is newer than every source; otherwise the TypeScript sources run through
// tsx, which costs about 0.7 s more at start-up and 80 MB or more of memory,
// but never runs stale code. The installed package has no src/ and runs dist/.
import { LaunchError, loadCli } from './entry.js';

let cli;
try {
  cli = await loadCli(new URL('../', import.meta.url));
} catch (err) {
  if (!(err instanceof LaunchError)) throw err;
  console.error(`airlock: ${err.message}`);
  process.exit(1);
}
await cli.main();
