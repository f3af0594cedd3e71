// `npm run build` (and `prepare`, so `npm ci` leaves it done): src/ compiled
// to dist/ with the Lua scripts beside the modules that read them, then the
// stamp bin/entry.js trusts. Type errors are `npm run typecheck`'s job, so
// this only emits. As `prepare` it does nothing while the build is whole and
// newer than src/: the first `npx airlock` in a checkout links the project
// into npm's npx cache and runs `prepare` again, which would otherwise cost
// a whole build and delete dist/ under a running gateway.
import { spawnSync } from 'node:child_process';
import { cpSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { BUILD_STAMP, builtEntry } from '../bin/entry.js';

const rootUrl = new URL('../', import.meta.url);
const root = fileURLToPath(rootUrl);
const dist = `${root}dist`;

if (process.env.npm_lifecycle_event === 'prepare' && builtEntry(rootUrl) !== undefined) {
  console.log('airlock build: dist/ is whole and newer than src/; `npm run build` rebuilds it anyway');
  process.exit(0);
}

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  // An install without dev dependencies (the Dockerfile's deps stage): the image gets dist/ from a stage that has them.
  console.log('airlock build: typescript is not installed, so dist/ is not built; npm ci with the dev dependencies builds it');
  process.exit(0);
}

// The stamp gets the time the build started: a source saved while tsc runs is newer, so it is not taken as built.
const started = new Date();
rmSync(dist, { recursive: true, force: true });
const compiled = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--noCheck'], { cwd: root, stdio: 'inherit' });
if (compiled.status !== 0) process.exit(compiled.status ?? 1);
cpSync(`${root}src`, dist, { recursive: true, filter: (source) => !source.endsWith('.ts') });
writeFileSync(`${dist}/${BUILD_STAMP}`, '');
utimesSync(`${dist}/${BUILD_STAMP}`, started, started);
