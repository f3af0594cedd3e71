import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Tool } from '@modelcontextprotocol/client';
import { classifyTool, starterPolicy } from '../../src/inventory/index.js';
import { evaluate, type CompiledPolicy, type Decision, type RiskClass } from '../../src/policy/index.js';
import { policyFrom } from '../support/policy.js';

const FIXTURES = new URL('../fixtures/tool-lists/', import.meta.url);
const servers = readdirSync(FIXTURES).map((file) => file.replace(/\.json$/, ''));

function toolList(server: string): Tool[] {
  return (JSON.parse(readFileSync(new URL(`${server}.json`, FIXTURES), 'utf8')) as { tools: Tool[] }).tools;
}

/** The generated text through the real parser and compiler, as `policy check` and the gateway load it. */
function load(text: string): CompiledPolicy {
  return policyFrom(text, 'starter.yaml');
}

function tool(name: string): Tool {
  return { name, inputSchema: { type: 'object' } };
}

const ACTION_FOR: Record<RiskClass, Decision['action']> = {
  read: 'allow',
  write: 'require_approval',
  execute: 'require_approval',
  unknown: 'require_approval',
  destructive: 'deny',
};

for (const server of servers) {
  test(`${server}: the starter policy loads, and each tool gets the action of its class`, () => {
    const tools = toolList(server);
    const policy = load(starterPolicy(server, tools));
    for (const t of tools) {
      const decision = evaluate(policy, { tool: t.name });
      assert.equal(decision.action, ACTION_FOR[classifyTool(t).class], `${t.name}: ${decision.reason}`);
    }
    assert.equal(evaluate(policy, { tool: 'a_tool_the_server_adds_later' }).action, 'deny');
  });
}

test('filesystem: read_text_file is allowed, write_file is held under a per-grant limit, an unlisted tool is denied', () => {
  const policy = load(starterPolicy('filesystem', toolList('filesystem')));
  assert.equal(evaluate(policy, { tool: 'read_text_file' }).action, 'allow');
  const write = evaluate(policy, { tool: 'write_file' });
  assert.equal(write.action, 'require_approval');
  assert.match(write.reason, /write tool, high risk \(verb "write" in the name: write\)/);
  assert.deepEqual(
    write.limits.map(({ counter, max, window, scope, rule }) => ({ counter, max, window, scope, rule })),
    [{ counter: 'write_file_rate', max: 10, window: 'minute', scope: 'grant', rule: 'tools.write_file.limits[0]' }],
  );
  assert.equal(evaluate(policy, { tool: 'delete_everything' }).action, 'deny');
});

for (const server of servers) {
  test(`${server}: the starter policy writes no session-scoped limit, so reconnecting does not reset a count`, () => {
    const text = starterPolicy(server, toolList(server));
    assert.doesNotMatch(text, /rate_limit|scope: session/);
    const policy = load(text);
    const counters = new Set<string>();
    for (const t of toolList(server)) {
      for (const l of evaluate(policy, { tool: t.name }).limits) {
        assert.equal(l.scope, 'grant', `${t.name}: ${JSON.stringify(l)}`);
        assert.ok(!counters.has(l.counter), `${l.counter} is one tool's own`);
        counters.add(l.counter);
      }
    }
  });
}

test('a name a counter cannot hold gets a counter of safe characters and a digest, and a name made to collide with it gets its own', () => {
  const first = load(starterPolicy('s', [tool('write:"notes"'), tool(`write_x${'y'.repeat(120)}`)]));
  const counter = evaluate(first, { tool: 'write:"notes"' }).limits[0]!.counter;
  assert.match(counter, /^write__notes_\.[0-9a-f]{12}_rate$/);
  assert.match(evaluate(first, { tool: `write_x${'y'.repeat(120)}` }).limits[0]?.counter ?? '', /^write_xy+\.[0-9a-f]{12}_rate$/);
  // A server can compute that digest and name a tool after it: the two must not share a count.
  const twin = counter.replace(/_rate$/, '');
  const policy = load(starterPolicy('s', [tool(twin), tool('write:"notes"')]));
  const counters = [twin, 'write:"notes"'].map((name) => evaluate(policy, { tool: name }).limits[0]?.counter);
  assert.deepEqual(counters, [`${twin}_rate`, `${twin}_rate.2`]);
});

test('memory: a destructive tool is denied with a reason that says why', () => {
  const decision = evaluate(load(starterPolicy('memory', toolList('memory'))), { tool: 'delete_entities' });
  assert.equal(decision.action, 'deny');
  assert.match(decision.reason, /^Denied by the starter policy: a destructive tool, high risk \(verb "delete" in the name: destructive\)/);
});

test('execute and unknown tools are held too', () => {
  const policy = load(starterPolicy('s', [tool('start_dicom_export_job'), tool('frobnicate')]));
  assert.equal(evaluate(policy, { tool: 'start_dicom_export_job' }).action, 'require_approval');
  assert.equal(evaluate(policy, { tool: 'frobnicate' }).action, 'require_approval');
  assert.equal(evaluate(policy, { tool: 'frobnicate' }).limits[0]?.max, 5);
});

test('each rule is preceded by a comment with the class, level and evidence', () => {
  const lines = starterPolicy('filesystem', toolList('filesystem')).split('\n');
  const before = (key: string) => lines[lines.findIndex((line) => line.startsWith(`  ${key}:`)) - 1];
  assert.equal(
    before('read_text_file'),
    '  # read, low: verb "read" in the name: read; annotation readOnlyHint: true; annotation openWorldHint: false',
  );
  assert.match(
    before('write_file') ?? '',
    /^ {2}# write, high: verb "write" in the name: write; .*annotation destructiveHint: true raises the level to high/,
  );
  assert.match(lines[0] ?? '', /^# Starter policy for "filesystem"/);
});

test('the document is version "1" with default deny', () => {
  const policy = load(starterPolicy('filesystem', toolList('filesystem')));
  assert.equal(policy.document.version, '1');
  assert.equal(policy.default, 'deny');
});

test('names with quotes, colons, YAML indicators or the look of a number are quoted, and keep their exact name', () => {
  const names = [
    `get:"x"#'y'`,
    'list:{}',
    '-get',
    '!!str',
    '%TAG',
    '\\u0041',
    "read'n'",
    '&anchor',
    'get_[a]{b}',
    '__proto__x',
    'true',
    'null',
    '~',
    '123',
    '1e3',
    '0x1F',
    '.inf',
    'yes',
    '<<',
  ];
  const policy = load(starterPolicy('s', names.map(tool)));
  assert.deepEqual([...policy.exact.keys()].sort(), [...names].sort());
  for (const name of names) assert.equal(evaluate(policy, { tool: name }).action, ACTION_FOR[classifyTool(tool(name)).class], name);
});

test('names a policy key cannot hold are left out, denied, and named safely in a comment', () => {
  const names = ['delete\nall: {}', 'get everything', 'get*', '', 'list\u202eexe.txt', 'x'.repeat(129), 'read_file'];
  const text = starterPolicy('s\nversion: 2', names.map(tool));
  const policy = load(text);
  assert.deepEqual([...policy.exact.keys()], ['read_file']);
  assert.equal(policy.globs.length, 0);
  assert.equal(evaluate(policy, { tool: 'get_secrets' }).action, 'deny', 'a tool named "get*" must not become a glob that allows get_*');
  assert.ok(text.includes('# - "delete\\nall: {}" contains whitespace'));
  assert.ok(text.includes('# - "list\\u202eexe.txt" contains invisible characters'));
  assert.ok(!text.includes('\u202e'), 'no raw bidirectional override in the file');
  assert.ok(
    text.split('\n').every((line) => line === '' || line.startsWith('#') || /^(version|default|tools):|^ {2}/.test(line)),
    text,
  );
});

test('a duplicated tool name is listed once, so the file still loads', () => {
  const policy = load(starterPolicy('s', [tool('get_a'), tool('get_a')]));
  assert.deepEqual([...policy.exact.keys()], ['get_a']);
});

test('an empty tool list gives a policy that denies everything', () => {
  const policy = load(starterPolicy('s', []));
  assert.equal(evaluate(policy, { tool: 'anything' }).action, 'deny');
});

test('the classifier is a parameter: the policy follows whatever class it gives', () => {
  const policy = load(starterPolicy('s', [tool('read_file')], () => ({ class: 'destructive', level: 'critical', evidence: ['said so'] })));
  const decision = evaluate(policy, { tool: 'read_file' });
  assert.equal(decision.action, 'deny');
  assert.match(decision.reason, /critical risk \(said so\)/);
});
