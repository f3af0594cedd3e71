import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { api, pendingFor } from '../support/approvals-api.js';
import { streamEvents, waitForEvents, type AuditRecord } from '../support/audit-stream.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { track } from '../support/held-call.js';
import { FIXTURE_SERVER, TSX_LOADER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';
import { assertRefusal, firstText } from '../support/refusal.js';
import { cli } from '../support/run-cli.js';

const AGENT = 'agent-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';
const BOB = 'bob-admin-token-0123456789';
const OLD = 'Writes a file in the sandbox.';
const NEW = 'Writes a file in the sandbox, and also mails it to an outside address.';

const policy = (onToolChange?: string) =>
  JSON.stringify({
    version: '1',
    default: 'deny',
    tools: { write_file: {}, rug_pull: {} },
    ...(onToolChange && { on_tool_change: onToolChange }),
  });
const fixture = (name: string, file: string) =>
  [
    `  ${name}:`,
    `    command: ${process.execPath}`,
    `    args: [--import, ${TSX_LOADER}, ${FIXTURE_SERVER}]`,
    '    env: { FIXTURE_RUG_PULL: "1" }',
    `    policy: ${file}`,
  ].join('\n');

let gateway: RunningGateway;
const clients = new Map<string, Client>();

before(async () => {
  gateway = await startGateway({
    config: [
      'servers:',
      fixture('fixture', 'fixture.json'),
      fixture('strict', 'strict.json'),
      `grants:\n  - { name: agent, token: ${AGENT} }`,
      `admins:\n  - { name: alice, token: ${ALICE} }\n  - { name: bob, token: ${BOB} }`,
      'approvals: { channel: console, timeout: 10m }',
      '',
    ].join('\n'),
    files: { 'fixture.json': policy(), 'strict.json': policy('deny') },
  });
  for (const server of ['fixture', 'strict']) clients.set(server, await gateway.connect(`/mcp/${server}`, AGENT));
});
after(() => gateway?.stop());

const client = (server: string) => clients.get(server)!;
const writeFile = (server: string, path: string) => client(server).callTool({ name: 'write_file', arguments: { path, content: 'x' } });
/** The events of the one call of write_file on `server` whose path was `path`. */
/** The events of the write_file call with this path, found by its first event (the one with arguments); none yet while that is still queued. */
function callEvents(events: AuditRecord[], server: string, path: string): AuditRecord[] {
  const first = events.find(
    (e) => e.server === server && e.tool === 'write_file' && (e.arguments as { path?: string } | undefined)?.path === path,
  );
  return first ? events.filter((e) => e.request_id === first.request_id) : [];
}
async function rugPull(server: string): Promise<void> {
  assert.equal(firstText(await client(server).callTool({ name: 'rug_pull' })), 'write_file changed');
  await until(
    `${server}'s write_file to be served with its new description`,
    async () => (await client(server).listTools()).tools.find((t) => t.name === 'write_file')?.description === NEW,
  );
}
const toolChanged = (events: AuditRecord[], server: string) => events.filter((e) => e.event === 'tool_changed' && e.server === server);

test('a tool whose description changes is audited once, as tool_changed, naming the server, the tool and both descriptions', async () => {
  assert.equal(firstText(await writeFile('fixture', 'before.txt')), 'wrote before.txt');
  await rugPull('fixture');
  const events = await waitForEvents(gateway.redis.url, 'a tool_changed event', (all) => toolChanged(all, 'fixture').length > 0);
  const [changed] = toolChanged(events, 'fixture');
  assert.equal(changed?.tool, 'write_file');
  assert.ok(
    changed?.detail?.includes(JSON.stringify(OLD)) && changed.detail.includes(JSON.stringify(NEW)),
    `the detail shows both descriptions: ${changed?.detail}`,
  );
  assert.equal(changed?.instance, `gateway@${hostname()}:${gateway.process.pid}`);
  // Listing again, the tool is still changed: that is not a new change.
  await client('fixture').listTools();
  assert.equal(toolChanged(await streamEvents(gateway.redis.url), 'fixture').length, 1);
});

test('the next call of the changed tool is audited under on_tool_change: held, approved by alice, executed', async () => {
  const call = track(writeFile('fixture', 'held.txt'));
  const request = await pendingFor(gateway.url, ALICE, 'write_file');
  assert.equal(
    (await api(gateway.url, `/api/approvals/${request.id}/approve`, ALICE, { method: 'POST', body: { reason: 'change reviewed' } })).status,
    200,
  );
  assert.equal(firstText(await call.promise), 'wrote held.txt');
  const events = await waitForEvents(gateway.redis.url, 'the held call executed', (all) =>
    all.some((e) => e.event === 'executed' && e.approval_id === request.id),
  );
  const steps = callEvents(events, 'fixture', 'held.txt');
  assert.deepEqual(
    steps.map((e) => e.event),
    ['approval_requested', 'approved', 'executed'],
  );
  const [requested, approved] = steps;
  assert.deepEqual([requested?.decision, requested?.rule, requested?.approval_id], ['require_approval', 'on_tool_change', request.id]);
  assert.ok(requested?.reason?.includes(JSON.stringify(NEW)), `the reviewer's reason shows the change: ${requested?.reason}`);
  assert.deepEqual(
    approved?.approvers?.map((a) => [a.id, a.via]),
    [['alice', 'console']],
  );
  assert.ok(requested!.seq > toolChanged(events, 'fixture')[0]!.seq, 'the change is on record before the call it affects');
});

test("`airlock tools accept` is audited as tools_accepted with the admin's name, and the next call is allowed by the tool's own rule", async () => {
  const accepted = await cli(['tools', 'accept', 'fixture', 'write_file', '-c', join(gateway.dir, 'airlock.yaml')], gateway.dir, {
    REDIS_URL: gateway.redis.url,
    AIRLOCK_ADMIN_TOKEN: ALICE,
  });
  assert.equal(accepted.code, 0, accepted.stderr);
  let events = await waitForEvents(gateway.redis.url, 'a tools_accepted event', (all) => all.some((e) => e.event === 'tools_accepted'));
  const accept = events.find((e) => e.event === 'tools_accepted')!;
  assert.deepEqual([accept.admin, accept.server, accept.tool], ['alice', 'fixture', undefined]);
  assert.match(accept.detail ?? '', /^write_file \(sha256 [0-9a-f]{64}\)$/);
  assert.match(accept.instance, new RegExp(`^cli@${hostname()}:${process.pid}$`));

  const call = track(writeFile('fixture', 'after-accept.txt'));
  await until('write_file to be answered without approval', () => call.settled);
  assert.equal(firstText(await call.promise), 'wrote after-accept.txt');
  events = await waitForEvents(
    gateway.redis.url,
    'the accepted call executed',
    (all) => callEvents(all, 'fixture', 'after-accept.txt').length === 2,
  );
  const steps = callEvents(events, 'fixture', 'after-accept.txt');
  assert.deepEqual(
    steps.map((e) => [e.event, e.rule]),
    [
      ['allowed', 'tools.write_file'],
      ['executed', undefined],
    ],
  );
  assert.ok(steps[0]!.seq > accept.seq);
});

test("under on_tool_change: deny, the changed tool's call is audited as denied by on_tool_change", async () => {
  assert.equal(firstText(await writeFile('strict', 'before.txt')), 'wrote before.txt');
  await rugPull('strict');
  assertRefusal(await writeFile('strict', 'after.txt'), 'POLICY DENIED', { decision: 'deny', rule: 'on_tool_change' });
  const events = await waitForEvents(gateway.redis.url, 'the denied call', (all) =>
    all.some((e) => e.event === 'denied' && e.server === 'strict'),
  );
  assert.equal(toolChanged(events, 'strict').length, 1);
  const [denied] = callEvents(events, 'strict', 'after.txt');
  assert.deepEqual([denied?.event, denied?.decision, denied?.rule], ['denied', 'deny', 'on_tool_change']);
  assert.ok(denied?.reason?.includes(JSON.stringify(NEW)), denied?.reason);
});

test("`airlock audit --approver` lists exactly each admin's approvals and accepts; `--decision tool_changed` lists both changes", async () => {
  const accepted = await cli(['tools', 'accept', 'strict', '-c', join(gateway.dir, 'airlock.yaml')], gateway.dir, {
    REDIS_URL: gateway.redis.url,
    AIRLOCK_ADMIN_TOKEN: BOB,
  });
  assert.equal(accepted.code, 0, accepted.stderr);
  const run = (...argv: string[]) =>
    cli(['audit', ...argv, '--json', '-c', join(gateway.dir, 'airlock.yaml')], gateway.dir, { REDIS_URL: gateway.redis.url });
  const eventsOf = async (...argv: string[]) => {
    const { code, stdout, stderr } = await run(...argv);
    assert.equal(code, 0, stderr);
    return (JSON.parse(stdout) as { events: AuditRecord[] }).events;
  };
  assert.deepEqual(
    (await eventsOf('--approver', 'alice')).map((e) => [e.event, e.server]),
    [
      ['approved', 'fixture'],
      ['tools_accepted', 'fixture'],
    ],
  );
  const byBob = await eventsOf('--approver', 'bob');
  assert.deepEqual(
    byBob.map((e) => [e.event, e.server, e.admin]),
    [['tools_accepted', 'strict', 'bob']],
  );
  assert.match(byBob[0]?.detail ?? '', /write_file \(sha256 [0-9a-f]{64}\)/, 'accepting every tool of a server names each');
  assert.deepEqual(
    (await eventsOf('--decision', 'tool_changed')).map((e) => [e.server, e.tool]),
    [
      ['fixture', 'write_file'],
      ['strict', 'write_file'],
    ],
  );
});
