import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { api, pendingFor } from '../support/approvals-api.js';
import { streamEvents, stepsOf, waitForEvents, type AuditRecord } from '../support/audit-stream.js';
import type { RunningGateway } from '../support/gateway.js';
import { track } from '../support/held-call.js';
import { startRecordingGateway, upstreamCalls } from '../support/recording-upstream.js';
import { assertRefusal, firstText } from '../support/refusal.js';
import { airlock, cli } from '../support/run-cli.js';

const AGENT = 'agent-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';
const BOB = 'bob-admin-token-0123456789';
const CAROL = 'carol-admin-token-0123456789';
const CLIENT_NAME = 'audit-e2e-agent';

const POLICY = {
  version: '1',
  default: 'deny',
  hide: ['rug_pull'],
  tools: {
    echo: {},
    pid: { limits: [{ counter: 'pid_calls', window: 'minute', max: 1 }] },
    write_file: { action: 'deny', reason: 'Agents may not write files here' },
    start_dicom_export_job: { action: 'require_approval', reason: 'Exports need a person', approval: { approvers: ['alice', 'bob'] } },
    sleep: { action: 'require_approval', reason: 'Sleeping needs a person', approval: { timeout: '1s' } },
  },
};

let gateway: RunningGateway;
let agent: Client;
let transport: StreamableHTTPClientTransport;

/** What the session did, filled in by the first test and checked by the others. */
const calls: { approvedId?: string; rejectedId?: string; expiredId?: string; withdrawnId?: string; ids: Record<string, string> } = {
  ids: {},
};
let events: AuditRecord[] = [];

before(async () => {
  gateway = await startRecordingGateway({
    policy: POLICY,
    agent: AGENT,
    admins: { alice: ALICE, bob: BOB, carol: CAROL },
    rugPull: true,
    config: ['approvals: { channel: console, timeout: 10m }'],
  });
  agent = new Client({ name: CLIENT_NAME, version: '2.3.4' });
  transport = new StreamableHTTPClientTransport(new URL('/mcp/fixture', gateway.url), {
    requestInit: { headers: { Authorization: `Bearer ${AGENT}` } },
  });
  await agent.connect(transport);
});
after(async () => {
  await agent?.close().catch(() => undefined);
  await gateway?.stop();
});

const decide = (id: string, verdict: 'approve' | 'reject', token: string, reason: string) =>
  api(gateway.url, `/api/approvals/${id}/${verdict}`, token, { method: 'POST', body: { reason } });
const requestIdOf = (result: unknown): string =>
  String((result as { _meta?: Record<string, { request_id?: string }> })._meta?.['airlock/decision']?.request_id);
/** The request id of the one allowed call of `tool` whose stored arguments are `args` (an allowed call's result carries no request id). */
function requestIdByArgs(tool: string, args: Record<string, unknown>): string {
  const ids = new Set(
    events
      .filter((e) => e.event === 'allowed' && e.tool === tool && JSON.stringify(e.arguments) === JSON.stringify(args))
      .map((e) => String(e.request_id)),
  );
  assert.equal(ids.size, 1, `exactly one allowed ${tool} call with arguments ${JSON.stringify(args)}: ${[...ids].join(', ')}`);
  return [...ids][0]!;
}

test('a session with an allowed, denied, rate-limited, approved, rejected and expired call: each gets the answer it should', async () => {
  assert.equal(firstText(await agent.callTool({ name: 'echo', arguments: { text: 'allowed call' } })), 'allowed call');

  const denied = assertRefusal(await agent.callTool({ name: 'write_file', arguments: { path: 'x.txt', content: 'y' } }), 'POLICY DENIED', {
    decision: 'deny',
  });
  calls.ids.denied = denied.meta.request_id;

  assert.notEqual((await agent.callTool({ name: 'pid' })).isError, true);
  const limited = assertRefusal(await agent.callTool({ name: 'pid' }), 'RATE LIMITED', { decision: 'rate_limited' });
  calls.ids.rateLimited = limited.meta.request_id;

  const approvedCall = track(agent.callTool({ name: 'start_dicom_export_job', arguments: { datastore: 'approve-me' } }));
  const toApprove = await pendingFor(gateway.url, ALICE, 'start_dicom_export_job');
  calls.approvedId = toApprove.id;
  // Carol is an admin but not among this rule's approvers: her click changes nothing, and is audited as such.
  assert.equal((await decide(toApprove.id, 'approve', CAROL, 'carol says yes')).status, 403);
  assert.equal((await decide(toApprove.id, 'approve', ALICE, 'export ok, ticket 42')).status, 200);
  const approved = await approvedCall.promise;
  assert.match(firstText(approved), /^export job \w+ started$/);
  calls.ids.approved = requestIdOf(approved);

  const rejectedCall = track(agent.callTool({ name: 'start_dicom_export_job', arguments: { datastore: 'reject-me' } }));
  const toReject = await pendingFor(gateway.url, ALICE, 'start_dicom_export_job');
  calls.rejectedId = toReject.id;
  assert.equal((await decide(toReject.id, 'reject', BOB, 'not during business hours, sorry')).status, 200);
  const rejected = assertRefusal(await rejectedCall.promise, 'APPROVAL REJECTED', { decision: 'rejected', decided_by: 'bob' });
  calls.ids.rejected = rejected.meta.request_id;

  const expiredCall = track(agent.callTool({ name: 'sleep', arguments: { ms: 1 } }));
  calls.expiredId = (await pendingFor(gateway.url, ALICE, 'sleep')).id;
  const expired = assertRefusal(await expiredCall.promise, 'APPROVAL EXPIRED', { decision: 'expired' });
  calls.ids.expired = expired.meta.request_id;

  // Two more ends the issue lists: a hidden tool, and a held call the agent gives up on.
  await assert.rejects(agent.callTool({ name: 'rug_pull' }), /rug_pull/);
  const giveUp = new AbortController();
  const withdrawnCall = track(
    agent.callTool({ name: 'start_dicom_export_job', arguments: { datastore: 'withdraw-me' } }, undefined, { signal: giveUp.signal }),
  );
  calls.withdrawnId = (await pendingFor(gateway.url, ALICE, 'start_dicom_export_job')).id;
  giveUp.abort('the agent changed its mind');
  await assert.rejects(withdrawnCall.promise);

  assert.deepEqual(
    ['echo', 'write_file', 'pid', 'start_dicom_export_job', 'sleep', 'rug_pull'].map(
      (tool) => upstreamCalls(gateway, 'fixture', tool).length,
    ),
    [1, 0, 1, 1, 0, 0],
    'only the allowed, the first pid and the approved call reached the server',
  );
  // The executed events are recorded after the answer goes out, a withdrawal once the gateway hears of it: wait for them.
  events = await waitForEvents(
    gateway.redis.url,
    'three executed events, one expired, one withdrawn',
    (all) =>
      all.filter((e) => e.event === 'executed').length === 3 &&
      all.some((e) => e.event === 'expired') &&
      all.some((e) => e.event === 'withdrawn'),
  );
  calls.ids.allowed = requestIdByArgs('echo', { text: 'allowed call' });
  calls.ids.firstPid = requestIdByArgs('pid', {});
  calls.ids.hidden = String(events.find((e) => e.event === 'hidden')?.request_id);
  calls.ids.withdrawn = String(events.find((e) => e.approval_id === calls.withdrawnId)?.request_id);
  assert.notEqual(calls.ids.firstPid, calls.ids.rateLimited);
});

test('each call yields its events in order: allowed→executed, denied, rate_limited, approval_requested→approved→executed, →rejected, →expired, hidden, →withdrawn', () => {
  const expected: Record<string, string[]> = {
    allowed: ['allowed', 'executed'],
    denied: ['denied'],
    firstPid: ['allowed', 'executed'],
    rateLimited: ['rate_limited'],
    approved: ['approval_requested', 'approved', 'executed'],
    rejected: ['approval_requested', 'rejected'],
    expired: ['approval_requested', 'expired'],
    hidden: ['hidden'],
    withdrawn: ['approval_requested', 'withdrawn'],
  };
  for (const [call, steps] of Object.entries(expected))
    assert.deepEqual(stepsOf(events, calls.ids[call]!), steps, `${call} (request ${calls.ids[call]})`);
  const callEvents = events.filter((e) => e.request_id !== undefined);
  assert.equal(
    callEvents.length,
    Object.values(expected).flat().length,
    `no other call events: ${JSON.stringify(callEvents.map((e) => e.event))}`,
  );
  // Around the approved call's own events, the refused click sits between the request and the approval.
  assert.deepEqual(
    events.filter((e) => e.approval_id === calls.approvedId).map((e) => e.event),
    ['approval_requested', 'decision_refused', 'approved', 'executed'],
  );
});

test('every event is numbered in one chain from 1, names this instance, and every call event carries grant, session, client, server and tool', () => {
  assert.deepEqual(
    events.map((e) => e.seq),
    events.map((_, i) => i + 1),
  );
  for (let i = 1; i < events.length; i++)
    assert.equal(events[i]!.prev, events[i - 1]!.hash, `seq ${events[i]!.seq} links to the one before`);
  const instance = `gateway@${hostname()}:${gateway.process.pid}`;
  const started = Date.now() - 120_000;
  for (const event of events) {
    assert.equal(event.instance, instance, `seq ${event.seq}`);
    assert.ok(Date.parse(event.time) > started && Date.parse(event.time) <= Date.now(), `seq ${event.seq} time ${event.time}`);
  }
  assert.ok(transport.sessionId, 'the session has an id');
  for (const event of events.filter((e) => e.request_id !== undefined)) {
    const facts = { grant: event.grant, session: event.session, client: event.client, server: event.server };
    assert.deepEqual(
      facts,
      { grant: 'agent', session: transport.sessionId, client: CLIENT_NAME, server: 'fixture' },
      `seq ${event.seq} (${event.event})`,
    );
    assert.equal(typeof event.tool, 'string');
  }
});

test('the policy outcome events record the decision, the rule and the reason; executed records the result and its duration', () => {
  const one = (call: string, name: string) => {
    const found = events.filter((e) => e.request_id === calls.ids[call] && e.event === name);
    assert.equal(found.length, 1, `one ${name} event for ${call}`);
    return found[0]!;
  };
  const allowed = one('allowed', 'allowed');
  assert.deepEqual(
    [allowed.tool, allowed.decision, allowed.rule, allowed.arguments],
    ['echo', 'allow', 'tools.echo', { text: 'allowed call' }],
  );
  assert.match(allowed.digest ?? '', /^[0-9a-f]{64}$/);
  const executed = one('allowed', 'executed');
  assert.equal(executed.result, 'ok');
  assert.ok(typeof executed.duration_ms === 'number' && executed.duration_ms >= 0, `duration ${executed.duration_ms}`);

  const denied = one('denied', 'denied');
  assert.deepEqual(
    [denied.tool, denied.decision, denied.rule, denied.reason],
    ['write_file', 'deny', 'tools.write_file', 'Agents may not write files here'],
  );
  assert.deepEqual(denied.arguments, { path: 'x.txt', content: 'y' });

  const limited = one('rateLimited', 'rate_limited');
  assert.equal(limited.tool, 'pid');
  assert.match(limited.rule ?? '', /^tools\.pid\.limits\[0\]/);
  assert.match(limited.reason ?? '', /pid_calls .*allows 1 calls? per minute; retry in \d+ s/);
});

test('held calls record the approval id, the channel, who decided (admin name, via console), when, and their reason', () => {
  const of = (approvalId: string | undefined, name: string) => {
    const found = events.filter((e) => e.approval_id === approvalId && e.event === name);
    assert.equal(found.length, 1, `one ${name} event for ${approvalId}`);
    return found[0]!;
  };
  const requested = of(calls.approvedId, 'approval_requested');
  assert.deepEqual(
    [requested.request_id, requested.tool, requested.decision, requested.rule, requested.reason, requested.channel, requested.arguments],
    [
      calls.ids.approved,
      'start_dicom_export_job',
      'require_approval',
      'tools.start_dicom_export_job',
      'Exports need a person',
      'console',
      { datastore: 'approve-me' },
    ],
  );
  const approved = of(calls.approvedId, 'approved');
  assert.equal(approved.request_id, calls.ids.approved);
  assert.equal(approved.channel, 'console');
  assert.equal(approved.reason, 'export ok, ticket 42');
  assert.equal(approved.approvers?.length, 1);
  const [alice] = approved.approvers!;
  assert.deepEqual({ ...alice, at: undefined }, { id: 'alice', via: 'console', verdict: 'approve', at: undefined });
  // One machine's clock stamps all three (Redis's for the vote): the vote comes after the request and before its event.
  assert.ok(
    typeof alice?.at === 'number' && Date.parse(requested.time) <= alice.at && alice.at <= Date.parse(approved.time),
    `approved at ${alice?.at}, requested ${requested.time}, approved event ${approved.time}`,
  );
  assert.equal(approved.digest, requested.digest, 'the approved event carries the digest of the arguments that were approved');
  const executed = of(calls.approvedId, 'executed');
  assert.deepEqual([executed.request_id, executed.result], [calls.ids.approved, 'ok']);

  const refused = of(calls.approvedId, 'decision_refused');
  assert.deepEqual(
    refused.approvers?.map((a) => [a.id, a.via, a.verdict]),
    [['carol', 'console', 'approve']],
  );
  assert.match(refused.reason ?? '', /carol is not an approver/);

  const rejected = of(calls.rejectedId, 'rejected');
  assert.deepEqual(
    [rejected.request_id, rejected.reason, rejected.channel, rejected.approvers?.map((a) => [a.id, a.via, a.verdict])],
    [calls.ids.rejected, 'not during business hours, sorry', 'console', [['bob', 'console', 'reject']]],
  );

  const expired = of(calls.expiredId, 'expired');
  assert.equal(expired.request_id, calls.ids.expired);
  assert.deepEqual(expired.approvers ?? [], [], 'nobody decided an expired request');
  assert.equal(of(calls.expiredId, 'approval_requested').rule, 'tools.sleep');

  const withdrawn = of(calls.withdrawnId, 'withdrawn');
  assert.equal(withdrawn.request_id, calls.ids.withdrawn);
  assert.match(withdrawn.reason ?? '', /cancel/, `why it was withdrawn: ${withdrawn.reason}`);
  const hidden = events.find((e) => e.event === 'hidden')!;
  assert.deepEqual([hidden.tool, hidden.decision, hidden.rule], ['rug_pull', 'hide', 'hide[0]']);
});

/** The events `who` decided, tried to decide, or did as an admin. */
const theirs = (who: string) =>
  events.filter((e) => e.admin === who || (e.approvers ?? []).some((a) => a.id === who || a.name === who)).map((e) => e.seq);

test("`airlock audit --approver alice --json` finds exactly alice's events", async () => {
  const env = { ...process.env, REDIS_URL: gateway.redis.url };
  const { code, stdout, stderr } = await airlock(
    ['audit', '--approver', 'alice', '--json', '-c', join(gateway.dir, 'airlock.yaml')],
    gateway.dir,
    env,
  );
  assert.equal(code, 0, stderr);
  const page = JSON.parse(stdout) as { events: AuditRecord[]; next?: string };
  assert.deepEqual(
    page.events.map((e) => [e.seq, e.event]),
    [[events.find((e) => e.event === 'approved')!.seq, 'approved']],
  );
  assert.deepEqual(
    page.events.map((e) => e.seq),
    theirs('alice'),
  );
  assert.equal(page.next, undefined);
  assert.deepEqual(
    page.events[0],
    events.find((e) => e.event === 'approved'),
    'the event as stored, with its stream id',
  );
});

test('the approver filter of the CLI and of /api/audit agree, per admin, with the stored events', async () => {
  const env = { REDIS_URL: gateway.redis.url };
  const expected = { alice: ['approved'], bob: ['rejected'], carol: ['decision_refused'], dave: [] as string[] };
  for (const [who, names] of Object.entries(expected)) {
    const fromCli = await cli(['audit', '--approver', who, '--json', '-c', join(gateway.dir, 'airlock.yaml')], gateway.dir, env);
    assert.equal(fromCli.code, 0, fromCli.stderr);
    const cliEvents = (JSON.parse(fromCli.stdout) as { events: AuditRecord[] }).events;
    const fromApi = await api(gateway.url, `/api/audit?approver=${who}`, ALICE);
    assert.equal(fromApi.status, 200, JSON.stringify(fromApi.body));
    const apiEvents = fromApi.body.events as AuditRecord[];
    assert.deepEqual(
      cliEvents.map((e) => e.event),
      names,
      `cli, ${who}`,
    );
    assert.deepEqual(
      cliEvents.map((e) => e.seq),
      theirs(who),
      `cli, ${who}`,
    );
    assert.deepEqual(
      apiEvents.map((e) => e.seq),
      theirs(who),
      `api, ${who}`,
    );
  }
});

test('the other filters select the same events as the stored fields say, and the cursor pages through all of them', async () => {
  const seqs = async (query: string) => {
    const { status, body } = await api(gateway.url, `/api/audit?${query}`, ALICE);
    assert.equal(status, 200, `${query}: ${JSON.stringify(body)}`);
    return (body.events as AuditRecord[]).map((e) => e.seq);
  };
  const all = await streamEvents(gateway.redis.url);
  const where = (keep: (e: AuditRecord) => boolean) => all.filter(keep).map((e) => e.seq);
  assert.deepEqual(
    await seqs(`request_id=${calls.ids.approved}`),
    where((e) => e.request_id === calls.ids.approved),
  );
  assert.deepEqual(
    await seqs(`approval_id=${calls.rejectedId}`),
    where((e) => e.approval_id === calls.rejectedId),
  );
  assert.deepEqual(
    await seqs('tool=pid'),
    where((e) => e.tool === 'pid'),
  );
  assert.deepEqual(
    await seqs('decision=rate_limited'),
    where((e) => e.event === 'rate_limited'),
  );
  assert.deepEqual(
    await seqs('decision=require_approval'),
    where((e) => e.decision === 'require_approval'),
  );
  assert.deepEqual(
    await seqs('grant=agent&server=fixture&tool=echo'),
    where((e) => e.grant === 'agent' && e.tool === 'echo'),
  );
  assert.deepEqual(
    await seqs('since=1h&until=2999-01-01'),
    where(() => true),
  );
  assert.deepEqual(await seqs('since=2999-01-01'), []);

  const paged: number[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 20; pages++) {
    const { body } = await api(gateway.url, `/api/audit?limit=3${cursor ? `&cursor=${cursor}` : ''}`, ALICE);
    paged.push(...(body.events as AuditRecord[]).map((e) => e.seq));
    cursor = body.next as string | undefined;
    if (cursor === undefined) break;
  }
  assert.deepEqual(
    paged,
    where(() => true),
  );

  const text = await cli(['audit', '--decision', 'rejected', '-c', join(gateway.dir, 'airlock.yaml')], gateway.dir, {
    REDIS_URL: gateway.redis.url,
  });
  assert.equal(text.code, 0, text.stderr);
  assert.match(
    text.stdout,
    /rejected\s+fixture\/start_dicom_export_job\s+grant=agent\s+by bob \(console, reject\)\s+apr_\S+\s+not during business hours, sorry/,
  );
});
