#!/usr/bin/env node
// Airlock runs its TypeScript sources through tsx, so `npm ci` alone leaves the
// command ready: there is no build step that could go stale.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main();
