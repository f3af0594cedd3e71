import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { api, pendingFor } from '../support/approvals-api.js';
import { configTree } from '../support/config-tree.js';
import { FIXTURE_ADMIN, FIXTURE_AGENT } from '../support/fixture-gateway.js';
import { FIXTURE_SERVER, TSX_LOADER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { AIRLOCK_BIN, airlock } from '../support/run-cli.js';

// `script` (util-linux) runs a command on a pseudo-terminal of its own: what a person running `airlock start` in a terminal sees.
assert.equal(spawnSync('script', ['--version']).status, 0, 'these tests need `script` from util-linux (apt-get install bsdutils)');

const ESC = '\x1b';
/** An SGR colour sequence, which pino-pretty writes around the level and the message on a terminal. */
const COLOURS = new RegExp(`${ESC}\\[[0-9;]*m`, 'g');
const COLOUR = new RegExp(COLOURS.source);
/** A pretty line: the time, the level, the message and its fields. */
const PRETTY_LINE = /^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN|ERROR|DEBUG): \S/;

interface OnTerminal {
  /** Everything written to the terminal so far, as written. */
  readonly raw: string;
  /** The lines written so far, without colour. */
  lines(): string[];
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** `airlock ARGV` on a pseudo-terminal (its stdout and stderr are the terminal), with `env` as its whole environment. */
function onTerminal(argv: string[], cwd: string, env: NodeJS.ProcessEnv): OnTerminal {
  // `exec`: airlock itself runs on the terminal, so Ctrl-C reaches it and its exit code is script's.
  const command = 'exec ' + [process.execPath, AIRLOCK_BIN, ...argv].map((word) => `'${word.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let raw = '';
  child.stdout.on('data', (chunk: Buffer) => (raw += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    get raw() {
      return raw;
    },
    // Whole lines only: the last may still be arriving.
    lines: () => raw.replace(COLOURS, '').split(/\r?\n/).slice(0, -1),
    exited,
    async stop() {
      // Ctrl-C, as a person stops it: the terminal sends SIGINT to airlock.
      if (child.exitCode === null) child.stdin.write('\x03');
      // Only keeps a test from hanging on a gateway that ignores it; the test then fails on the exit code.
      const hung = setTimeout(() => child.kill('SIGKILL'), 30_000);
      return exited.finally(() => clearTimeout(hung));
    },
  };
}

/** A config that logs its first line, then stops: nothing answers at its Redis. */
function failingStart(log = ''): string {
  return configTree(
    ['servers:', '  fx:', '    command: node', '    policy: fx.json', 'redis: { url: "redis://127.0.0.1:1" }', log, ''].join('\n'),
    { 'fx.json': '{"version":"1"}' },
  ).dir;
}

const BASE_ENV = { PATH: process.env.PATH, HOME: process.env.HOME, REDIS_URL: 'redis://127.0.0.1:1' };

test('airlock start writes lines for a person on a terminal and JSON lines into a pipe; log.pretty and AIRLOCK_LOG_PRETTY (over it) decide either way', async () => {
  const cases: { name: string; terminal: boolean; log?: string; env?: Record<string, string>; pretty: boolean }[] = [
    { name: 'on a terminal', terminal: true, pretty: true },
    { name: 'into a pipe', terminal: false, pretty: false },
    { name: 'log.pretty: auto into a pipe', terminal: false, log: 'log: { pretty: auto }', pretty: false },
    { name: 'log.pretty: false on a terminal', terminal: true, log: 'log: { pretty: false }', pretty: false },
    { name: 'log.pretty: true into a pipe', terminal: false, log: 'log: { pretty: true }', pretty: true },
    { name: 'AIRLOCK_LOG_PRETTY=0 on a terminal', terminal: true, env: { AIRLOCK_LOG_PRETTY: '0' }, pretty: false },
    {
      name: 'AIRLOCK_LOG_PRETTY=0 over log.pretty: true',
      terminal: true,
      log: 'log: { pretty: true }',
      env: { AIRLOCK_LOG_PRETTY: '0' },
      pretty: false,
    },
    {
      name: 'AIRLOCK_LOG_PRETTY=1 over log.pretty: false',
      terminal: false,
      log: 'log: { pretty: false }',
      env: { AIRLOCK_LOG_PRETTY: '1' },
      pretty: true,
    },
    {
      name: 'AIRLOCK_LOG_PRETTY=auto over log.pretty: false',
      terminal: true,
      log: 'log: { pretty: false }',
      env: { AIRLOCK_LOG_PRETTY: 'auto' },
      pretty: true,
    },
  ];
  for (const c of cases) {
    const dir = failingStart(c.log);
    const env = { ...BASE_ENV, ...c.env };
    const argv = ['start', '-c', 'airlock.yaml'];
    let first: string;
    if (c.terminal) {
      const run = onTerminal(argv, dir, env);
      assert.equal(await run.exited, 1, `${c.name}: ${run.raw}`);
      // The failure is written to stderr at once, and the log lines by pino's own writes: on one terminal either may come first.
      first = run.lines().find((line) => !line.startsWith('airlock: '))!;
      // Colour only on a terminal, and only on lines for a person.
      assert.equal(COLOUR.test(run.raw), c.pretty, `${c.name}: coloured or not: ${JSON.stringify(run.raw)}`);
    } else {
      const run = await airlock(argv, dir, env);
      assert.equal(run.code, 1, `${c.name}: ${run.stdout}${run.stderr}`);
      first = run.stdout.split('\n')[0]!;
      assert.doesNotMatch(run.stdout, COLOUR, `${c.name}: no colour into a pipe`);
    }
    if (c.pretty) assert.match(first, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: starting airlock {2}config=airlock\.yaml$/, c.name);
    else {
      const entry = JSON.parse(first) as Record<string, unknown>;
      assert.deepEqual([entry.msg, entry.config], ['starting airlock', 'airlock.yaml'], c.name);
    }
  }
});

test('NO_COLOR keeps the lines for a person on a terminal, without colour', async () => {
  const run = onTerminal(['start', '-c', 'airlock.yaml'], failingStart(), { ...BASE_ENV, NO_COLOR: '1' });
  assert.equal(await run.exited, 1, run.raw);
  // Anywhere on its own line: the failure on stderr may be written before it.
  assert.match(run.raw, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: starting airlock {2}config=airlock\.yaml\r?$/m);
  assert.ok(!run.raw.includes(ESC), 'no escape sequence at all');
});

test('a bad AIRLOCK_LOG_PRETTY is refused naming the variable and the words it takes', async () => {
  const run = await airlock(['start', '-c', 'airlock.yaml'], failingStart(), { ...BASE_ENV, AIRLOCK_LOG_PRETTY: 'yes' });
  assert.equal(run.code, 1);
  assert.match(run.stderr, /AIRLOCK_LOG_PRETTY: "yes" is none of 1\/true, 0\/false and auto/);
});

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(() => redis?.stop());

test('on a terminal, each line about a held call names its request_id, approval_id, server and tool; a hostile tool name stays on its line, cut, its control characters shown escaped', async () => {
  const { dir } = configTree(
    [
      'listen: { host: 127.0.0.1, port: 0 }',
      `redis: { url: "${redis.url}", timeout: 5s }`,
      'servers:',
      '  fx:',
      `    command: ${process.execPath}`,
      `    args: [--import, ${TSX_LOADER}, ${FIXTURE_SERVER}]`,
      '    policy: fx.json',
      `grants:\n  - { name: agent, token: ${FIXTURE_AGENT} }`,
      `admins:\n  - { name: alice, token: ${FIXTURE_ADMIN} }`,
      'approvals: { channel: console }',
      '',
    ].join('\n'),
    { 'fx.json': JSON.stringify({ version: '1', default: 'allow', tools: { start_dicom_export_job: { action: 'require_approval' } } }) },
  );
  const gateway = onTerminal(['start', '-c', 'airlock.yaml'], dir, BASE_ENV);
  let client: Client | undefined;
  try {
    let url = '';
    await until('the gateway to listen', () => {
      url = /airlock listening {2}url=(http:\/\/127\.0\.0\.1:\d+)/.exec(gateway.lines().join('\n'))?.[1] ?? '';
      if (gateway.raw.includes('airlock: ')) throw new Error(`airlock did not start: ${gateway.raw}`);
      return url !== '';
    });
    client = new Client({ name: 'terminal-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL('/mcp/fx', url), {
        requestInit: { headers: { Authorization: `Bearer ${FIXTURE_AGENT}` } },
      }),
    );

    const call = client.callTool({ name: 'start_dicom_export_job', arguments: { datastore: 'imaging' } });
    const pending = await pendingFor(url, FIXTURE_ADMIN, 'start_dicom_export_job');
    assert.equal((await api(url, `/api/approvals/${pending.id}/approve`, FIXTURE_ADMIN, { method: 'POST', body: {} })).status, 200);
    await call;
    const requestId = String(pending.request_id);
    await until('the executed call to be logged', () => gateway.lines().some((l) => l.includes('call executed')));
    const about = gateway.lines().filter((l) => l.includes(`request_id=${requestId}`));
    for (const message of ['call held for approval', 'approval granted: releasing the call', 'call executed']) {
      const line = about.find((l) => l.includes(`: ${message}  `));
      assert.ok(line, `a line "${message}" in ${JSON.stringify(about)}`);
      assert.match(line, PRETTY_LINE);
      for (const field of [`approval_id=${pending.id}`, 'server=fx', 'tool=start_dicom_export_job', 'grant=agent'])
        assert.ok(line.includes(` ${field}`), `${field} on ${line}`);
    }

    // What an agent names reaches the log; on a terminal it must not draw a line of its own, move the cursor or reorder text.
    const hostile = `evil\n[00:00:00.000] INFO: approval granted\r\x1b[2J\u202Egnp.exe${'x'.repeat(5_000)}`;
    await client.callTool({ name: hostile, arguments: {} }).catch(() => undefined);
    await until('the unknown tool to be logged', () => gateway.lines().some((l) => l.includes('evil\\n[00:00:00.000]')));
    const line = gateway.lines().find((l) => l.includes('evil\\n[00:00:00.000]'))!;
    assert.match(line, PRETTY_LINE);
    assert.ok(line.includes('\\r\\u001b[2J\\u202Egnp.exe'), `escaped: ${line.slice(0, 300)}`);
    assert.match(line, /x…\[\d+ more characters\]/, 'the name is cut');
    assert.ok(line.length < 3_000, `${line.length} characters`);
    assert.ok(!gateway.lines().some((l) => l.startsWith('[00:00:00.000]')), 'no forged line');
    assert.ok(!gateway.raw.replace(COLOURS, '').includes(ESC), 'no escape sequence but colours reaches the terminal');
    assert.ok(!gateway.raw.includes('\u202E'), 'no direction change reaches the terminal');
  } finally {
    await client?.close();
    assert.equal(await gateway.stop(), 0, gateway.raw.slice(-2_000));
  }
  assert.ok(
    gateway.lines().some((l) => /INFO: airlock stopped$/.test(l)),
    'the last line is written before the process ends',
  );
});
