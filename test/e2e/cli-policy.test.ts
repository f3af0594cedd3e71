import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { RateLimiter } from '../../src/limits/index.js';
import { evaluate, loadPolicyFile } from '../../src/policy/index.js';
import { connectRedis } from '../../src/redis/index.js';
import { startRedis } from '../support/redis.js';
import { configTree } from '../support/config-tree.js';
import { airlock, cli, PROJECT_ROOT } from '../support/run-cli.js';

/** The example config of the seed policy's server, and the server: `policy explain -c examples/aws-support.yaml aws-support …`. */
const AWS_SUPPORT = ['-c', 'examples/aws-support.yaml', 'aws-support'];

test('airlock policy check policies/* passes on every shipped policy', async () => {
  const files = readdirSync(join(PROJECT_ROOT, 'policies')).map((f) => join('policies', f));
  assert.ok(files.length >= 5);
  const { code, stdout, stderr } = await airlock(['policy', 'check', ...files]);
  assert.equal(code, 0, stdout + stderr);
  assert.match(stdout, new RegExp(`${files.length} files checked, all valid`));
});

test('the seed policy: start_dicom_export_job is allowed with its limit named', async () => {
  const { code, stdout } = await airlock(['policy', 'explain', ...AWS_SUPPORT, 'start_dicom_export_job']);
  assert.equal(code, 0);
  assert.match(stdout, /^decision: allow$/m);
  assert.match(stdout, /^rule: {5}tools\.start_dicom_export_job$/m);
  assert.match(stdout, /^limits: {3}start_dicom_export_job_rate: 10 per minute, scope grant/m);
});

test('the seed policy: describe_cases is denied by default, and explain says so', async () => {
  const { code, stdout } = await airlock(['policy', 'explain', ...AWS_SUPPORT, 'describe_cases']);
  assert.equal(code, 0);
  assert.match(stdout, /^decision: deny$/m);
  assert.match(stdout, /^rule: {5}default$/m);
  assert.match(stdout, /describe_cases is not listed in the policy and the default is deny/);
});

test('explain --json prints the decision with its limits', async () => {
  const { code, stdout } = await cli(['policy', 'explain', ...AWS_SUPPORT, 'start_dicom_export_job', '--json']);
  assert.equal(code, 0);
  const decision = JSON.parse(stdout) as { action: string; limits: { counter: string; max: number; window_ms: number; scope: string }[] };
  assert.equal(decision.action, 'allow');
  assert.deepEqual(
    decision.limits.map((l) => [l.counter, l.max, l.window_ms, l.scope]),
    [['start_dicom_export_job_rate', 10, 60_000, 'grant']],
  );
});

test('explain uses --args: a write to the sandbox needs approval, a write into .git is denied', async () => {
  const held = await cli(['policy', 'explain', 'filesystem', 'write_file', '--args', '{"path":"notes.txt","content":"x"}']);
  assert.match(held.stdout, /^decision: require_approval$/m);
  assert.match(
    held.stdout,
    /^approval: 1 approval from console admins only \(no approvers list applies: set approvals.approvers, or the rule's approval.approvers\), expires after 15 minutes$/m,
  );
  const denied = await cli([
    'policy',
    'explain',
    'filesystem',
    'write_file',
    '--args',
    '{"path":"repo/.git/hooks/pre-commit","content":"x"}',
  ]);
  assert.match(denied.stdout, /^decision: deny$/m);
});

const GRANTS =
  'servers:\n  fs:\n    command: node\n    policy: policies/fs.yaml\n  db:\n    command: node\n    policy: policies/fs.yaml\ngrants:\n  - name: ci-bot\n    token: t1\n    servers: [fs]\n';
const ALLOW_ALL = { 'policies/fs.yaml': 'version: "1"\ndefault: allow\n' };

test('explain --grant refuses a server outside the grant, naming the grant', async () => {
  const { dir } = configTree(GRANTS, ALLOW_ALL);
  const { code, stdout } = await cli(['policy', 'explain', 'db', 'query', '--grant', 'ci-bot'], dir);
  assert.equal(code, 0);
  assert.match(stdout, /^decision: deny$/m);
  assert.match(stdout, /^rule: {5}grants\[0\]\.servers$/m);
  assert.match(stdout, /grant ci-bot may not use server db \(it may use: fs\)/);
  const allowed = await cli(['policy', 'explain', 'fs', 'read', '--grant', 'ci-bot'], dir);
  assert.match(allowed.stdout, /^decision: allow$/m);
});

const RESOURCES = {
  'policies/fs.yaml':
    'version: "1"\ndefault: deny\nresources:\n  allow: ["file:///srv/reports/*"]\n  hide: ["file:///srv/reports/secret.pdf"]\nprompts:\n  deny: ["admin_*"]\n  default: allow\n',
};

test('explain --resource: the glob that decides a read, and the policy default for the rest', async () => {
  const { dir } = configTree(GRANTS, RESOURCES);
  const cases: [string, RegExp[]][] = [
    [
      'file:///srv/reports/q1.pdf',
      [/^decision: allow$/m, /^rule: {5}resources\.allow\[0\]$/m, /^resource: "file:\/\/\/srv\/reports\/q1\.pdf"$/m],
    ],
    ['file:///srv/reports/secret.pdf', [/^decision: hide$/m, /^rule: {5}resources\.hide\[0\]$/m]],
    [
      'file:///srv/reports/2026/q1.pdf',
      [/^decision: deny$/m, /^rule: {5}default$/m, /matches no glob in resources, and the policy's default is deny/],
    ],
    ['file:///srv/reports/../../etc/passwd', [/^decision: deny$/m, /^rule: {5}resources$/m, /has a "\." or "\.\." segment/]],
    ['file:///srv/reports/\u001b[2Jx', [/^decision: deny$/m, /\\u001b\[2Jx/]],
  ];
  for (const [uri, says] of cases) {
    const { code, stdout, stderr } = await cli(['policy', 'explain', 'fs', '--resource', uri], dir);
    assert.equal(code, 0, stderr);
    for (const pattern of says) assert.match(stdout, pattern, `${uri}:\n${stdout}`);
    assert.doesNotMatch(stdout, /\p{Cc}(?<!\n)/u, 'no control character reaches the terminal');
  }
});

test('explain --prompt --json, and --grant refusing the server first', async () => {
  const { dir } = configTree(GRANTS, RESOURCES);
  const denied = await cli(['policy', 'explain', 'fs', '--prompt', 'admin_reset', '--json'], dir);
  assert.equal(denied.code, 0, denied.stderr);
  assert.deepEqual(JSON.parse(denied.stdout), {
    server: 'fs',
    prompt: 'admin_reset',
    policy_file: join(dir, 'policies', 'fs.yaml'),
    action: 'deny',
    rule: 'prompts.deny[0]',
    reason: 'prompt "admin_reset" is denied by prompts.deny[0] ("admin_*")',
    matched: 'admin_*',
  });
  const allowed = await cli(['policy', 'explain', 'fs', '--prompt', 'summarise'], dir);
  assert.match(allowed.stdout, /^decision: allow$/m);
  assert.match(allowed.stdout, /^rule: {5}prompts\.default$/m);
  const outside = await cli(['policy', 'explain', 'db', '--resource', 'file:///srv/reports/q1.pdf', '--grant', 'ci-bot'], dir);
  assert.match(outside.stdout, /^decision: deny$/m);
  assert.match(outside.stdout, /^rule: {5}grants\[0\]\.servers$/m);
});

const badInvocations: { name: string; argv: string[]; code: number; says: RegExp }[] = [
  {
    name: 'an unknown server, with a suggestion',
    argv: ['policy', 'explain', '-c', 'examples/aws-support.yaml', 'aws-suport', 'x'],
    code: 1,
    says: /unknown server "aws-suport", did you mean "aws-support"\?/,
  },
  {
    name: 'an unknown grant',
    argv: ['policy', 'explain', 'filesystem', 'x', '--grant', 'nobody'],
    code: 1,
    says: /unknown grant "nobody" \(configured: none\)/,
  },
  {
    name: '--args that is not JSON',
    argv: ['policy', 'explain', 'filesystem', 'x', '--args', '{path:'],
    code: 1,
    says: /--args is not valid JSON/,
  },
  {
    name: '--args that is not an object',
    argv: ['policy', 'explain', 'filesystem', 'x', '--args', '[1]'],
    code: 1,
    says: /--args must be a JSON object/,
  },
  {
    name: 'an unknown risk class',
    argv: ['policy', 'explain', 'filesystem', 'x', '--risk', 'wrte'],
    code: 1,
    says: /--risk must be one of read, write, execute, destructive, unknown, got "wrte", did you mean "write"\?/,
  },
  {
    name: 'a missing argument is a usage error',
    argv: ['policy', 'explain', 'filesystem'],
    code: 2,
    says: /missing required argument 'tool' \(or give --resource URI or --prompt NAME\)/,
  },
  {
    name: 'a tool and a resource at once',
    argv: ['policy', 'explain', 'filesystem', 'read_file', '--resource', 'file:///x'],
    code: 2,
    says: /give a tool, --resource URI or --prompt NAME, not a tool and --resource/,
  },
  {
    name: 'a resource and a prompt at once',
    argv: ['policy', 'explain', 'filesystem', '--resource', 'file:///x', '--prompt', 'p'],
    code: 2,
    says: /not --resource and --prompt/,
  },
  {
    name: '--args with --resource',
    argv: ['policy', 'explain', 'filesystem', '--resource', 'file:///x', '--args', '{}'],
    code: 1,
    says: /--args applies to a tool call, not to --resource/,
  },
  {
    name: '--risk and --changed with --prompt',
    argv: ['policy', 'explain', 'filesystem', '--prompt', 'p', '--risk', 'read', '--changed'],
    code: 1,
    says: /--risk, --changed apply to a tool call, not to --prompt/,
  },
  { name: 'an unknown command is a usage error', argv: ['polcy'], code: 2, says: /unknown command 'polcy'/ },
  { name: 'an unknown option is a usage error', argv: ['policy', 'check', '--jsn'], code: 2, says: /unknown option '--jsn'/ },
];

for (const c of badInvocations) {
  test(`airlock exits ${c.code} on ${c.name}`, async () => {
    const { code, stderr } = await airlock(c.argv);
    assert.equal(code, c.code, stderr);
    assert.match(stderr, c.says);
  });
}

test('airlock --help exits 0 and lists the policy commands', async () => {
  const { code, stdout } = await airlock(['policy', '--help']);
  assert.equal(code, 0);
  assert.match(stdout, /check \[options\] \[paths\.\.\.\]/);
  assert.match(stdout, /explain \[options\] <server> \[tool\]/);
});

test('explain shows the current count of each counter and what the next call would get', async () => {
  const redis = await startRedis();
  const client = await connectRedis({ url: redis.url, logger: pino({ level: 'silent' }), commandTimeoutMs: 5_000 });
  try {
    const env = { REDIS_URL: redis.url };
    const fresh = await cli(['policy', 'explain', ...AWS_SUPPORT, 'start_dicom_export_job'], PROJECT_ROOT, env);
    assert.match(fresh.stdout, /^counters: start_dicom_export_job_rate: 0 of 10 used$/m);
    assert.match(fresh.stdout, /the next call would be admitted by its limits/);

    const limits = evaluate(loadPolicyFile(join(PROJECT_ROOT, 'policies', 'aws-support.json')), { tool: 'start_dicom_export_job' }).limits;
    const limiter = new RateLimiter(client);
    for (let i = 0; i < 10; i++) assert.equal((await limiter.charge(limits, { grant: undefined, session: undefined })).admitted, true);
    const full = await cli(['policy', 'explain', ...AWS_SUPPORT, 'start_dicom_export_job', '--json'], PROJECT_ROOT, env);
    const json = JSON.parse(full.stdout) as { counters: { counts: { counter: string; count: number; max: number }[] } };
    assert.deepEqual(
      json.counters.counts.map((c) => [c.counter, c.count, c.max]),
      [['start_dicom_export_job_rate', 10, 10]],
    );
    const text = await cli(['policy', 'explain', ...AWS_SUPPORT, 'start_dicom_export_job'], PROJECT_ROOT, env);
    assert.match(text.stdout, /the next call would be RATE LIMITED by start_dicom_export_job_rate/);
  } finally {
    client.disconnect();
    await redis.stop();
  }
});

test('explain still explains when Redis does not answer, and says the counts were not read', async () => {
  const { stdout, code } = await cli(['policy', 'explain', ...AWS_SUPPORT, 'start_dicom_export_job']);
  assert.equal(code, 0);
  assert.match(stdout, /^decision: allow$/m);
  assert.match(stdout, /^counters: not read: cannot connect to Redis at redis:\/\/127\.0\.0\.1:1/m);
});
