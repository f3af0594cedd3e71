import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { api, pendingFor } from '../support/approvals-api.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { FILESYSTEM_SERVER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';
import { assertRefusal, firstText } from '../support/refusal.js';
import { airlock } from '../support/run-cli.js';

const AGENT = 'agent-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';

const policy = (timeout?: string) =>
  JSON.stringify({
    version: '1',
    default: 'deny',
    tools: {
      list_allowed_directories: {},
      write_file: { action: 'require_approval', reason: 'Writing files needs a person', ...(timeout && { approval: { timeout } }) },
    },
  });

const server = (name: string, file: string) =>
  `  ${name}:\n    command: ${process.execPath}\n    args: [${FILESYSTEM_SERVER}, ./sandbox]\n    policy: ${file}\n`;

let gateway: RunningGateway;
let client: Client;
let sandbox: string;

before(async () => {
  gateway = await startGateway({
    config: [
      'servers:',
      server('filesystem', 'policies/filesystem.json').trimEnd(),
      // The same folder behind a policy whose approvals expire after 2 s.
      server('quick', 'policies/quick.json').trimEnd(),
      'grants:',
      `  - { name: agent, token: ${AGENT} }`,
      'admins:',
      `  - { name: alice, token: ${ALICE} }`,
      'approvals: { channel: console, timeout: 10m }',
      '',
    ].join('\n'),
    files: { 'policies/filesystem.json': policy(), 'policies/quick.json': policy('2s'), 'sandbox/.keep': '' },
  });
  sandbox = join(gateway.dir, 'sandbox');
  mkdirSync(sandbox, { recursive: true });
  client = await gateway.connect('/mcp/filesystem', AGENT);
});
after(() => gateway?.stop());

const cliEnv = () => ({ ...process.env, REDIS_URL: gateway.redis.url, AIRLOCK_ADMIN_TOKEN: ALICE });
const approvalsCli = (...args: string[]) => airlock(['approvals', ...args, '-c', join(gateway.dir, 'airlock.yaml')], gateway.dir, cliEnv());

test('write_file is held until an admin approves it with the CLI; then the file exists and the agent gets the server result', async () => {
  const path = join(sandbox, 'approved.txt');
  const call = client.callTool({ name: 'write_file', arguments: { path, content: 'written after approval' } });
  await sleep(2_000);
  assert.equal(existsSync(path), false, 'nothing is written while the call is held');

  const listed = await approvalsCli('list', '--json');
  assert.equal(listed.code, 0, listed.stderr);
  const pending = (JSON.parse(listed.stdout) as { approvals: { id: string; tool: string; state: string; grant: string; reason: string }[] })
    .approvals;
  assert.equal(pending.length, 1);
  const [request] = pending;
  assert.deepEqual(
    { tool: request!.tool, state: request!.state, grant: request!.grant, reason: request!.reason },
    { tool: 'write_file', state: 'pending', grant: 'agent', reason: 'Writing files needs a person' },
  );

  const shown = await approvalsCli('show', request!.id);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /"content": "written after approval"/);
  assert.match(shown.stdout, /^call: +filesystem\/write_file$/m);

  const approved = await approvalsCli('approve', request!.id, '--reason', 'looks fine');
  assert.equal(approved.code, 0, approved.stderr);
  assert.match(approved.stdout, new RegExp(`^${request!.id} approved`));

  const result = await call;
  assert.notEqual(result.isError, true, firstText(result));
  assert.match(firstText(result), /Successfully wrote/);
  assert.equal(readFileSync(path, 'utf8'), 'written after approval');
  const meta = (result._meta as Record<string, Record<string, unknown>>)['airlock/decision'];
  assert.equal(meta?.decision, 'approved');
  assert.equal(meta?.approval_id, request!.id);
  assert.equal(meta?.approved_by, 'alice');

  const after = await approvalsCli('show', request!.id, '--json');
  const approval = (JSON.parse(after.stdout) as { approval: { state: string; decided_by: string; execution: { result: string } } })
    .approval;
  assert.deepEqual([approval.state, approval.decided_by, approval.execution.result], ['approved', 'alice', 'ok']);
  const again = await approvalsCli('approve', request!.id);
  assert.equal(again.code, 1, 'a second decision changes nothing');
  assert.match(again.stderr, /already approved by alice at /);
});

test('a rejected call is refused with who rejected it and why, and no file is written', async () => {
  const path = join(sandbox, 'rejected.txt');
  const call = client.callTool({ name: 'write_file', arguments: { path, content: 'never' } });
  const request = await pendingFor(gateway.url, ALICE, 'write_file');
  const rejected = await approvalsCli('reject', request.id, '--reason', 'not in the change window');
  assert.equal(rejected.code, 0, rejected.stderr);
  const { text, meta } = assertRefusal(await call, 'APPROVAL REJECTED', {
    decision: 'rejected',
    approval_id: request.id,
    decided_by: 'alice',
    server: 'filesystem',
    tool: 'write_file',
  });
  assert.equal(text, '[APPROVAL REJECTED] by alice: not in the change window');
  assert.equal(meta.rule, 'tools.write_file');
  assert.equal(existsSync(path), false);
});

test('nobody decides within the rule timeout (2s): [APPROVAL EXPIRED], the request is expired, no file', async () => {
  const quick = await gateway.connect('/mcp/quick', AGENT);
  const path = join(sandbox, 'expired.txt');
  const started = Date.now();
  const { text, meta } = assertRefusal(
    await quick.callTool({ name: 'write_file', arguments: { path, content: 'never' } }),
    'APPROVAL EXPIRED',
    { decision: 'expired', server: 'quick' },
  );
  const waited = Date.now() - started;
  assert.ok(waited >= 1_900, `expired after ${waited} ms, before the rule timeout`);
  assert.match(text, /^\[APPROVAL EXPIRED\] after 2 s/);
  assert.equal(existsSync(path), false);
  const { body } = await api(gateway.url, `/api/approvals/${String(meta.approval_id)}`, ALICE);
  assert.equal(body.approval?.state, 'expired');
  await quick.close();
});

test('the agent cancelling a held call withdraws the request, and nothing is written', async () => {
  const path = join(sandbox, 'cancelled.txt');
  const controller = new AbortController();
  const call = client.callTool({ name: 'write_file', arguments: { path, content: 'never' } }, undefined, { signal: controller.signal });
  const request = await pendingFor(gateway.url, ALICE, 'write_file');
  controller.abort('changed my mind');
  await assert.rejects(call);
  await until(
    'the request to be withdrawn',
    async () => (await api(gateway.url, `/api/approvals/${request.id}`, ALICE)).body.approval?.state === 'withdrawn',
  );
  const { body } = await api(gateway.url, `/api/approvals/${request.id}`, ALICE);
  assert.match(String(body.approval?.decision_reason), /cancelled/);
  const late = await api(gateway.url, `/api/approvals/${request.id}/approve`, ALICE, { method: 'POST' });
  assert.equal(late.status, 409);
  assert.match(late.body.error!.message, /already withdrawn/);
  await sleep(300);
  assert.equal(existsSync(path), false);
});

test('airlock approvals show and list print invisible characters escaped and say so; --json and /api/approvals keep the raw values and flag them', async () => {
  const path = join(sandbox, 'report\u202Efdp.exe');
  const content = 'echo safe\rrm -rf / \u001B[2J typed \\u202E';
  const call = client.callTool({ name: 'write_file', arguments: { path, content } });
  const request = await pendingFor(gateway.url, ALICE, 'write_file');

  const shown = await approvalsCli('show', request.id);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(
    shown.stdout,
    /^note: +This call contains invisible or direction-changing characters, shown as \\uXXXX \(in arguments\); --json gives the values as they are$/m,
  );
  assert.ok(shown.stdout.includes(`"path": "${join(sandbox, 'report\\u202Efdp.exe')}"`), shown.stdout);
  assert.ok(
    shown.stdout.includes('"content": "echo safe\\rrm -rf / \\u001b[2J typed \\\\u202E"'),
    'JSON escapes, with the typed \\u202E told apart',
  );
  for (const raw of ['\u202E', '\u001B', '\r'])
    assert.ok(!shown.stdout.includes(raw), `${JSON.stringify(raw)} does not reach the terminal raw`);

  const listed = await approvalsCli('list');
  assert.match(listed.stdout, new RegExp(`^${request.id} .*\\[invisible characters, shown as \\\\uXXXX\\]$`, 'm'));

  const json = JSON.parse((await approvalsCli('show', request.id, '--json')).stdout) as {
    approval: { arguments: { path: string; content: string }; invisible_characters: string[] };
  };
  assert.deepEqual(json.approval.arguments, { path, content });
  assert.deepEqual(json.approval.invisible_characters, ['arguments']);
  const { body } = await api(gateway.url, '/api/approvals', ALICE);
  assert.deepEqual(
    (body.approvals as { id: string; invisible_characters: string[] }[]).find((a) => a.id === request.id)?.invisible_characters,
    ['arguments'],
    'the list flags it too, without the arguments',
  );

  assert.equal((await approvalsCli('reject', request.id)).code, 0);
  assertRefusal(await call, 'APPROVAL REJECTED', { decision: 'rejected', approval_id: request.id });
});
