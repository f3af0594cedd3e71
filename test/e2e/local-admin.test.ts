/**
 * The shipped example started fresh, as `npm start` runs it: no admin is
 * configured and no token everyone knows; the gateway makes the local
 * admin's token file, and only what holds that token decides.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { loadConfig } from '../../src/config/index.js';
import { api, pendingFor } from '../support/approvals-api.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { track } from '../support/held-call.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { firstText } from '../support/refusal.js';
import { airlock, cli, PROJECT_ROOT } from '../support/run-cli.js';

const EXAMPLE = join(PROJECT_ROOT, 'examples', 'airlock.yaml');
const BASE64URL_32_BYTES = /^[A-Za-z0-9_-]{43}$/;
/** Nothing of the caller's may reach the gateway or the commands: no admin token, the private Redis, a free port. */
const { AIRLOCK_ADMIN_TOKEN: _token, AIRLOCK_ADMIN_TOKEN_FILE: _file, ...callerEnv } = process.env;

/**
 * A copy of examples/airlock.yaml, the policies it references and its
 * sandbox, in their relative layout. `node_modules` links to ours so the
 * example's `npx -y @modelcontextprotocol/server-filesystem` finds the
 * package installed, as it does in a checkout, instead of downloading it.
 */
function copyExample(): string {
  const root = mkdtempSync(join(tmpdir(), 'airlock-example-'));
  const copy = (path: string) => cpSync(join(PROJECT_ROOT, path), join(root, path), { recursive: true });
  copy('examples/airlock.yaml');
  copy('examples/sandbox');
  for (const server of Object.values(loadConfig(EXAMPLE, {}).servers)) copy(relative(PROJECT_ROOT, server.policy));
  symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(root, 'node_modules'));
  return root;
}

let redis: TestRedis;
let root: string;
let gateway: RunningGateway;
let tokenFile: string;
let token: string;
let client: Client;
const dirs: string[] = [];

const gatewayEnv = (extra: NodeJS.ProcessEnv = {}) => ({
  AIRLOCK_ADMIN_TOKEN: undefined,
  AIRLOCK_ADMIN_TOKEN_FILE: undefined,
  AIRLOCK_PORT: '0',
  ...extra,
});
const startExample = () =>
  startGateway({ dir: root, configFile: 'examples/airlock.yaml', config: readFileSync(EXAMPLE, 'utf8'), redis, env: gatewayEnv() });
const cliEnv = () => ({ ...callerEnv, REDIS_URL: redis.url });
const config = () => join(root, 'examples', 'airlock.yaml');
/** `airlock approvals …` in this process (the cases that need the real command run it). */
const approvals = (argv: string[], env: NodeJS.ProcessEnv = { REDIS_URL: redis.url }) =>
  cli(['approvals', ...argv, '-c', config()], root, env);

function assertTokenNowhere(gatewayRun: RunningGateway, secret: string): void {
  for (const line of gatewayRun.logs)
    assert.ok(!JSON.stringify(line).includes(secret), `a log line holds the token: ${JSON.stringify(line)}`);
  assert.ok(!gatewayRun.stderr.includes(secret), 'stderr holds the token');
}

before(async () => {
  redis = await startRedis();
  root = copyExample();
  dirs.push(root);
  gateway = await startExample();
  tokenFile = join(root, 'examples', '.airlock', 'admin-token');
  token = readFileSync(tokenFile, 'utf8').trim();
  client = await gateway.connect('/mcp/filesystem');
});
after(async () => {
  await gateway?.stop();
  await redis?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test('a fresh start of the example writes the local admin token file (0600, in a 0700 folder) and logs its path and how to use it, never the token', () => {
  assert.match(token, BASE64URL_32_BYTES);
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
  assert.equal(statSync(dirname(tokenFile)).mode & 0o777, 0o700);
  const told = gateway.logs.find((l) => l.token_file === tokenFile);
  assert.equal(told?.created, true);
  assert.equal(
    told?.msg,
    'no admin is configured: the local admin\'s token is in examples/.airlock/admin-token (mode 0600); decide held calls with: airlock approvals list -c examples/airlock.yaml --token-file examples/.airlock/admin-token, or send "Authorization: Bearer $(cat examples/.airlock/admin-token)" to /api',
  );
  assertTokenNowhere(gateway, token);
});

test("/api/approvals and /metrics accept the file's token and refuse any other", async () => {
  assert.equal((await api(gateway.url, '/api/approvals', token)).status, 200);
  for (const [other, message] of [
    ['local-admin-token', /matches no admin/],
    [`${token}x`, /matches no admin/],
    [undefined, /missing bearer token/],
  ] as const) {
    const answer = await api(gateway.url, '/api/approvals', other);
    assert.equal(answer.status, 401, `${other}: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.error?.code, 'AIRLOCK_UNAUTHORIZED');
    assert.match(answer.body.error?.message ?? '', message);
  }
  const metrics = (bearer: string) => fetch(`${gateway.url}/metrics`, { headers: { Authorization: `Bearer ${bearer}` } });
  assert.equal((await metrics(token)).status, 200);
  assert.equal((await metrics('local-admin-token')).status, 401);
});

test('airlock approvals decides a held call with --token-file; without a token it asks for one; wrong, missing and empty files are refused naming them', async () => {
  const call = track(client.callTool({ name: 'write_file', arguments: { path: 'notes.txt', content: 'hi' } }));
  const { id } = await pendingFor(gateway.url, token, 'write_file');

  const listed = await airlock(['approvals', 'list', '--token-file', 'examples/.airlock/admin-token', '-c', config()], root, cliEnv());
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`^${id}  pending +filesystem/write_file`));
  const bare = await airlock(['approvals', 'list', '-c', config()], root, cliEnv());
  assert.equal(bare.code, 1, bare.stdout);
  assert.match(
    bare.stderr,
    /^airlock: no admin token given: pass --token-file FILE, or set AIRLOCK_ADMIN_TOKEN_FILE to a file holding it, or AIRLOCK_ADMIN_TOKEN to the token itself/,
  );
  assert.ok(bare.stderr.includes(`--token-file ${tokenFile}`), 'it names the file to give');

  const scratch = mkdtempSync(join(tmpdir(), 'airlock-tokens-'));
  dirs.push(scratch);
  writeFileSync(join(scratch, 'wrong'), 'local-admin-token\n');
  writeFileSync(join(scratch, 'empty'), '\n');
  const refused: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [
      ['approve', id, '--token-file', join(scratch, 'wrong')],
      {},
      new RegExp(`^airlock: --token-file ${join(scratch, 'wrong')}: the token matches no admin$`, 'm'),
    ],
    [
      ['approve', id, '--token-file', join(scratch, 'missing')],
      {},
      new RegExp(`^airlock: --token-file: cannot read the token file ${join(scratch, 'missing')}: it does not exist$`),
    ],
    [
      ['approve', id],
      { AIRLOCK_ADMIN_TOKEN_FILE: join(scratch, 'empty') },
      new RegExp(`^airlock: AIRLOCK_ADMIN_TOKEN_FILE: the token file ${join(scratch, 'empty')} is empty`),
    ],
    [['approve', id], { AIRLOCK_ADMIN_TOKEN: 'local-admin-token' }, /^airlock: AIRLOCK_ADMIN_TOKEN: the token matches no admin$/m],
  ];
  for (const [argv, env, message] of refused) {
    const result = await approvals(argv, { REDIS_URL: redis.url, ...env });
    assert.equal(result.code, 1, `${argv.join(' ')}: ${result.stdout}`);
    assert.match(result.stderr, message);
  }
  assert.equal(
    (await api(gateway.url, `/api/approvals/${id}`, token)).body.approval?.state,
    'pending',
    'nothing refused changed the request',
  );

  const approved = await approvals(['approve', id, '--token-file', tokenFile, '--reason', 'fine']);
  assert.equal(approved.code, 0, approved.stderr);
  assert.match(firstText(await call.promise), /Successfully wrote to notes\.txt/);
  assert.equal((await api(gateway.url, `/api/approvals/${id}`, token)).body.approval?.decided_by, 'local');
});

test("read_text_file of the token file through the example's filesystem server is refused by its allowed folders, and the token appears nowhere", async () => {
  for (const path of [tokenFile, '../.airlock/admin-token', join(root, 'examples', 'sandbox', '..', '.airlock', 'admin-token')]) {
    const result = await client.callTool({ name: 'read_text_file', arguments: { path } });
    assert.equal(result.isError, true, JSON.stringify(result));
    assert.match(firstText(result), /Access denied - path outside allowed directories/, path);
    assert.ok(!JSON.stringify(result).includes(token), `the answer for ${path} holds the token`);
  }
  assertTokenNowhere(gateway, token);
});

test('a second start reuses the token it wrote on the first', async () => {
  await gateway.stop();
  gateway = await startExample();
  assert.equal(readFileSync(tokenFile, 'utf8').trim(), token);
  assert.equal(gateway.logs.find((l) => l.token_file === tokenFile)?.created, false);
  assert.equal((await api(gateway.url, '/api/approvals', token)).status, 200);
  assertTokenNowhere(gateway, token);
});

/** The example with its filesystem server on the config folder itself, where `.airlock/admin-token` would be. */
function servingItsOwnFolder(): string {
  const dir = copyExample();
  dirs.push(dir);
  const file = join(dir, 'examples', 'airlock.yaml');
  const text = readFileSync(file, 'utf8');
  assert.ok(text.includes('"@modelcontextprotocol/server-filesystem", ./sandbox]'));
  writeFileSync(
    file,
    text.replace('"@modelcontextprotocol/server-filesystem", ./sandbox]', '"@modelcontextprotocol/server-filesystem", "."]'),
  );
  return file;
}

test('a config whose filesystem server serves the config folder refuses to start (and airlock stdio too), naming the file, the server, the argument and what to do', async () => {
  const file = servingItsOwnFolder();
  const examples = dirname(file);
  const message = `servers.filesystem.args: "." serves ${examples}, which holds the local admin's token file ${join(examples, '.airlock', 'admin-token')}, so an agent could read the token through filesystem and approve its own calls; configure \`admins\`, set AIRLOCK_ADMIN_TOKEN, or serve another folder`;
  const started = await airlock(['start', '-c', file], dirname(examples), {
    ...callerEnv,
    REDIS_URL: redis.url,
    ...gatewayEnv(),
  } as NodeJS.ProcessEnv);
  assert.equal(started.code, 1, started.stdout);
  assert.equal(started.stderr.trim(), `airlock: ${file}: ${message}`);
  assert.ok(!started.stdout.includes('airlock listening'));
  const stdio = await cli(['stdio', 'filesystem', '-c', file], dirname(examples), { REDIS_URL: redis.url });
  assert.equal(stdio.code, 1);
  assert.equal(stdio.stderr, `airlock: ${file}: ${message}`);
  assert.throws(() => statSync(join(examples, '.airlock', 'admin-token')), /ENOENT/, 'no token file was written');
});

test('with AIRLOCK_ADMIN_TOKEN set no file is needed: that config starts, and /api and airlock approvals take that token', async () => {
  const file = servingItsOwnFolder();
  const dir = dirname(dirname(file));
  const envToken = 'env-admin-token-0123456789abcdef';
  const other = await startGateway({
    dir,
    configFile: 'examples/airlock.yaml',
    config: readFileSync(file, 'utf8'),
    redis,
    env: gatewayEnv({ AIRLOCK_ADMIN_TOKEN: envToken }),
  });
  try {
    assert.throws(() => statSync(join(dir, 'examples', '.airlock', 'admin-token')), /ENOENT/);
    assert.ok(
      other.logs.some((l) => /the local admin's token is AIRLOCK_ADMIN_TOKEN, from this process's environment/.test(String(l.msg))),
    );
    assert.equal((await api(other.url, '/api/approvals', envToken)).status, 200);
    assert.equal((await api(other.url, '/api/approvals', token)).status, 401, "another gateway's token is not this one's");
    const listed = await cli(['approvals', 'list', '-c', file], dir, { REDIS_URL: redis.url, AIRLOCK_ADMIN_TOKEN: envToken });
    assert.equal(listed.code, 0, listed.stderr);
    assertTokenNowhere(other, envToken);
  } finally {
    await other.stop();
  }
});
