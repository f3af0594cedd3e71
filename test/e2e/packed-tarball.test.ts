import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { after, before, test } from 'node:test';
import { PROJECT_ROOT } from '../support/run-cli.js';

// What a user gets from the registry: the package packed as `npm publish`
// would (its `prepare` builds dist/), installed into an empty folder, and its
// `airlock` command run from there, where there is no src/ and no tsx.

const VERSION = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
// Packing and installing are slow on a loaded machine; these only stop a hung npm, they measure nothing.
const NPM_TIMEOUT_MS = 10 * 60_000;
const CLI_TIMEOUT_MS = 2 * 60_000;

/**
 * The environment without what `npm test` tells its scripts: npm_config_local_prefix
 * would make the npm run here work on this repository instead of the folder it runs in.
 * REDIS_URL points where nothing listens, so no command reaches the machine's Redis.
 */
function childEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^npm_(config_local_prefix|package_|lifecycle_)/i.test(name)),
  );
  return { ...env, REDIS_URL: 'redis://127.0.0.1:1' };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], cwd: string, timeout: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env: childEnv(), timeout, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr: err && code === -1 ? `${stderr}\n${err.message}` : stderr });
    });
  });
}

let work: string;
let packed: string[];
let installed: string;
let command: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'airlock-tarball-'));
  // Packed from a copy, since `prepare` rebuilds dist/ and other tests run this checkout's dist/ meanwhile.
  const checkout = join(work, 'checkout');
  cpSync(PROJECT_ROOT, checkout, {
    recursive: true,
    filter: (source) => {
      const parts = relative(PROJECT_ROOT, source).split(sep);
      return !['node_modules', 'dist', '.git'].includes(parts[0] ?? '') && !parts.includes('.airlock');
    },
  });
  // The state `npm start` leaves beside the example config, admin token included, must not ship.
  mkdirSync(join(checkout, 'examples/.airlock'));
  writeFileSync(join(checkout, 'examples/.airlock/admin-token'), 'not-to-be-shipped\n');
  // So must what approved writes left in the example's sandbox.
  writeFileSync(join(checkout, 'examples/sandbox/notes.txt'), 'written by an agent\n');
  mkdirSync(join(checkout, 'examples/sandbox/drafts'));
  writeFileSync(join(checkout, 'examples/sandbox/drafts/.plan'), 'written by an agent\n');
  // An approved write of an empty .npmignore there would make npm ignore the sandbox's .gitignore: package.json's files must not rely on it.
  writeFileSync(join(checkout, 'examples/sandbox/.npmignore'), '');
  // The build's TypeScript comes from this checkout's dev dependencies.
  symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(checkout, 'node_modules'), 'dir');

  const pack = await run('npm', ['pack', '--json', '--pack-destination', work], checkout, NPM_TIMEOUT_MS);
  assert.equal(pack.code, 0, `npm pack failed:\n${pack.stdout}\n${pack.stderr}`);
  const [tarball] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  assert.ok(tarball, pack.stdout);
  packed = tarball.files.map((f) => f.path);

  installed = join(work, 'install');
  mkdirSync(installed);
  writeFileSync(join(installed, 'package.json'), '{ "name": "airlock-tarball-test", "private": true }\n');
  const install = await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', join(work, tarball.filename)],
    installed,
    NPM_TIMEOUT_MS,
  );
  assert.equal(install.code, 0, `npm install failed:\n${install.stdout}\n${install.stderr}`);
  command = join(installed, 'node_modules/.bin/airlock');
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the tarball holds the launcher, the build and what the package documents, and no sources, tests, benchmarks or local state', () => {
  for (const file of [
    'package.json',
    'README.md',
    'LICENSE',
    'CHANGELOG.md',
    'slack-app-manifest.yaml',
    'bin/airlock.js',
    'bin/entry.js',
    'dist/cli/main.js',
    'dist/.built',
    'schema/config.schema.json',
    'examples/airlock.yaml',
    'examples/aws-support.yaml',
    'policies/filesystem.yaml',
  ]) {
    assert.ok(packed.includes(file), `${file} is not in the tarball`);
  }
  // The Lua scripts are read beside the compiled modules.
  assert.ok(
    packed.some((file) => /^dist\/.+\.lua$/.test(file)),
    'no Lua script in dist/',
  );
  const unwanted = packed.filter((file) => /^(src|test|bench|scripts)\//.test(file) || file.split('/').includes('.airlock'));
  assert.deepEqual(unwanted, []);
});

test("the example's sandbox ships with its seed file only, not what approved writes left in it", () => {
  assert.deepEqual(packed.filter((file) => file.startsWith('examples/sandbox/')).sort(), ['examples/sandbox/hello.txt']);
});

test("airlock --version from the installed package prints package.json's version, and the install has no src/ and no tsx", async () => {
  const pkg = join(installed, 'node_modules/mcp-airlock');
  assert.ok(!existsSync(join(pkg, 'src')), 'the installed package has src/');
  assert.ok(!existsSync(join(installed, 'node_modules/tsx')), 'tsx was installed with the package');
  const { code, stdout, stderr } = await run(command, ['--version'], installed, CLI_TIMEOUT_MS);
  assert.equal(code, 0, stderr);
  assert.equal(stdout.trim(), VERSION);
});

test('airlock policy check from the installed package passes on its shipped policies and its example config', async () => {
  const pkg = join(installed, 'node_modules/mcp-airlock');
  const policies = await run(command, ['policy', 'check', join(pkg, 'policies')], installed, CLI_TIMEOUT_MS);
  assert.equal(policies.code, 0, policies.stdout + policies.stderr);
  const shipped = packed.filter((file) => file.startsWith('policies/')).length;
  assert.match(policies.stdout, new RegExp(`\\b${shipped} files checked, all valid`));
  const example = await run(command, ['policy', 'check', '-c', join(pkg, 'examples/airlock.yaml')], installed, CLI_TIMEOUT_MS);
  assert.equal(example.code, 0, example.stdout + example.stderr);
  assert.match(example.stdout, /all valid/);
});
