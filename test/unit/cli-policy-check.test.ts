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
  { name: 'an unknown action', text: 'version: "1"\ndefault: deny\ntools:\n  x: { action: alow }\n', says: ['tools.x.action: expected one of "allow", "deny", "require_approval", got "alow", did you mean "allow"? (line 4)'] },
  { name: 'an unknown op', text: 'version: "1"\ndefault: deny\ntools:\n  x:\n    deny_if: [{ path: args.a, op: greater, value: 1 }]\n', says: ['tools.x.deny_if[0].op: expected one of'] },
  { name: 'a max that is a word', text: 'version: "1"\ndefault: deny\ntools:\n  x:\n    limits: [{ counter: c, window: minute, max: ten }]\n', says: ['tools.x.limits[0].max: expected a number, got "ten" (line 5)'] },
  { name: 'a negative window', text: 'version: "1"\ndefault: deny\nall_tools:\n  limits: [{ counter: c, window: -5, max: 1 }]\n', says: ['all_tools.limits[0].window: must be a positive number of seconds, got -5'] },
  { name: 'a zero window', text: 'version: "1"\ndefault: deny\nall_tools:\n  limits: [{ counter: c, window: 0s, max: 1 }]\n', says: ['all_tools.limits[0].window: must be longer than zero, got "0s"'] },
  { name: 'a regex that does not compile', text: 'version: "1"\ndefault: deny\ntools:\n  x:\n    deny_if: [{ path: args.a, op: regex, value: "(" }]\n', says: ['tools.x.deny_if[0].value: invalid regex: Invalid regular expression: /(/: Unterminated group'] },
  { name: 'a regex that could hang the process', text: 'version: "1"\ndefault: deny\ntools:\n  x:\n    deny_if: [{ path: args.a, op: regex, value: "^(a+)+\\\\1$" }]\n', says: ['tools.x.deny_if[0].value: regex "^(a+)+\\\\1$" is refused: it may backtrack catastrophically'] },
  { name: 'an invalid JSON Schema', text: 'version: "1"\ndefault: deny\ntools:\n  x:\n    schema: { type: strng }\n', says: ['tools.x.schema: invalid JSON Schema: schema is invalid: data/type must be equal to one of the allowed values'] },
  { name: 'a version other than "1"', text: 'version: "2"\ndefault: deny\n', says: ['version: expected one of "1", 1, got "2" (line 1)'] },
  { name: 'a duplicated key in YAML', text: 'version: "1"\ndefault: deny\ntools:\n  x: {}\n  x: { action: deny }\n', says: ['invalid YAML: Map keys must be unique (line 5)'] },
  { name: 'a glob that can never match', text: 'version: "1"\ndefault: deny\ntools:\n  "*": {}\n  "delete_*": { action: deny }\n', says: ['tools.delete_*: this glob can never match: the earlier glob "*" matches every tool first (line 5)'] },
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
    c.says.forEach((says, i) => assert.ok(errors[i]!.startsWith(`error ${name}: ${says}`), `${errors[i]}\n  should start with\nerror ${name}: ${says}`));
    assert.match(stdout, /1 file checked, 1 with problems$/);
  });
}

test('policy check reports every file, valid or not, and exits 1 when any has a problem', async () => {
  const { dir } = configTree(undefined, { 'rules/a.yaml': GOOD, 'rules/b.json': '{"version":"1","default":"maybe"}', 'rules/notes.txt': 'not a policy' });
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
  assert.deepEqual(results.map((r) => [r.file, r.ok]), [['ok.yaml', true], ['bad.yaml', false]]);
  assert.deepEqual(results[1]!.problems.map((p) => [p.path, p.line]), [['hide[0]', 3]]);
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
  const { dir } = configTree('servers:\n  fs:\n    command: node\n    policy: policies/fs.yaml\ngrants:\n  - name: ci\n    token: "${AIRLOCK_TOKEN_CI}"\n', { 'policies/fs.yaml': GOOD });
  const { code, stdout } = await cli(['policy', 'check'], dir, {});
  assert.equal(code, 1);
  assert.match(stdout, /^error airlock\.yaml: grants\[0\]\.token: environment variable AIRLOCK_TOKEN_CI is not set/m);
  const withVar = await cli(['policy', 'check'], dir, { AIRLOCK_TOKEN_CI: 'secret' });
  assert.equal(withVar.code, 0, withVar.stdout);
});

test('a broken policy referenced by the config fails the check', async () => {
  const { dir } = configTree('servers:\n  fs:\n    command: node\n    policy: policies/fs.yaml\n', { 'policies/fs.yaml': 'version: "1"\n' });
  const { code, stdout } = await cli(['policy', 'check'], dir);
  assert.equal(code, 1);
  assert.match(stdout, /^error policies\/fs\.yaml: default: required/m);
});
