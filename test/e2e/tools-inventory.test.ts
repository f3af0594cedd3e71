import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { evaluate, loadPolicyFile } from '../../src/policy/index.js';
import { api, pendingFor } from '../support/approvals-api.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { FILESYSTEM_SERVER } from '../support/mcp-servers.js';
import { assertRefusal } from '../support/refusal.js';
import { airlock } from '../support/run-cli.js';

const ALICE = 'alice-admin-token-0123456789';
const AGENT = 'agent-token-0123456789';

// Read tools follow their class; read_text_file is listed, and only the grant `agent` may use it.
const POLICY = {
  version: '1',
  default: 'deny',
  risk: { read: 'allow', write: 'require_approval' },
  tools: { read_text_file: { require: [{ path: 'grant', op: 'eq', value: 'agent' }] } },
};

interface Row {
  name: string;
  class: string;
  level: string;
  evidence: string[];
  decision: string;
  rule: string;
  changed: boolean | null;
  accepted_by: string | null;
}
type Inventory = { servers: { server: string; tools?: Row[]; error?: string }[]; pins_error?: string };

let gateway: RunningGateway;
/** server-filesystem's own tools/list, read by an SDK client without Airlock. */
let direct: Tool[];

before(async () => {
  gateway = await startGateway({
    config: [
      'servers:',
      '  filesystem:',
      `    command: ${process.execPath}`,
      `    args: [${FILESYSTEM_SERVER}, ./sandbox]`,
      '    policy: policies/filesystem.json',
      'grants:',
      `  - { name: agent, token: ${AGENT} }`,
      '  - { name: other, token: other-token-0123456789 }',
      'admins:',
      `  - { name: alice, token: ${ALICE} }`,
      '',
    ].join('\n'),
    files: { 'policies/filesystem.json': JSON.stringify(POLICY), 'sandbox/hello.txt': 'hello' },
  });
  const client = new Client({ name: 'direct', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({ command: process.execPath, args: [FILESYSTEM_SERVER, join(gateway.dir, 'sandbox')], stderr: 'ignore' }),
  );
  direct = (await client.listTools()).tools;
  await client.close();
});
after(() => gateway?.stop());

const cliEnv = () => ({ ...process.env, REDIS_URL: gateway.redis.url, AIRLOCK_ADMIN_TOKEN: ALICE });
const run = (...args: string[]) => airlock([...args, '-c', join(gateway.dir, 'airlock.yaml')], gateway.dir, cliEnv());
const names = (tools: { name: string }[]) => tools.map((t) => t.name).sort();
const readOnly = () => direct.filter((t) => t.annotations?.readOnlyHint === true);

/** Every tool's class and level against what the server itself declares. */
function assertMatchesAnnotations(rows: Row[]): void {
  assert.deepEqual(names(rows), names(direct), 'every tool of the server is listed, and nothing else');
  assert.ok(
    direct.length >= 10 && readOnly().length >= 5,
    `server-filesystem declares ${direct.length} tools, ${readOnly().length} read-only`,
  );
  for (const tool of direct) {
    const row = rows.find((r) => r.name === tool.name)!;
    const hints = tool.annotations ?? {};
    const seen = `${tool.name} ${JSON.stringify(hints)} → ${JSON.stringify(row)}`;
    if (hints.readOnlyHint === true) assert.equal(row.class, 'read', seen);
    if (hints.readOnlyHint === false) assert.ok(['write', 'execute', 'destructive'].includes(row.class), seen);
    if (hints.destructiveHint === true) assert.ok(['high', 'critical'].includes(row.level), `a destructiveHint raises the level: ${seen}`);
    if (hints.readOnlyHint !== undefined) assert.ok(row.evidence.includes(`annotation readOnlyHint: ${String(hints.readOnlyHint)}`), seen);
  }
  for (const name of ['write_file', 'edit_file']) assert.notEqual(rows.find((r) => r.name === name)?.class, 'read', name);
}

test('airlock tools filesystem --json lists every tool the server declares, classed as its annotations say, unchanged since first seen', async () => {
  const { code, stdout, stderr } = await run('tools', 'filesystem', '--json', '--grant', 'agent');
  assert.equal(code, 0, stderr);
  const inventory = JSON.parse(stdout) as Inventory;
  assert.equal(inventory.pins_error, undefined);
  assert.deepEqual(
    inventory.servers.map((s) => s.server),
    ['filesystem'],
  );
  const rows = inventory.servers[0]!.tools!;
  assertMatchesAnnotations(rows);
  // The gateway pinned every definition when it started; the CLI reads those pins from the same Redis.
  for (const row of rows) assert.deepEqual([row.name, row.changed, row.accepted_by], [row.name, false, 'first seen']);
  const decision = (name: string) => rows.find((r) => r.name === name);
  assert.deepEqual([decision('read_text_file')?.decision, decision('read_text_file')?.rule], ['allow', 'tools.read_text_file']);
  assert.deepEqual([decision('list_directory')?.decision, decision('list_directory')?.rule], ['allow', 'risk.read']);
  assert.deepEqual([decision('write_file')?.decision, decision('write_file')?.rule], ['require_approval', 'risk.write']);
});

test('policy init writes a starter policy that policy check accepts, allows read_text_file, holds write_file and denies nothing readable', async () => {
  const init = await run('policy', 'init', 'filesystem', '-o', 'starter.yaml');
  assert.equal(init.code, 0, init.stderr);
  assert.match(init.stdout, /wrote .*starter\.yaml/);
  const file = join(gateway.dir, 'starter.yaml');

  const check = await airlock(['policy', 'check', file], gateway.dir, cliEnv());
  assert.equal(check.code, 0, check.stdout + check.stderr);

  const policy = loadPolicyFile(file);
  const decide = (tool: string) => evaluate(policy, { tool, grant: 'agent' });
  assert.deepEqual([decide('read_text_file').action, decide('read_text_file').rule], ['allow', 'tools.read_text_file']);
  const write = decide('write_file');
  assert.deepEqual([write.action, write.rule], ['require_approval', 'tools.write_file']);
  assert.ok(write.limits.length > 0, 'a held tool is rate limited');
  for (const tool of readOnly()) assert.equal(decide(tool.name).action, 'allow', `${tool.name} is read-only and must be allowed`);
  // Every tool is listed by name, with its class in a comment; anything else is denied by default.
  const text = readFileSync(file, 'utf8');
  for (const tool of direct) assert.match(text, new RegExp(`^ {2}${tool.name}:`, 'm'), `${tool.name} is listed`);
  assert.match(text, /^ *# write, high: .*annotation readOnlyHint: false/m);
  assert.equal(decide('a_tool_added_later').action, 'deny');
});

test('policy init writes per-grant limits: a gateway on the written policy refuses the 4th call of a tool limited to 3, each call from a new session of the grant', async () => {
  const init = await run('policy', 'init', 'filesystem', '-o', 'per-grant.yaml');
  assert.equal(init.code, 0, init.stderr);
  const text = readFileSync(join(gateway.dir, 'per-grant.yaml'), 'utf8');
  assert.doesNotMatch(text, /rate_limit|scope: session/, 'no limit a reconnect resets');
  const check = await airlock(['policy', 'check', join(gateway.dir, 'per-grant.yaml')], gateway.dir, cliEnv());
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.doesNotMatch(check.stdout, /^note/m, 'policy check notes no session-scoped limit');

  // The written policy, with its write tools limited to 3 calls a minute instead of 10.
  assert.match(text, /^ {2}write_file:\n(?: {4}.*\n)*? {6}- counter: write_file_rate\n(?: {8}.*\n)*? {8}max: 10\n {8}scope: grant$/m);
  const limited = text.replaceAll('max: 10\n', 'max: 3\n');
  const second = await startGateway({
    config: [
      'servers:',
      '  filesystem:',
      `    command: ${process.execPath}`,
      `    args: [${FILESYSTEM_SERVER}, ./sandbox]`,
      '    policy: policies/starter.yaml',
      'grants:',
      `  - { name: agent, token: ${AGENT} }`,
      'admins:',
      `  - { name: alice, token: ${ALICE} }`,
      '',
    ].join('\n'),
    files: { 'policies/starter.yaml': limited, 'sandbox/hello.txt': 'hello' },
  });
  try {
    const write = async (n: number) => {
      const client = await second.connect('/mcp/filesystem', AGENT);
      try {
        return await client.callTool({
          name: 'write_file',
          arguments: { path: join(second.dir, 'sandbox', `note-${n}.txt`), content: `call ${n}` },
        });
      } finally {
        await client.close();
      }
    };
    for (let n = 1; n <= 3; n++) {
      const call = write(n);
      const request = await pendingFor(second.url, ALICE, 'write_file');
      const approved = await api(second.url, `/api/approvals/${request.id}/approve`, ALICE, { method: 'POST' });
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      const result = await call;
      assert.notEqual(result.isError, true, `call ${n}: ${JSON.stringify(result)}`);
      assert.equal(readFileSync(join(second.dir, 'sandbox', `note-${n}.txt`), 'utf8'), `call ${n}`);
    }
    const fourth = await write(4);
    assertRefusal(fourth, 'RATE LIMITED', {
      decision: 'rate_limited',
      counter: 'write_file_rate',
      scope: 'grant',
      max: 3,
      tool: 'write_file',
    });
    assert.equal(statSync(join(second.dir, 'sandbox', 'note-4.txt'), { throwIfNoEntry: false }), undefined, 'the refused call never ran');
    const { body } = await api(second.url, '/api/approvals?tool=write_file&state=pending', ALICE);
    assert.deepEqual(body.approvals, [], 'a refused call opens no approval request');
  } finally {
    await second.stop();
  }
});

test('policy init never overwrites: a second run on the same -o file exits 1 and leaves it unchanged', async () => {
  const file = join(gateway.dir, 'kept.yaml');
  const first = await run('policy', 'init', 'filesystem', '-o', 'kept.yaml');
  assert.equal(first.code, 0, first.stderr);
  const before = { text: readFileSync(file, 'utf8'), mtime: statSync(file).mtimeMs };
  const second = await run('policy', 'init', 'filesystem', '-o', 'kept.yaml');
  assert.equal(second.code, 1, second.stdout + second.stderr);
  assert.match(second.stderr, /kept\.yaml exists/);
  assert.deepEqual({ text: readFileSync(file, 'utf8'), mtime: statSync(file).mtimeMs }, before);
});

test('policy init for a server that is not configured exits 1 and suggests the closest name', async () => {
  const { code, stdout, stderr } = await run('policy', 'init', 'filesytem');
  assert.equal(code, 1, stdout + stderr);
  assert.match(stderr, /unknown server "filesytem", did you mean "filesystem"\?/);
  assert.equal(stdout, '');
});

test('GET /api/tools through the running gateway answers the same tools and classes as the CLI, with each decision for the grant', async () => {
  const cliRows = (JSON.parse((await run('tools', 'filesystem', '--json', '--grant', 'agent')).stdout) as Inventory).servers[0]!.tools!;
  const { status, body } = await api(gateway.url, '/api/tools?server=filesystem&grant=agent', ALICE);
  assert.equal(status, 200, JSON.stringify(body));
  const servers = body.servers as { server: string; tools: Row[] }[];
  assert.deepEqual(
    servers.map((s) => s.server),
    ['filesystem'],
  );
  const rows = servers[0]!.tools;
  assertMatchesAnnotations(rows);
  const view = (r: Row) => ({ name: r.name, class: r.class, level: r.level, decision: r.decision, rule: r.rule, changed: r.changed });
  assert.deepEqual(
    rows.map(view).sort((a, b) => a.name.localeCompare(b.name)),
    cliRows.map(view).sort((a, b) => a.name.localeCompare(b.name)),
  );

  // The decision is today's for the grant asked about: read_text_file is only for `agent`.
  const other = await api(gateway.url, '/api/tools?server=filesystem&grant=other', ALICE);
  const otherRows = (other.body.servers as { tools: Row[] }[])[0]!.tools;
  assert.equal(otherRows.find((r) => r.name === 'read_text_file')?.decision, 'deny');
  assert.equal(otherRows.find((r) => r.name === 'list_directory')?.decision, 'allow');
});

test('GET /api/tools refuses a caller without an admin token (401) and answers 404 for an unknown server', async () => {
  for (const token of [undefined, 'agent-token-0123456789', 'not-a-token']) {
    const { status, body } = await api(gateway.url, '/api/tools?server=filesystem', token);
    assert.equal(status, 401, `token ${String(token)}: ${JSON.stringify(body)}`);
    assert.equal(body.servers, undefined);
  }
  const unknown = await api(gateway.url, '/api/tools?server=filesytem', ALICE);
  assert.equal(unknown.status, 404, JSON.stringify(unknown.body));
  assert.equal(unknown.body.error?.code, 'AIRLOCK_UNKNOWN_SERVER');
  assert.match(unknown.body.error!.message, /filesytem/);
});
