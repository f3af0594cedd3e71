import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { upstreamChecks } from '../../src/cli/doctor-upstreams.js';
import { loadConfig } from '../../src/config/index.js';
import { freePort } from '../../src/redis/index.js';
import { configTree } from '../support/config-tree.js';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack.js';
import { FILESYSTEM_SERVER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { airlock, type CliResult } from '../support/run-cli.js';
import { APP_TOKEN, BOT_TOKEN } from '../support/slack-gateway.js';

const CHANNEL = 'C0APPROVALS';
const PRIVATE_CHANNEL = 'C0SECRET';
const GOOD_POLICY = 'version: "1"\ndefault: deny\n';
/** Two problems: each gets a line of its own. */
const BROKEN_POLICY = 'version: "1"\ndefault: deny\ntools:\n  write_file:\n    action: maybe\n  read_file:\n    action: perhaps\n';

/** The real filesystem server on the tree's `sandbox` folder. */
const FS_SERVER = [`    command: ${JSON.stringify(process.execPath)}`, `    args: [${JSON.stringify(FILESYSTEM_SERVER)}, ./sandbox]`];
const GHOST_SERVER = ['    command: airlock-no-such-command'];
const QUITTING_SERVER = ['    command: node', `    args: ['-e', 'console.error("MISSING_API_KEY is not set"); process.exit(3)']`];

let durable: TestRedis;
let evicting: TestRedis;
let slack: FakeSlack;
let nowhere: string;

before(async () => {
  [durable, evicting, slack] = await Promise.all([
    startRedis({ appendonly: true }),
    startRedis({ appendonly: true }),
    startFakeSlack({
      validTokens: [BOT_TOKEN, APP_TOKEN],
      conversations: { [CHANNEL]: { name: 'approvals' }, [PRIVATE_CHANNEL]: { name: 'secret', is_private: true, is_member: false } },
    }),
  ]);
  const client = new Redis(evicting.url);
  await client.config('SET', 'maxmemory-policy', 'allkeys-lru');
  client.disconnect();
  nowhere = `redis://127.0.0.1:${await freePort()}`;
});
after(async () => {
  await Promise.all([durable?.stop(), evicting?.stop(), slack?.close()]);
});

interface Setup {
  servers?: Record<string, string[]>;
  policy?: string;
  /** `slack:` keys to change; `null` leaves the section out. */
  slack?: { bot_token?: string; channel?: string; app_token?: string; api_url?: string } | null;
  redis?: string;
  /** More top-level config lines (`listen: …`). */
  extra?: string[];
}

/** Runs `airlock doctor` (a child process) on a config with the given servers (default: the filesystem server as `fs`), all on one policy file. */
async function doctor(setup: Setup = {}): Promise<CliResult & { lines: string[] }> {
  const servers = setup.servers ?? { fs: FS_SERVER };
  const config = [
    'servers:',
    ...Object.entries(servers).flatMap(([name, lines]) => [`  ${name}:`, ...lines, '    policy: policies/fs.yaml']),
    ...(setup.slack === null
      ? []
      : [
          'slack:',
          `  bot_token: ${setup.slack?.bot_token ?? BOT_TOKEN}`,
          '  signing_secret: test-signing-secret',
          `  channel: ${setup.slack?.channel ?? CHANNEL}`,
          `  api_url: ${setup.slack?.api_url ?? slack.apiUrl}`,
          ...(setup.slack?.app_token === undefined ? [] : [`  app_token: ${setup.slack.app_token}`]),
        ]),
    // Anchored, so that the audit anchor warning (test/e2e/audit-doctor.test.ts) is not among the warnings counted here.
    'audit: { anchor_key: "doctor-anchor-key-0123456789abcdefghij" }',
    ...(setup.extra ?? []),
    '',
  ].join('\n');
  const { dir, file } = configTree(config, { 'policies/fs.yaml': setup.policy ?? GOOD_POLICY, 'sandbox/.keep': '' });
  const result = await airlock(['doctor', '-c', file], dir, { ...process.env, REDIS_URL: setup.redis ?? durable.url });
  return { ...result, lines: result.stdout.trimEnd().split('\n') };
}

/** Every check line (all but the summary) is ok. */
function assertAllOk(lines: string[]): void {
  for (const line of lines.slice(0, -1)) assert.match(line, /^ok {4}\S/, `not ok: ${line}\n${lines.join('\n')}`);
}

test('a good setup (durable Redis that never evicts, a real stdio server, Slack accepting the tokens) passes every check and exits 0', async () => {
  const from = slack.calls.length;
  const { code, stdout, stderr, lines } = await doctor({ slack: { app_token: APP_TOKEN } });
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  assertAllOk(lines);
  assert.match(stdout, /^ok {4}config: airlock\.yaml$/m);
  assert.match(stdout, /^ok {4}policy fs: policies\/fs\.yaml$/m);
  assert.match(stdout, /^ok {4}redis: 127\.0\.0\.1:\d+: Redis \d+\.\d+\.\d+, PING [\d.]+ ms$/m);
  assert.match(stdout, /^ok {4}redis persistence: AOF on$/m);
  assert.match(stdout, /^ok {4}redis eviction: maxmemory-policy noeviction$/m);
  assert.match(stdout, /^ok {4}upstream fs: 14 tools \(stdio, MCP 2025-11-25, \d+\.\d s\)$/m);
  assert.match(
    stdout,
    /^ok {4}slack auth: bot @airlock \(B0AIRLOCK\) in workspace Airlock Test \(T0AIRLOCK\) at http:\/\/127\.0\.0\.1:\d+\/api\/$/m,
  );
  assert.match(stdout, /^ok {4}slack channel: #approvals \(C0APPROVALS\): the bot is a member$/m);
  assert.match(stdout, /^ok {4}slack socket mode: slack\.app_token may open a Socket Mode connection/m);
  assert.equal(lines.at(-1), '9 checks: 0 failed, 0 warnings');
  const calls = slack.calls.slice(from);
  assert.deepEqual(calls.map((c) => [c.method, c.token]).sort(), [
    ['apps.connections.open', APP_TOKEN],
    ['auth.test', BOT_TOKEN],
    ['conversations.info', BOT_TOKEN],
  ]);
  assert.equal(calls.find((c) => c.method === 'conversations.info')?.body.channel, CHANNEL);
});

test('Redis down fails the redis check, naming where, and the other checks still run', async () => {
  const { code, stdout } = await doctor({ redis: nowhere });
  assert.equal(code, 1, stdout);
  assert.match(stdout, new RegExp(`^error redis: ${nowhere.replace(/[.:/]/g, '\\$&')}: cannot connect to Redis at `, 'm'));
  assert.doesNotMatch(stdout, /redis (persistence|eviction)/);
  assert.match(stdout, /^ok {4}upstream fs: 14 tools/m);
  assert.match(stdout, /^ok {4}slack channel: /m);
  assert.match(stdout, /^\d+ checks: 1 failed, 0 warnings$/m);
});

test('a broken policy fails naming file, path and problem, and the other checks still run', async () => {
  const { code, stdout } = await doctor({ policy: BROKEN_POLICY });
  assert.equal(code, 1, stdout);
  assert.match(
    stdout,
    /^error policy fs: policies\/fs\.yaml: tools\.write_file\.action: expected one of "allow", "deny", "require_approval", got "maybe" \(line 5\)$/m,
  );
  assert.match(
    stdout,
    /^error policy fs: policies\/fs\.yaml: tools\.read_file\.action: expected one of "allow", "deny", "require_approval", got "perhaps" \(line 7\)$/m,
  );
  assert.match(stdout, /^ok {4}redis eviction: /m);
  assert.match(stdout, /^ok {4}upstream fs: 14 tools/m);
  assert.match(stdout, /^ok {4}slack auth: /m);
  assert.match(stdout, /^\d+ checks: 2 failed, 0 warnings$/m);
});

test('a bot token Slack refuses fails naming Slack and invalid_auth; the channel is then left unchecked', async () => {
  const { code, stdout } = await doctor({ slack: { bot_token: 'xoxb-revoked-token' } });
  assert.equal(code, 1, stdout);
  assert.match(
    stdout,
    /^error slack auth: auth\.test at http:\/\/127\.0\.0\.1:\d+\/api\/ failed: Slack answered invalid_auth; check slack\.bot_token$/m,
  );
  assert.match(stdout, /^warn {2}slack channel: C0APPROVALS: not checked, since auth\.test failed$/m);
});

test('Slack out of reach fails the auth check, saying Slack could not be reached', async () => {
  const { code, stdout } = await doctor({ slack: { api_url: `http://127.0.0.1:${await freePort()}/api/` } });
  assert.equal(code, 1, stdout);
  assert.match(
    stdout,
    /^error slack auth: auth\.test at http:\/\/127\.0\.0\.1:\d+\/api\/ failed: Slack could not be reached \(.+\); check slack\.api_url and the network$/m,
  );
});

test('a channel Slack does not know fails naming the channel and channel_not_found', async () => {
  const { code, stdout } = await doctor({ slack: { channel: 'C0GONE' } });
  assert.equal(code, 1, stdout);
  assert.match(
    stdout,
    /^error slack channel: C0GONE: Slack answered channel_not_found: no such channel, or a private channel the bot is not in; check slack\.channel and invite the bot there \(\/invite @airlock\)$/m,
  );
});

test('channels that policy rules name are checked too, each once, naming the rules; slack.channel is not checked twice', async () => {
  const policy = [
    'version: "1"',
    'default: deny',
    'tools:',
    '  write_file: { action: require_approval, approval: { channel: C0GONE } }',
    '  move_file: { action: require_approval, approval: { channel: C0GONE } }',
    `  edit_file: { action: require_approval, approval: { channel: ${PRIVATE_CHANNEL} } }`,
    `  read_file: { action: require_approval, approval: { channel: ${CHANNEL} } }`,
    '',
  ].join('\n');
  const { code, stdout, lines } = await doctor({ policy });
  assert.equal(code, 1, stdout);
  assert.match(
    stdout,
    /^error slack channel: C0GONE \(approval\.channel of tools\.write_file in policy fs, approval\.channel of tools\.move_file in policy fs\): Slack answered channel_not_found: no such channel, or a private channel the bot is not in; check approval\.channel of tools\.write_file in policy fs, approval\.channel of tools\.move_file in policy fs and invite the bot there \(\/invite @airlock\)$/m,
  );
  assert.match(
    stdout,
    /^error slack channel: #secret \(C0SECRET\) \(approval\.channel of tools\.edit_file in policy fs\) is private and the bot is not a member/m,
  );
  assert.deepEqual(lines.filter((l) => l.includes('slack channel:')).length, 3, stdout);
  assert.match(stdout, /^ok {4}slack channel: #approvals \(C0APPROVALS\): the bot is a member$/m);
});

test('a private channel the bot is not in fails: chat.postMessage would be refused', async () => {
  const { code, stdout } = await doctor({ slack: { channel: PRIVATE_CHANNEL } });
  assert.equal(code, 1, stdout);
  assert.match(
    stdout,
    /^error slack channel: #secret \(C0SECRET\) is private and the bot is not a member: chat\.postMessage would fail \(not_in_channel\); invite the bot there \(\/invite @airlock\)$/m,
  );
});

test('Socket Mode with the bot token given as app token fails naming apps.connections.open and the token type', async () => {
  const { code, stdout } = await doctor({ slack: { app_token: BOT_TOKEN } });
  assert.equal(code, 1, stdout);
  assert.match(
    stdout,
    /^error slack socket mode: apps\.connections\.open failed: Slack answered not_allowed_token_type; slack\.app_token must be the app-level token \(xapp-…\)/m,
  );
  assert.match(stdout, /^ok {4}slack auth: /m);
});

test('upstreams that cannot start fail one line each, naming the server and why; a good one beside them passes', async () => {
  const { code, stdout } = await doctor({ servers: { fs: FS_SERVER, ghost: GHOST_SERVER, quits: QUITTING_SERVER } });
  assert.equal(code, 1, stdout);
  assert.match(stdout, /^ok {4}upstream fs: 14 tools/m);
  assert.match(
    stdout,
    /^error upstream ghost: command not found: "airlock-no-such-command" \(spawn airlock-no-such-command ENOENT\); install it, or give its full path in servers\.ghost\.command$/m,
  );
  assert.match(
    stdout,
    /^error upstream quits: "node" exited before answering initialize and tools\/list \(.*Connection closed\); its stderr ended: "MISSING_API_KEY is not set"$/m,
  );
  assert.match(stdout, /^\d+ checks: 2 failed, 0 warnings$/m);
});

test('an HTTP upstream nobody listens for fails naming the server, its URL and the refused connection', async () => {
  const port = await freePort();
  const { code, stdout } = await doctor({ servers: { api: [`    url: http://127.0.0.1:${port}/mcp`] }, slack: null });
  assert.equal(code, 1, stdout);
  assert.match(
    stdout,
    new RegExp(
      `^error upstream api: cannot connect to http://127\\.0\\.0\\.1:${port}/mcp: connection refused \\(is the server running, on that port\\?\\) \\(ECONNREFUSED\\)$`,
      'm',
    ),
  );
});

/** Off loopback a gateway needs grants, else it does not start (the next test). */
const GRANTED = 'grants: [{ name: agent, token: doctor-agent-token }]';

test('a listener that is not loopback, with neither public_url nor listen.allowed_hosts, is a warning: its Host headers are not checked', async () => {
  const open = await doctor({
    slack: null,
    extra: ['listen: { host: 0.0.0.0, port: 8080 }', 'metrics: { listen: { host: 0.0.0.0, port: 9464 } }', GRANTED],
  });
  assert.equal(open.code, 0, open.stdout);
  const unchecked = (key: string) =>
    `warn  ${key}: 0.0.0.0 is not loopback and neither public_url nor listen.allowed_hosts is set, so Host headers are not checked and a web page could reach Airlock by DNS rebinding; set public_url, or listen.allowed_hosts to the names agents use`;
  assert.deepEqual(
    open.lines.filter((l) => l.startsWith('warn')),
    [unchecked('listen'), unchecked('metrics.listen')],
  );
  const named = await doctor({
    slack: null,
    extra: [
      'listen: { host: 0.0.0.0, port: 8080, allowed_hosts: [airlock.internal] }',
      'metrics: { listen: { host: 0.0.0.0, port: 9464 } }',
      GRANTED,
    ],
  });
  assert.equal(named.code, 0, named.stdout);
  assert.deepEqual(
    named.lines.filter((l) => l.startsWith('warn')),
    [],
    'once allowed_hosts names the gateway, both listeners check Host',
  );
});

test('a listener that is not loopback without grants fails as airlock start would refuse it', async () => {
  const { code, lines } = await doctor({ slack: null, extra: ['listen: { host: 0.0.0.0, port: 8080 }'] });
  assert.equal(code, 1);
  assert.deepEqual(
    lines.filter((l) => /^\S+ +listen/.test(l)).map((l) => l.replace(/\/\S+\/airlock\.yaml/, 'airlock.yaml')),
    [
      'error listen: airlock.yaml: listen.host: 0.0.0.0 is not loopback and no grants are configured, so anyone who reaches the port could call tools; add grants or listen on 127.0.0.1',
    ],
  );
});

test('a Redis that evicts keys when full fails naming maxmemory-policy', async () => {
  const { code, stdout } = await doctor({ redis: evicting.url });
  assert.equal(code, 1, stdout);
  assert.match(
    stdout,
    /^error redis eviction: maxmemory-policy is allkeys-lru: when Redis reaches maxmemory it deletes keys to make room, and pending approvals and the audit trail would be lost; set maxmemory-policy noeviction$/m,
  );
  assert.match(stdout, /^\d+ checks: 1 failed, 0 warnings$/m);
});

test('a managed Redis that refuses CONFIG still has its eviction policy read, from INFO', async () => {
  const admin = new Redis(durable.url);
  await admin.acl('SETUSER', 'doctor', 'on', '>doctor-password', '~*', '&*', '+@all', '-config');
  admin.disconnect();
  const url = durable.url.replace('redis://', 'redis://doctor:doctor-password@');
  const { code, stdout } = await doctor({ redis: url, slack: null });
  assert.equal(code, 0, stdout);
  assert.match(stdout, /^ok {4}redis eviction: maxmemory-policy noeviction \(read from INFO: CONFIG GET is not allowed\)$/m);
  assert.match(stdout, /^ok {4}redis persistence: AOF on$/m);
});

test('all four problems at once (Redis down, a broken policy, a refused Slack token, an upstream that cannot start) each get their own line', async () => {
  const { code, stdout } = await doctor({
    redis: nowhere,
    policy: BROKEN_POLICY,
    slack: { bot_token: 'xoxb-revoked-token' },
    servers: { ghost: GHOST_SERVER },
  });
  assert.equal(code, 1, stdout);
  assert.match(stdout, /^error redis: redis:\/\/127\.0\.0\.1:\d+: /m);
  assert.match(stdout, /^error policy ghost: policies\/fs\.yaml: tools\.write_file\.action: /m);
  assert.match(stdout, /^error slack auth: .*invalid_auth/m);
  assert.match(stdout, /^error upstream ghost: command not found: /m);
  // The policy has two problems, one line each.
  assert.match(stdout, /^\d+ checks: 5 failed, 1 warning$/m);
});

test('an upstream that never answers is reported after the timeout, and neither it nor what it started is left running', async () => {
  // The server starts a child of its own, writes both process ids, then sits on its stdin without answering.
  const script = [
    "const { spawn } = require('node:child_process');",
    "const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });",
    "require('node:fs').writeFileSync('pids', process.pid + ' ' + child.pid);",
    'setInterval(() => {}, 1000);',
  ].join(' ');
  const { dir, file } = configTree(
    [
      'servers:',
      '  mute:',
      `    command: ${JSON.stringify(process.execPath)}`,
      `    args: ['-e', ${JSON.stringify(script)}]`,
      '    policy: policies/fs.yaml',
      '',
    ].join('\n'),
  );
  const checks = await upstreamChecks(loadConfig(file, process.env), process.env, { timeoutMs: 3_000 });
  // Reported by doctor's own 3 s timeout, not by the 60 s the MCP SDK itself would wait for an answer to initialize.
  assert.deepEqual(checks, [
    {
      level: 'error',
      what: 'upstream mute',
      detail: `"${process.execPath}" started but did not answer initialize and tools/list within 3.0 s`,
    },
  ]);
  assert.ok(existsSync(join(dir, 'pids')), 'the server ran and wrote its process ids');
  const pids = readFileSync(join(dir, 'pids'), 'utf8').split(' ').map(Number);
  await until('the server and its child to be gone', () => pids.every((pid) => !running(pid)), 30_000);
});

/** Whether a process runs (a zombie waiting to be reaped does not). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

test('a hold no Slack user could approve is a warning naming the policy, the rule and the key to set; the run still passes', async () => {
  const policy = 'version: "1"\ndefault: deny\ntools:\n  read_file: {}\n  write_file: { action: require_approval }\n';
  const { code, stdout, stderr } = await doctor({ policy });
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  assert.match(
    stdout,
    /^warn {2}policy fs: policies\/fs\.yaml: tools\.write_file: no Slack user could approve its held calls \(no approvers list applies\), so only console admins can; list Slack users or groups in approval\.approvers or approvals\.approvers$/m,
  );
  assert.match(stdout, /^warn {2}policy fs: policies\/fs\.yaml: on_tool_change: no Slack user could approve/m);
  assert.match(stdout, /^\d+ checks: 0 failed, 2 warnings$/m);
});
