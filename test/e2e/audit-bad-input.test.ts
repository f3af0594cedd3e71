import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { api } from '../support/approvals-api.js';
import { configTree } from '../support/config-tree.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { FIXTURE_SERVER, TSX_LOADER } from '../support/mcp-servers.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { AIRLOCK_BIN, airlock, cli } from '../support/run-cli.js';

const AGENT = 'agent-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';
const SERVERS = `servers:\n  fixture:\n    command: ${process.execPath}\n    args: [--import, ${TSX_LOADER}, ${FIXTURE_SERVER}]\n    policy: policy.json\n`;
const CONFIG = `${SERVERS}grants:\n  - { name: agent, token: ${AGENT} }\nadmins:\n  - { name: alice, token: ${ALICE} }\n`;
const POLICY = JSON.stringify({ version: '1', default: 'deny', tools: { echo: {} } });

let redis: TestRedis;
let gateway: RunningGateway;

before(async () => {
  redis = await startRedis();
  gateway = await startGateway({ config: CONFIG, files: { 'policy.json': POLICY }, redis });
  const agent = await gateway.connect('/mcp/fixture', AGENT);
  await agent.callTool({ name: 'echo', arguments: { text: 'one event to page over' } });
});
after(async () => {
  await gateway?.stop();
  await redis?.stop();
});

test('/api/audit answers a bad date, an unknown filter, a bad cursor or limit 400 AIRLOCK_BAD_ARGUMENTS naming it', async () => {
  const cases: [string, RegExp][] = [
    ['since=yesterdayish', /since: "yesterdayish" is not a date: use an ISO date or date-time .* or a time ago/],
    ['until=2026-13-45', /until: "2026-13-45" is not a date/],
    ['since=12parsecs', /since: "12parsecs" is not a date/],
    [
      'colour=red',
      /unknown filter colour \(known: since, until, server, tool, resource, prompt, grant, approver, decision, approval_id, request_id, task_id, cursor, limit\)/,
    ],
    ['tool=echo&colour=red&size=9', /unknown filters colour, size/],
    ['cursor=not-an-id', /cursor: a cursor is the id of an event \(like 1764090000000-0\)/],
    ['cursor=1764090000000', /cursor: a cursor is the id of an event/],
    ['limit=0', /limit: /],
    ['limit=lots', /limit: /],
    ['limit=100000', /limit: /],
    ['decision=maybe', /decision: expected one of allowed, denied, .*require_approval/],
    ['since=2026-02-01&until=2026-01-01', /since: since is after until/],
    ['tool=echo&tool=sleep', /tool: /],
    ['server=', /server: /],
  ];
  for (const [query, message] of cases) {
    const { status, body } = await api(gateway.url, `/api/audit?${query}`, ALICE);
    assert.equal(status, 400, `${query}: ${JSON.stringify(body)}`);
    assert.equal(body.error?.code, 'AIRLOCK_BAD_ARGUMENTS', query);
    assert.match(body.error?.message ?? '', /^bad audit query: /, query);
    assert.match(body.error?.message ?? '', message, query);
  }
  const good = await api(gateway.url, '/api/audit?since=2026-01-01T00:00:00Z&limit=1', ALICE);
  assert.equal(good.status, 200, JSON.stringify(good.body));
});

test('/api/audit is for admins only', async () => {
  for (const token of [undefined, AGENT, 'not-a-token']) {
    const { status, body } = await api(gateway.url, '/api/audit', token);
    assert.equal(status, 401, JSON.stringify(body));
    assert.equal(body.error?.code, 'AIRLOCK_UNAUTHORIZED');
    assert.equal(body.events, undefined);
  }
});

const run = (...argv: string[]) => cli([...argv, '-c', join(gateway.dir, 'airlock.yaml')], gateway.dir, { REDIS_URL: redis.url });

test('`airlock audit --since yesterdayish` exits 1 with the reason', async () => {
  const { code, stdout, stderr } = await airlock(
    ['audit', '--since', 'yesterdayish', '-c', join(gateway.dir, 'airlock.yaml')],
    gateway.dir,
    { ...process.env, REDIS_URL: redis.url },
  );
  assert.equal(code, 1, stdout);
  assert.match(
    stderr,
    /since: "yesterdayish" is not a date: use an ISO date or date-time \(2026-11-25, 2026-11-25T17:00:00Z\) or a time ago \(15m, 2h, 7d\)/,
  );
  assert.equal(stdout, '');
});

test('other bad audit arguments exit 1 with the reason, and print no events', async () => {
  const cases: [string[], RegExp][] = [
    [['audit', '--until', 'soon'], /until: "soon" is not a date/],
    [['audit', '--decision', 'maybe'], /decision: expected one of/],
    [['audit', '--cursor', 'page-2'], /cursor: a cursor is the id of an event/],
    [['audit', '--limit', '0'], /limit: /],
    [['audit', 'export', '--format', 'xml'], /--format xml: use jsonl or csv/],
    [['audit', 'verify', '--file', 'no-such-file.jsonl'], /--file no-such-file\.jsonl: no such file/],
  ];
  for (const [argv, message] of cases) {
    const { code, stdout, stderr } = await run(...argv);
    assert.equal(code, 1, `${argv.join(' ')}: ${stdout}`);
    assert.match(stderr, message, argv.join(' '));
    assert.equal(stdout, '', argv.join(' '));
  }
});

test('a bad filter given to `audit export` exits 1 too, rather than exporting everything', async () => {
  const { code, stdout, stderr } = await run('audit', 'export', '--since', 'yesterdayish');
  assert.equal(code, 1, `exported instead: ${stdout.slice(0, 300)}`);
  assert.match(stderr, /since: "yesterdayish" is not a date/);
});

/** When a start that fails counts as hung rather than slow: it fails before connecting any upstream, in seconds even on a loaded machine. */
const EXIT_WITHIN_MS = 60_000;

/** Runs `airlock start`: how it ended (its exit code, or killed after EXIT_WITHIN_MS), whether it got as far as listening, and what it printed. */
function startOnce(dir: string): Promise<{ code: number | null; listening: boolean; hung: boolean; output: string }> {
  return new Promise((resolve) => {
    // Its own process group, so that a start that hangs is killed with any upstream it started.
    const child = spawn(process.execPath, [AIRLOCK_BIN, 'start', '-c', join(dir, 'airlock.yaml')], {
      cwd: dir,
      env: { ...process.env, REDIS_URL: redis.url },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    let listening = false;
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      process.kill(-child.pid!, 'SIGKILL');
    }, EXIT_WITHIN_MS);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      if (!listening && output.includes('"msg":"airlock listening"')) {
        listening = true;
        child.kill('SIGTERM');
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, listening, hung, output });
    });
  });
}

const isRoot = process.getuid?.() === 0;
const unwritable: { name: string; file: string; prepare?: (dir: string) => void; problem: RegExp; skip?: string | false }[] = [
  { name: 'in a folder that does not exist', file: 'no-such-folder/audit.jsonl', problem: /ENOENT/ },
  { name: 'that is a folder', file: 'logs', prepare: (dir) => mkdirSync(join(dir, 'logs')), problem: /EISDIR/ },
  { name: 'under a path that is a file', file: 'policy.json/audit.jsonl', problem: /ENOTDIR/ },
  {
    name: 'in a folder that is not writable',
    file: 'locked/audit.jsonl',
    prepare: (dir) => {
      mkdirSync(join(dir, 'locked'));
      chmodSync(join(dir, 'locked'), 0o500);
    },
    problem: /EACCES/,
    skip: isRoot && 'root may write to any folder',
  },
  {
    name: 'that exists and is read-only',
    file: 'readonly.jsonl',
    prepare: (dir) => {
      writeFileSync(join(dir, 'readonly.jsonl'), '');
      chmodSync(join(dir, 'readonly.jsonl'), 0o400);
    },
    problem: /EACCES/,
    skip: isRoot && 'root may write to any file',
  },
];

// Each start takes a few seconds of node start-up: they run side by side.
test(
  'an audit.file that cannot be written: `airlock start` fails at startup naming the file, and exits',
  { concurrency: true },
  async (t) => {
    await Promise.all(
      unwritable.map((c) =>
        t.test(`an audit.file ${c.name}`, { skip: c.skip ?? false }, async () => {
          const { dir } = configTree(`${CONFIG}audit: { file: ./${c.file} }\n`, { 'policy.json': POLICY });
          c.prepare?.(dir);
          const { code, listening, hung, output } = await startOnce(dir);
          assert.equal(listening, false, `airlock started with an unwritable audit file:\n${output}`);
          const path = join(dir, c.file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          assert.match(output, new RegExp(`audit\\.file: ${path} cannot be written \\(${c.problem.source}\\)`), output);
          assert.equal(hung, false, `airlock start printed why it cannot start but was still running ${EXIT_WITHIN_MS / 1000} s later`);
          assert.equal(code, 1, output);
        }),
      ),
    );
  },
);
