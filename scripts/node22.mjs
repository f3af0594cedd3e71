#!/usr/bin/env node
// Prints the path of a Node 22 binary, for the MCP conformance suite's runner
// (it imports fs.globSync, which Node 20 lacks) and the MCP Inspector (it
// declares Node >= 22.19) only: Airlock itself stays on Node 20. AIRLOCK_NODE22 names one; otherwise the registry package
// node-<platform>-<arch> is unpacked once into node_modules/.cache/, which
// `npm ci` clears (so CI fetches it again, in .ci/run, before the tests).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The release the suite was last run with; any 22.x with fs.globSync would do. */
const VERSION = '22.23.5';

const override = process.env.AIRLOCK_NODE22;
if (override) {
  if (!existsSync(override)) fail(`AIRLOCK_NODE22=${override}: no such file`);
  print(override);
} else {
  const cache = fileURLToPath(new URL(`../node_modules/.cache/airlock-node22/${VERSION}/`, import.meta.url));
  const binary = join(cache, 'package', 'bin', 'node');
  if (!existsSync(binary)) unpack(cache);
  print(binary);
}

function unpack(cache) {
  const name = `node-${process.platform}-${process.arch}`;
  mkdirSync(join(cache, '..'), { recursive: true });
  // Unpacked beside the cache and renamed into place, so a run that dies half way, or a second one at the same time, leaves no half a binary.
  const work = mkdtempSync(join(cache, '..', `.unpacking-${VERSION}-`));
  try {
    process.stderr.write(`fetching ${name}@${VERSION} from the npm registry for the conformance suite\n`);
    const tarball = execFileSync('npm', ['pack', `${name}@${VERSION}`, '--silent', '--pack-destination', work], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    })
      .trim()
      .split('\n')
      .at(-1);
    execFileSync('tar', ['-xzf', join(work, tarball), '-C', work], { stdio: 'inherit' });
    rmSync(join(work, tarball));
    try {
      renameSync(work, cache);
    } catch (err) {
      // Another run put it there first.
      if (!existsSync(join(cache, 'package', 'bin', 'node'))) throw err;
    }
  } catch (err) {
    fail(`could not fetch ${name}@${VERSION} (${err.message}); set AIRLOCK_NODE22 to a Node 22 binary`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function print(binary) {
  const version = execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
  if (!version.startsWith('v22.')) fail(`${binary} is Node ${version}, not 22`);
  process.stdout.write(`${binary}\n`);
}

function fail(message) {
  process.stderr.write(`node22: ${message}\n`);
  process.exit(1);
}
