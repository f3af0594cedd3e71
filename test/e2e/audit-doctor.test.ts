import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { configTree } from '../support/config-tree.js';
import { FILESYSTEM_SERVER } from '../support/mcp-servers.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { airlock, cli } from '../support/run-cli.js';

/** A config whose policy is valid, whose server (the real filesystem server) starts and whose audit trail is anchored, so that Redis is the only thing doctor can find wrong. */
const tree = (audit = ['audit: { anchor_key: "doctor-anchor-key-0123456789abcdefghij" }']) =>
  configTree(
    [
      'servers:',
      '  fs:',
      `    command: ${JSON.stringify(process.execPath)}`,
      `    args: [${JSON.stringify(FILESYSTEM_SERVER)}, .]`,
      '    policy: policies/fs.yaml',
      ...audit,
      '',
    ].join('\n'),
    {
      'policies/fs.yaml': 'version: "1"\ndefault: deny\n',
    },
  );

let volatile: TestRedis;
let durable: TestRedis;

before(async () => {
  [volatile, durable] = await Promise.all([startRedis(), startRedis({ appendonly: true })]);
});
after(async () => {
  await Promise.all([volatile?.stop(), durable?.stop()]);
});

test('`airlock doctor` against a Redis that keeps nothing on disk warns that approvals and the audit trail would be lost, and exits 0', async () => {
  const { dir, file } = tree();
  const { code, stdout, stderr } = await airlock(['doctor', '-c', file], dir, { ...process.env, REDIS_URL: volatile.url });
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  assert.match(stdout, /^ok\s+redis: 127\.0\.0\.1:\d+: Redis \d+\.\d+\.\d+, PING [\d.]+ ms$/m);
  assert.match(
    stdout,
    /^warn\s+redis persistence: off \(no AOF, no RDB snapshots\): pending approvals and the audit trail would not survive a Redis restart; set appendonly yes$/m,
  );
  assert.match(stdout, /^\d+ checks: 0 failed, 1 warning$/m);
});

test('`airlock doctor` against a Redis with AOF on says persistence is ok, with no warning', async () => {
  const { dir, file } = tree();
  const { code, stdout, stderr } = await cli(['doctor', '-c', file], dir, { REDIS_URL: durable.url });
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  assert.match(stdout, /^ok\s+redis persistence: AOF on$/m);
  assert.doesNotMatch(stdout, /^warn/m);
  assert.match(stdout, /^\d+ checks: 0 failed, 0 warnings$/m);
});

test('`airlock doctor` with no Redis answering fails the redis check and exits 1', async () => {
  const { dir, file } = tree();
  const { code, stdout } = await cli(['doctor', '-c', file], dir, { REDIS_URL: 'redis://127.0.0.1:1' });
  assert.equal(code, 1, stdout);
  assert.match(stdout, /^error\s+redis: redis:\/\/127\.0\.0\.1:1: /m);
  assert.doesNotMatch(stdout, /redis persistence/);
});

test('`airlock doctor` without audit.anchor_key warns, in one line, that a cut at the end of the trail would go unseen, and exits 0', async () => {
  const { dir, file } = tree([]);
  const { code, stdout } = await cli(['doctor', '-c', file], dir, { REDIS_URL: durable.url });
  assert.equal(code, 0, stdout);
  const warnings = stdout.split('\n').filter((line) => line.startsWith('warn'));
  assert.deepEqual(warnings, [
    'warn  audit anchor: audit.anchor_key is not set, so events cut from the end of the audit trail cannot be told; set it to a secret of 32 or more characters (openssl rand -base64 32), the same for every gateway',
  ]);
  assert.match(stdout, /^\d+ checks: 0 failed, 1 warning$/m);
});
