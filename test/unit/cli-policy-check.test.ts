import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configTree } from '../support/config-tree.js';
import { cli } from '../support/run-cli.js';

const GOOD = 'version: "1"\ndefault: deny\ntools:\n  read_file: {}\n';

interface BadPolicy {
  name: string;
  text?: string;
  file?: string;
  /** Each line `policy check` must print, after "error <file>: ". */
  says: string[];
}

const badPolicies: BadPolicy[] = [
  {
    name: 'an unknown action',
    text: 'version: "1"\ndefault: deny\ntools:\n  x: { action: alow }\n',
    says: ['tools.x.action: expected one of "allow", "deny", "require_approval", got "alow", did you mean "allow"? (line 4)'],
  },
  {
    name: 'an unknown op',
    text: 'version: "1"\ndefault: deny\ntools:\n  x:\n    deny_if: [{ path: args.a, op: greater, value: 1 }]\n',
    says: ['tools.x.deny_if[0].op: expected one of'],
  },
  {
    name: 'a max that is a word',
    text: 'version: "1"\ndefault: deny\ntools:\n  x:\n    limits: [{ counter: c, window: minute, max: ten }]\n',
    says: ['tools.x.limits[0].max: expected a number, got "ten" (line 5)'],
  },
  {
    name: 'a negative window',
    text: 'version: "1"\ndefault: deny\nall_tools:\n  limits: [{ counter: c, window: -5, max: 1 }]\n',
    says: ['all_tools.limits[0].window: must be a positive number of seconds, got -5'],
  },
  {
    name: 'a zero window',
    text: 'version: "1"\ndefault: deny\nall_tools:\n  limits: [{ counter: c, window: 0s, max: 1 }]\n',
    says: ['all_tools.limits[0].window: must be longer than zero, got "0s"'],
  },
  {
    name: 'a regex that does not compile',
    text: 'version: "1"\ndefault: deny\ntools:\n  x:\n    deny_if: [{ path: args.a, op: regex, value: "(" }]\n',
    says: ['tools.x.deny_if[0].value: invalid regex: Invalid regular expression: /(/: Unterminated group'],
  },
  {
    name: 'a regex that could hang the process',
    text: 'version: "1"\ndefault: deny\ntools:\n  x:\n    deny_if: [{ path: args.a, op: regex, value: "^(a+)+\\\\1$" }]\n',
    says: ['tools.x.deny_if[0].value: regex "^(a+)+\\\\1$" is refused: it may backtrack catastrophically'],
  },
  {
    name: 'an invalid JSON Schema',
    text: 'version: "1"\ndefault: deny\ntools:\n  x:\n    schema: { type: strng }\n',
    says: ['tools.x.schema: invalid JSON Schema: schema is invalid: data/type must be equal to one of the allowed values'],
  },
  { name: 'a version other than "1"', text: 'version: "2"\ndefault: deny\n', says: ['version: expected one of "1", 1, got "2" (line 1)'] },
  {
    name: 'a duplicated key in YAML',
    text: 'version: "1"\ndefault: deny\ntools:\n  x: {}\n  x: { action: deny }\n',
    says: ['invalid YAML: Map keys must be unique (line 5)'],
  },
  {
    name: 'a glob that can never match',
    text: 'version: "1"\ndefault: deny\ntools:\n  "*": {}\n  "delete_*": { action: deny }\n',
    says: ['tools.delete_*: this glob can never match: the earlier glob "*" matches every tool first (line 5)'],
  },
  { name: 'an empty file', text: '', says: ['file is empty'] },
  { name: 'a file that is not there', says: ['file not found'] },
  { name: 'invalid JSON', file: 'p.json', text: '{"version": "1",}', says: ['invalid JSON:'] },
];

for (const c of badPolicies) {
  test(`policy check exits 1 and names file, path and problem: ${c.name}`, async () => {
    const name = c.file ?? 'p.yaml';
    const { dir } = configTree(undefined, c.text === undefined ? {} : { [name]: c.text });
    const { code, stdout } = await cli(['policy', 'check', name], dir);
    assert.equal(code, 1, stdout);
    const errors = stdout.split('\n').filter((l) => l.startsWith('error '));
    assert.equal(errors.length, c.says.length, stdout);
    c.says.forEach((says, i) =>
      assert.ok(errors[i]!.startsWith(`error ${name}: ${says}`), `${errors[i]}\n  should start with\nerror ${name}: ${says}`),
    );
    assert.match(stdout, /1 file checked, 1 with problems$/);
  });
}

test('policy check reports every file, valid or not, and exits 1 when any has a problem', async () => {
  const { dir } = configTree(undefined, {
    'rules/a.yaml': GOOD,
    'rules/b.json': '{"version":"1","default":"maybe"}',
    'rules/notes.txt': 'not a policy',
  });
  const { code, stdout } = await cli(['policy', 'check', 'rules'], dir);
  assert.equal(code, 1);
  assert.match(stdout, /^ok {4}rules\/a\.yaml$/m);
  assert.match(stdout, /^error rules\/b\.json: default: expected one of "allow", "deny", got "maybe" \(line 1\)$/m);
  assert.match(stdout, /2 files checked, 1 with problems/);
});

test('policy check --json lists each file with its problems', async () => {
  const { dir } = configTree(undefined, { 'ok.yaml': GOOD, 'bad.yaml': 'version: "1"\ndefault: deny\nhide: [" "]\n' });
  const { code, stdout } = await cli(['policy', 'check', '--json', 'ok.yaml', 'bad.yaml'], dir);
  assert.equal(code, 1);
  const results = JSON.parse(stdout) as { file: string; ok: boolean; problems: { path: string; message: string; line?: number }[] }[];
  assert.deepEqual(
    results.map((r) => [r.file, r.ok]),
    [
      ['ok.yaml', true],
      ['bad.yaml', false],
    ],
  );
  assert.deepEqual(
    results[1]!.problems.map((p) => [p.path, p.line]),
    [['hide[0]', 3]],
  );
});

test('policy check with no paths checks the config and the policies it references', async () => {
  const { dir } = configTree('servers:\n  fs:\n    command: node\n    policy: policies/fs.yaml\n', { 'policies/fs.yaml': GOOD });
  const { code, stdout } = await cli(['policy', 'check'], dir);
  assert.equal(code, 0, stdout);
  assert.match(stdout, /^ok {4}airlock\.yaml$/m);
  assert.match(stdout, /^ok {4}policies\/fs\.yaml$/m);
});

test('policy check fails on a config that references a missing policy file', async () => {
  const { dir } = configTree('servers:\n  fs:\n    command: node\n    policy: policies/missing.yaml\n');
  const { code, stdout } = await cli(['policy', 'check'], dir);
  assert.equal(code, 1);
  assert.match(stdout, /^error airlock\.yaml: servers\.fs\.policy: policy file not found: .*policies\/missing\.yaml \(line 4\)$/m);
});

test('policy check fails on a config with an unset variable and no default', async () => {
  const { dir } = configTree(
    'servers:\n  fs:\n    command: node\n    policy: policies/fs.yaml\ngrants:\n  - name: ci\n    token: "${AIRLOCK_TOKEN_CI}"\n',
    { 'policies/fs.yaml': GOOD },
  );
  const { code, stdout } = await cli(['policy', 'check'], dir, {});
  assert.equal(code, 1);
  assert.match(stdout, /^error airlock\.yaml: grants\[0\]\.token: environment variable AIRLOCK_TOKEN_CI is not set/m);
  const withVar = await cli(['policy', 'check'], dir, { AIRLOCK_TOKEN_CI: 'secret' });
  assert.equal(withVar.code, 0, withVar.stdout);
});

test('a broken policy referenced by the config fails the check', async () => {
  const { dir } = configTree('servers:\n  fs:\n    command: node\n    policy: policies/fs.yaml\n', {
    'policies/fs.yaml': 'version: "1"\n',
  });
  const { code, stdout } = await cli(['policy', 'check'], dir);
  assert.equal(code, 1);
  assert.match(stdout, /^error policies\/fs\.yaml: default: required/m);
});

const SLACK_SECTION = 'slack: { bot_token: xoxb-1, signing_secret: s, channel: C0APPROVALS }\n';
const HELD_WRITE = 'version: "1"\ndefault: deny\ntools:\n  read_file: {}\n  write_file: { action: require_approval }\n';

interface ApproverCase {
  name: string;
  config: string;
  policy: string;
  /** Each warning `policy check` prints, after "warn  policies/fs.yaml: ". */
  warns: (string | RegExp)[];
}

const approverCases: ApproverCase[] = [
  {
    name: 'with Slack, a hold that names no approvers and no approvals.approvers can be decided only on the console',
    config: SLACK_SECTION,
    policy: HELD_WRITE,
    warns: [
      /^tools\.write_file: no Slack user could approve its held calls \(no approvers list applies\), so only console admins can; list Slack users or groups in approval\.approvers or approvals\.approvers$/,
      /^on_tool_change: no Slack user could approve/,
    ],
  },
  {
    name: 'approvals.approvers naming a Slack user covers every hold',
    config: `${SLACK_SECTION}approvals: { approvers: [U0ALICE] }\n`,
    policy: HELD_WRITE,
    warns: [],
  },
  {
    name: 'a rule listing only admins, with Slack',
    config: `${SLACK_SECTION}admins: [{ name: alice, token: a-token }]\napprovals: { approvers: [S0OPS] }\n`,
    policy: 'version: "1"\ndefault: deny\ntools:\n  write_file: { action: require_approval, approval: { approvers: [alice] } }\n',
    warns: [
      /^tools\.write_file: no Slack user could approve its held calls \(its approval\.approvers \(alice\) names no Slack user or group\)/,
    ],
  },
  {
    name: 'a person with a Slack id counts as a Slack approver',
    config: `${SLACK_SECTION}admins: [{ name: alice, token: a-token }]\npeople: [{ name: Alice, slack: [U0ALICE], admins: [alice] }]\napprovals: { approvers: [S0OPS] }\n`,
    policy: 'version: "1"\ndefault: deny\ntools:\n  write_file: { action: require_approval, approval: { approvers: [Alice] } }\n',
    warns: [],
  },
  {
    name: 'with the console channel, a list of only Slack users leaves the calls to expire',
    config: 'admins: [{ name: alice, token: a-token }]\n',
    policy: 'version: "1"\ndefault: deny\ntools:\n  write_file: { action: require_approval, approval: { approvers: [U0ALICE] } }\n',
    warns: [
      /^tools\.write_file: no console admin could approve its held calls \(its approval\.approvers \(U0ALICE\) names no admin\) and approvals\.channel is console, so they can only expire/,
    ],
  },
  {
    name: 'an approver entry that names nobody',
    config: 'admins: [{ name: alice, token: a-token }]\n',
    policy: 'version: "1"\ndefault: deny\ntools:\n  write_file: { action: require_approval, approval: { approvers: [alice, alcie] } }\n',
    warns: [
      'tools.write_file.approval.approvers: "alcie" names no admin, person (config people), Slack user (U…, W…) or Slack user group (S…)',
    ],
  },
  {
    name: 'risk holds and on_tool_change are named together, once',
    config: SLACK_SECTION,
    policy: 'version: "1"\ndefault: allow\nrisk: { write: require_approval, execute: require_approval }\n',
    warns: [/^risk\.write, risk\.execute, on_tool_change: no Slack user could approve/],
  },
  {
    name: 'a policy that denies all it does not list holds nothing on a tool change',
    config: SLACK_SECTION,
    policy: 'version: "1"\ndefault: deny\n',
    warns: [],
  },
];

for (const c of approverCases) {
  test(`policy check warns of holds nobody in the channel could decide: ${c.name}`, async () => {
    const { dir } = configTree(`servers:\n  fs:\n    command: node\n    policy: policies/fs.yaml\n${c.config}`, {
      'policies/fs.yaml': c.policy,
    });
    const { code, stdout } = await cli(['policy', 'check'], dir);
    assert.equal(code, 0, `warnings do not fail the check\n${stdout}`);
    const warns = stdout
      .split('\n')
      .filter((l) => l.startsWith('warn  '))
      .map((l) => l.slice('warn  policies/fs.yaml: '.length));
    assert.equal(warns.length, c.warns.length, stdout);
    c.warns.forEach((expected, i) => (typeof expected === 'string' ? assert.equal(warns[i], expected) : assert.match(warns[i]!, expected)));
    // The same warnings with files named and a config given.
    const named = await cli(['policy', 'check', 'policies/fs.yaml', '-c', 'airlock.yaml'], dir);
    assert.equal(named.stdout.split('\n').filter((l) => l.startsWith('warn  ')).length, c.warns.length, named.stdout);
  });
}

test('policy check with files and no -c cannot know who approves, and warns of nothing', async () => {
  const { dir } = configTree(`servers:\n  fs:\n    command: node\n    policy: policies/fs.yaml\n${SLACK_SECTION}`, {
    'policies/fs.yaml': HELD_WRITE,
  });
  const { code, stdout } = await cli(['policy', 'check', 'policies/fs.yaml'], dir);
  assert.equal(code, 0, stdout);
  assert.doesNotMatch(stdout, /^warn/m);
});

interface NoteCase {
  name: string;
  policy: string;
  /** Each `note` line, after "note  p.yaml: ". */
  notes: (string | RegExp)[];
}

const noteCases: NoteCase[] = [
  {
    name: 'the rate_limit shorthand counts per session',
    policy: 'version: "1"\ndefault: deny\ntools:\n  export:\n    rate_limit: { max: 3, window: minute }\n',
    notes: [
      "tools.export.rate_limit: the rate_limit shorthand counts per session (as in PolicyLayer's format): an agent that reconnects gets a new session and so a new count, so it does not bound what one grant can do; limits with scope: grant count across its sessions (line 5)",
    ],
  },
  {
    name: 'a limit with scope: session, on a tool and on all_tools',
    policy:
      'version: "1"\ndefault: deny\nall_tools:\n  limits: [{ counter: all, window: minute, max: 100, scope: session }]\ntools:\n  export:\n    limits:\n      - { counter: exports, window: hour, max: 10 }\n      - { counter: bursts, window: 10s, max: 2, scope: session }\n',
    notes: [
      /^all_tools\.limits\[0\]\.scope: counter "all" counts per session: an agent that reconnects .*; scope: grant counts across its sessions \(line 4\)$/,
      /^tools\.export\.limits\[1\]\.scope: counter "bursts" counts per session: .* \(line 9\)$/,
    ],
  },
  {
    name: 'limits per grant and global are not noted',
    policy:
      'version: "1"\ndefault: deny\ntools:\n  export:\n    limits: [{ counter: a, window: 60, max: 1 }, { counter: b, window: 60, max: 1, scope: global }]\n',
    notes: [],
  },
];

for (const c of noteCases) {
  test(`policy check notes every limit a reconnect resets, without failing: ${c.name}`, async () => {
    const { dir } = configTree(undefined, { 'p.yaml': c.policy });
    const { code, stdout } = await cli(['policy', 'check', 'p.yaml'], dir);
    assert.equal(code, 0, `notes do not fail the check\n${stdout}`);
    assert.match(stdout, /^ok {4}p\.yaml$/m);
    const notes = stdout
      .split('\n')
      .filter((l) => l.startsWith('note  '))
      .map((l) => l.slice('note  p.yaml: '.length));
    assert.equal(notes.length, c.notes.length, stdout);
    c.notes.forEach((expected, i) => (typeof expected === 'string' ? assert.equal(notes[i], expected) : assert.match(notes[i]!, expected)));
    const json = JSON.parse((await cli(['policy', 'check', '--json', 'p.yaml'], dir)).stdout) as {
      ok: boolean;
      notes: { path: string; line?: number }[];
    }[];
    assert.deepEqual(
      json.map((r) => [r.ok, r.notes.length]),
      [[true, c.notes.length]],
    );
  });
}
