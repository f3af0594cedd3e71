import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startRedisServer, type RedisServer } from '../../src/redis/index.js';
import { api, pendingFor } from '../support/approvals-api.js';
import type { RunningGateway } from '../support/gateway.js';
import { track, type Tracked } from '../support/held-call.js';
import { startRecordingGateway } from '../support/recording-upstream.js';
import { airlock, cli, type CliResult } from '../support/run-cli.js';

const AGENT = 'agent-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';
const PASSWORD = 'other-redis-password-4711';

const POLICY = { version: '1', default: 'deny', tools: { echo: { action: 'require_approval', reason: 'Echoes need a person' } } };

let gateway: RunningGateway;
let other: RedisServer;
let otherDir: string;
let held: { id: string; call: Tracked<unknown> };

before(async () => {
  gateway = await startRecordingGateway({
    policy: POLICY,
    agent: AGENT,
    admins: { alice: ALICE },
    config: ['approvals: { channel: console, timeout: 10m }'],
  });
  // Another Redis than the gateway's, with a password, as a terminal without the gateway's REDIS_URL might reach.
  otherDir = mkdtempSync(join(tmpdir(), 'airlock-other-redis-'));
  other = await startRedisServer({ binary: 'redis-server', dir: otherDir, password: PASSWORD });
  const client = await gateway.connect('/mcp/fixture', AGENT);
  const call = track(client.callTool({ name: 'echo', arguments: { text: 'held' } }));
  held = { id: (await pendingFor(gateway.url, ALICE, 'echo')).id, call };
});
after(async () => {
  if (held) await api(gateway.url, `/api/approvals/${held.id}/reject`, ALICE, { method: 'POST' });
  await held?.call.promise.catch(() => undefined);
  await gateway?.stop();
  await other?.stop();
  if (otherDir) rmSync(otherDir, { recursive: true, force: true });
});

const asAlice = (redisUrl: string) => ({ REDIS_URL: redisUrl, AIRLOCK_ADMIN_TOKEN: ALICE });
const run = (argv: string[], redisUrl: string) => cli([...argv, '-c', join(gateway.dir, 'airlock.yaml')], gateway.dir, asAlice(redisUrl));
const masked = () => `redis://:\\*\\*\\*@127\\.0\\.0\\.1:${other.port}/0`;
const neverShowsThePassword = (result: CliResult) =>
  assert.ok(!`${result.stdout}${result.stderr}`.includes(PASSWORD), `the password was shown: ${result.stderr}`);

test('approvals list against another Redis than the gateway says which Redis it asked (password masked) and that no gateway holds calls there', async () => {
  const result = await airlock(['approvals', 'list', '-c', join(gateway.dir, 'airlock.yaml')], gateway.dir, {
    ...process.env,
    ...asAlice(other.url),
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim(), 'no pending approval requests');
  const [where, note] = result.stderr.trim().split('\n');
  assert.match(where!, new RegExp(`^config airlock\\.yaml · redis ${masked()} \\(REDIS_URL\\)$`));
  assert.match(
    note!,
    new RegExp(
      `^asked ${masked()}, where no gateway holds calls now: if an agent's call is waiting, this is not its gateway's Redis; give this command the same REDIS_URL \\(or -c config\\) as the gateway$`,
    ),
  );
  neverShowsThePassword(result);

  const right = await run(['approvals', 'list'], gateway.redis.url);
  assert.equal(right.code, 0, right.stderr);
  assert.match(right.stdout, new RegExp(`^${held.id}  pending`));
  assert.equal(right.stderr, `config airlock.yaml · redis redis://127.0.0.1:${gateway.redis.port}/0 (REDIS_URL)`);
});

test('every approvals, audit and tools command says where it looks on stderr, so --json stdout stays JSON', async () => {
  const commands = [
    ['approvals', 'list', '--json'],
    ['approvals', 'show', held.id, '--json'],
    ['audit', '--json'],
    ['audit', 'export'],
    ['audit', 'verify'],
    ['tools', '--json'],
  ];
  for (const argv of commands) {
    const result = await run(argv, other.url);
    const where = new RegExp(`^config airlock\\.yaml · redis ${masked()} \\(REDIS_URL\\)$`, 'm');
    assert.match(result.stderr, where, `${argv.join(' ')}: ${result.stderr}`);
    neverShowsThePassword(result);
    if (argv.includes('--json') && result.code === 0) JSON.parse(result.stdout);
  }
  // show finds nothing there: the error follows the line that says where it looked.
  const shown = await run(['approvals', 'show', held.id], other.url);
  assert.equal(shown.code, 1);
  assert.match(
    shown.stderr,
    new RegExp(`^config airlock\\.yaml · redis ${masked()} \\(REDIS_URL\\)\\nairlock: no approval request ${held.id}`),
  );
  const fileOnly = await run(['audit', 'verify', '--no-redis'], other.url);
  assert.match(fileOnly.stderr, /^config airlock\.yaml · redis not used$/m);
});

test('a wrong password is reported with the URL masked, after the line that says where it looked', async () => {
  const wrong = `redis://:wrong-password-0815@127.0.0.1:${other.port}`;
  const result = await run(['approvals', 'list'], wrong);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    new RegExp(`^config airlock\\.yaml · redis redis://:\\*\\*\\*@127\\.0\\.0\\.1:${other.port}/0 \\(REDIS_URL\\)\\nairlock: `),
  );
  assert.ok(!result.stderr.includes('wrong-password-0815'), result.stderr);
});

test('redis.url and redis.prefix of the config are what the CLI uses, as the gateway does, and the line names them', async () => {
  const file = join(gateway.dir, 'other.yaml');
  const text = readFileSync(join(gateway.dir, 'airlock.yaml'), 'utf8').replace(/^redis: .*$/m, '');
  writeFileSync(file, `${text}\nredis: { url: "${other.url}", prefix: "{team-b}:" }\n`);
  const result = await cli(['approvals', 'list', '-c', file], gateway.dir, asAlice(gateway.redis.url));
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, new RegExp(`^config other\\.yaml · redis ${masked()} \\(redis\\.url\\) · prefix \\{team-b\\}:$`, 'm'));
  neverShowsThePassword(result);
});
