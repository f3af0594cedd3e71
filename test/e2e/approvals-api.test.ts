import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { api, pendingFor, type ApiAnswer } from '../support/approvals-api.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { approvalOf, assertStillHeld, track } from '../support/held-call.js';
import { startRecordingGateway, upstreamCalls } from '../support/recording-upstream.js';
import { FIXTURE_SERVER, TSX_LOADER } from '../support/mcp-servers.js';
import { assertRefusal, firstText } from '../support/refusal.js';
import { airlock, cli, type CliResult } from '../support/run-cli.js';

const AGENT = 'agent-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';
const BOB = 'bob-admin-token-0123456789';
const CAROL = 'carol-admin-token-0123456789';
const UNKNOWN_ID = 'apr_AAAAAAAAAAAAAAAAAAAAAA';

const POLICY = {
  version: '1',
  default: 'deny',
  tools: {
    echo: { action: 'require_approval', reason: 'Echoes need a person', approval: { approvers: ['alice', 'bob'] } },
    start_dicom_export_job: {
      action: 'require_approval',
      reason: 'Exports need two people',
      approval: { approvers: ['alice', 'bob'], min_approvals: 2 },
    },
    sleep: { action: 'require_approval', reason: 'Sleeping needs a person' },
  },
};

let gateway: RunningGateway;
let client: Client;

before(async () => {
  gateway = await startRecordingGateway({
    policy: POLICY,
    agent: AGENT,
    admins: { alice: ALICE, bob: BOB, carol: CAROL },
    config: ['approvals: { channel: console, timeout: 10m, max_arguments: 1kb }'],
  });
  client = await gateway.connect('/mcp/fixture', AGENT);
});
after(() => gateway?.stop());

/** Calls `tool` and waits until its request is pending; `marker` tells its upstream call apart. */
async function hold(tool: 'echo' | 'start_dicom_export_job', marker: string) {
  const args = tool === 'echo' ? { text: marker } : { datastore: marker };
  const call = track(client.callTool({ name: tool, arguments: args }));
  const request = await pendingFor(gateway.url, ALICE, tool);
  return {
    call,
    id: request.id,
    ran: () => upstreamCalls(gateway, 'fixture', tool).filter((a) => a.text === marker || a.datastore === marker).length,
  };
}

const decide = (id: string, verdict: string, token: string | undefined, body?: unknown) =>
  api(gateway.url, `/api/approvals/${id}/${verdict}`, token, { method: 'POST', ...(body !== undefined && { body }) });

function assertError(answer: ApiAnswer, status: number, code: string, message: RegExp): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(answer.body.error?.code, code);
  assert.match(answer.body.error?.message ?? '', message);
}

test('unknown, malformed and badly asked-for requests are answered 4xx with a reason, and the held call stays held', async () => {
  const { call, id, ran } = await hold('echo', 'bad-requests');
  const cases: [string, () => Promise<ApiAnswer>, number, string, RegExp][] = [
    [
      'unknown id (show)',
      () => api(gateway.url, `/api/approvals/${UNKNOWN_ID}`, ALICE),
      404,
      'AIRLOCK_APPROVAL_NOT_FOUND',
      /no approval request apr_A{22}/,
    ],
    [
      'unknown id (approve)',
      () => decide(UNKNOWN_ID, 'approve', ALICE),
      404,
      'AIRLOCK_APPROVAL_NOT_FOUND',
      /no approval request apr_A{22}/,
    ],
    [
      'malformed id (show)',
      () => api(gateway.url, '/api/approvals/not-an-id', ALICE),
      400,
      'AIRLOCK_BAD_ARGUMENTS',
      /"not-an-id" is not an approval id/,
    ],
    ['malformed id (approve)', () => decide(`${id}x`, 'approve', ALICE), 400, 'AIRLOCK_BAD_ARGUMENTS', /is not an approval id/],
    ['body not JSON', () => decide(id, 'approve', ALICE, 'yes please'), 400, 'AIRLOCK_BAD_ARGUMENTS', /the body is not JSON/],
    [
      'body with an unknown field',
      () => decide(id, 'approve', ALICE, { reason: 'ok', force: true }),
      400,
      'AIRLOCK_BAD_ARGUMENTS',
      /force/,
    ],
    ['reason not a string', () => decide(id, 'reject', ALICE, { reason: 42 }), 400, 'AIRLOCK_BAD_ARGUMENTS', /body\.reason/],
    ['unknown verb', () => decide(id, 'maybe', ALICE), 400, 'AIRLOCK_BAD_ARGUMENTS', /unknown action "maybe": use approve or reject/],
    ['bad list filter', () => api(gateway.url, '/api/approvals?state=bogus', ALICE), 400, 'AIRLOCK_BAD_ARGUMENTS', /query\.state/],
    ['no token', () => decide(id, 'approve', undefined), 401, 'AIRLOCK_UNAUTHORIZED', /missing bearer token/],
    ["a grant's token", () => decide(id, 'approve', AGENT), 401, 'AIRLOCK_UNAUTHORIZED', /matches no admin/],
    ['a wrong token', () => decide(id, 'reject', 'not-a-token-at-all'), 401, 'AIRLOCK_UNAUTHORIZED', /matches no admin/],
    ['no token (list)', () => api(gateway.url, '/api/approvals', undefined), 401, 'AIRLOCK_UNAUTHORIZED', /missing bearer token/],
  ];
  for (const [name, ask, status, code, message] of cases) {
    assertError(await ask(), status, code, message);
    await assertStillHeld(gateway, ALICE, id, call, name);
  }
  assert.equal(ran(), 0);
  assert.equal((await decide(id, 'approve', BOB)).status, 200);
  assert.equal(firstText(await call.promise), 'bad-requests');
  assert.equal(ran(), 1);
});

test("an admin not among the rule's approvers gets 403 and the request stays pending", async () => {
  const { call, id, ran } = await hold('echo', 'not-an-approver');
  for (const verdict of ['approve', 'reject']) {
    assertError(
      await decide(id, verdict, CAROL, { reason: 'I am carol' }),
      403,
      'AIRLOCK_NOT_APPROVER',
      /carol is not an approver for fixture\/echo \(approvers: alice, bob\)/,
    );
    await assertStillHeld(gateway, ALICE, id, call, `carol ${verdict}s`);
  }
  await sleep(200);
  assert.equal(call.settled, false);
  assert.equal(ran(), 0);
  assert.equal((await decide(id, 'reject', ALICE, { reason: 'cleanup' })).status, 200);
  assertRefusal(await call.promise, 'APPROVAL REJECTED', { decision: 'rejected', decided_by: 'alice' });
});

test('a decided request answers 409 naming who decided it and when, and stays as it was', async () => {
  const { call, id, ran } = await hold('echo', 'decided-twice');
  const first = await decide(id, 'approve', ALICE, { reason: 'fine' });
  assert.equal(first.status, 200);
  assert.equal(first.body.outcome, 'decided');
  assert.equal(firstText(await call.promise), 'decided-twice');
  const decidedAt = String(first.body.approval?.decided_at);
  assert.match(decidedAt, /^\d{4}-\d\d-\d\dT/);
  for (const [token, verdict] of [
    [BOB, 'reject'],
    [ALICE, 'approve'],
    [BOB, 'approve'],
  ] as const) {
    const late = await decide(id, verdict, token, { reason: 'too late' });
    assertError(
      late,
      409,
      'AIRLOCK_APPROVAL_DECIDED',
      new RegExp(`^${id} was not changed: it was already approved by alice at ${decidedAt.replace(/\./g, '\\.')}: fine$`),
    );
    assert.equal(late.body.approval?.state, 'approved');
  }
  const approval = await approvalOf(gateway, ALICE, id);
  assert.deepEqual(
    [approval.state, approval.decided_by, approval.decided_at, (approval.votes as unknown[]).length],
    ['approved', 'alice', decidedAt, 1],
  );
  assert.equal(ran(), 1);
});

test('100 concurrent approve and reject calls from two admins: exactly one wins, 99 are told who won, the upstream runs at most once', async () => {
  const { call, id, ran } = await hold('echo', 'the-race');
  // 25 of each (admin, verdict) pair, in random order, so either verdict may win.
  const votes = Array.from({ length: 100 }, (_, i) => ({
    token: i % 2 === 0 ? ALICE : BOB,
    verdict: i % 4 < 2 ? 'approve' : 'reject',
    order: Math.random(),
  })).sort((a, b) => a.order - b.order);
  const started = performance.now();
  const answers = await Promise.all(votes.map((v, i) => decide(id, v.verdict, v.token, { reason: `vote ${i}` })));
  const ms = Math.round(performance.now() - started);
  const winners = answers.filter((a) => a.status === 200);
  const losers = answers.filter((a) => a.status === 409);
  assert.equal(winners.length, 1, `expected one winner, got ${JSON.stringify(winners.map((w) => w.body))}`);
  assert.equal(
    losers.length,
    99,
    `other answers: ${JSON.stringify(answers.filter((a) => a.status !== 200 && a.status !== 409).map((a) => a.body))}`,
  );
  const winner = winners[0]!.body;
  assert.equal(winner.outcome, 'decided');
  const state = String(winner.approval?.state);
  const by = String(winner.approval?.decided_by);
  console.log(`the race: ${state} by ${by} (${winner.approval?.decision_reason}); 100 decisions answered in ${ms} ms`);
  assert.ok(['approved', 'rejected'].includes(state) && ['alice', 'bob'].includes(by), `${state} by ${by}`);
  for (const loser of losers) assertError(loser, 409, 'AIRLOCK_APPROVAL_DECIDED', new RegExp(`already ${state} by ${by} at \\d{4}-`));

  const result = await call.promise;
  if (state === 'approved') {
    assert.equal(firstText(result), 'the-race');
  } else {
    const { text } = assertRefusal(result, 'APPROVAL REJECTED', { decision: 'rejected', decided_by: by, approval_id: id });
    assert.equal(text, `[APPROVAL REJECTED] by ${by}: ${String(winner.approval?.decision_reason)}`);
    await sleep(300);
  }
  assert.equal(ran(), state === 'approved' ? 1 : 0);
  const approval = await approvalOf(gateway, ALICE, id);
  assert.deepEqual([approval.state, approval.decided_by, (approval.votes as unknown[]).length], [state, by, 1]);
});

test('min_approvals 2: one approval is counted and holds on, the same admin twice is refused, a second admin releases; one rejection rejects', async () => {
  const first = await hold('start_dicom_export_job', 'two-approvals');
  const counted = await decide(first.id, 'approve', ALICE);
  assert.equal(counted.status, 200);
  assert.equal(counted.body.outcome, 'counted');
  assert.match(String(counted.body.message), /approval recorded, 1 of 2; more approvers are needed/);
  await sleep(300);
  assert.equal(first.call.settled, false, 'one approval of two must not release the call');
  assertError(
    await decide(first.id, 'approve', ALICE),
    409,
    'AIRLOCK_APPROVAL_DECIDED',
    /already approved by admin alice; one person approves once, and 2 different people must approve/,
  );
  let approval = await approvalOf(gateway, ALICE, first.id);
  assert.deepEqual([approval.state, (approval.votes as { by: string }[]).map((v) => v.by)], ['pending', ['alice']]);
  assert.equal(first.call.settled, false);
  assert.equal(first.ran(), 0);
  const released = await decide(first.id, 'approve', BOB);
  assert.deepEqual([released.status, released.body.outcome], [200, 'decided']);
  assert.match(firstText(await first.call.promise), /^export job \w+ started$/);
  approval = await approvalOf(gateway, ALICE, first.id);
  assert.deepEqual([approval.state, approval.decided_by], ['approved', 'alice, bob']);
  assert.equal(first.ran(), 1);

  const second = await hold('start_dicom_export_job', 'one-rejection');
  assert.equal((await decide(second.id, 'approve', ALICE)).body.outcome, 'counted');
  const rejected = await decide(second.id, 'reject', BOB, { reason: 'not this datastore' });
  assert.deepEqual([rejected.status, rejected.body.outcome, rejected.body.approval?.state], [200, 'decided', 'rejected']);
  const { text } = assertRefusal(await second.call.promise, 'APPROVAL REJECTED', { decision: 'rejected', decided_by: 'bob' });
  assert.equal(text, '[APPROVAL REJECTED] by bob: not this datastore');
  await sleep(300);
  assert.equal(second.ran(), 0);
});

test('arguments larger than approvals.max_arguments are [POLICY DENIED] at once and no request is opened', async () => {
  // At once: refused, not held (a held call would wait out the 10 minute approval timeout and fail this one's).
  const result = await client.callTool({ name: 'sleep', arguments: { ms: 1, padding: 'x'.repeat(2_000) } }, undefined, { timeout: 30_000 });
  const { text } = assertRefusal(result, 'POLICY DENIED', { decision: 'denied', rule: 'approvals.max_arguments', tool: 'sleep' });
  assert.match(text, /needs approval, but its arguments are 2 KiB, more than the 1 KiB a held call may carry \(approvals\.max_arguments\)/);
  const { status, body } = await api(gateway.url, '/api/approvals?state=all&tool=sleep', ALICE);
  assert.equal(status, 200);
  assert.deepEqual(body.approvals, []);
  assert.equal(upstreamCalls(gateway, 'fixture', 'sleep').length, 0);
});

test('airlock approvals: unknown id, no admin token, a bad --state, a non-approver exit 1 with a message and change nothing', async () => {
  const { call, id, ran } = await hold('echo', 'cli-errors');
  const env: NodeJS.ProcessEnv = { ...process.env, REDIS_URL: gateway.redis.url, AIRLOCK_ADMIN_TOKEN: ALICE };
  const { AIRLOCK_ADMIN_TOKEN: _, AIRLOCK_ADMIN_TOKEN_FILE: _file, ...noToken } = env;
  const config = join(gateway.dir, 'airlock.yaml');
  // The real command for the cases the issue names (each costs a process start, ~3 s of CPU); the rest in-process.
  const run = (argv: string[], e: NodeJS.ProcessEnv = env) => airlock(['approvals', ...argv, '-c', config], gateway.dir, e);
  const inProcess = (argv: string[], e: NodeJS.ProcessEnv) => cli(['approvals', ...argv, '-c', config], gateway.dir, e);
  const cases: [string, Promise<CliResult>, RegExp][] = [
    ['approve an unknown id', run(['approve', UNKNOWN_ID]), /^airlock: no approval request apr_A{22} \(unknown/m],
    [
      'approve without an admin token',
      run(['approve', id], noToken),
      /^airlock: no admin token given: pass --token-file FILE, or set AIRLOCK_ADMIN_TOKEN_FILE to a file holding it, or AIRLOCK_ADMIN_TOKEN to the token itself: the token of one of the admins in .*airlock\.yaml/,
    ],
    [
      'list --state bogus',
      run(['list', '--state', 'bogus']),
      /^airlock: --state must be one of pending, approved, rejected, expired, withdrawn, all, got "bogus"/,
    ],
  ];
  for (const [name, running, message] of cases) {
    const { code, stdout, stderr } = await running;
    assert.equal(code, 1, `${name}: exit ${code}\n${stdout}\n${stderr}`);
    assert.match(stderr, message, name);
    await assertStillHeld(gateway, ALICE, id, call, name);
  }
  const more: [string, string[], NodeJS.ProcessEnv, RegExp][] = [
    ['approve a malformed id', ['approve', 'apr_short'], env, /^airlock: "apr_short" is not an approval id/],
    [
      'approve with a wrong AIRLOCK_ADMIN_TOKEN',
      ['approve', id],
      { ...env, AIRLOCK_ADMIN_TOKEN: AGENT },
      /^airlock: AIRLOCK_ADMIN_TOKEN: the token matches no admin/m,
    ],
    [
      'reject as a non-approver',
      ['reject', id, '--reason', 'carol says no'],
      { ...env, AIRLOCK_ADMIN_TOKEN: CAROL },
      /^airlock: admin carol is not an approver for fixture\/echo \(approvers: alice, bob\)/m,
    ],
  ];
  for (const [name, argv, e, message] of more) {
    const { code, stdout, stderr } = await inProcess(argv, e);
    assert.equal(code, 1, `${name}: exit ${code}\n${stdout}\n${stderr}`);
    assert.match(stderr, message, name);
    await assertStillHeld(gateway, ALICE, id, call, name);
  }
  assert.equal(ran(), 0);
  assert.equal((await decide(id, 'approve', ALICE)).status, 200);
  assert.equal(firstText(await call.promise), 'cli-errors');
});

test("a gateway with no admins answers /api to its local admin's token only, not to a token of another config's admins", async () => {
  const bare = await startGateway({
    config: `servers:\n  fixture:\n    command: ${process.execPath}\n    args: [--import, ${TSX_LOADER}, ${FIXTURE_SERVER}]\n    policy: policy.json\napprovals: { channel: console }\n`,
    files: { 'policy.json': JSON.stringify(POLICY) },
    env: { AIRLOCK_ADMIN_TOKEN: undefined },
  });
  try {
    const local = readFileSync(join(bare.dir, '.airlock', 'admin-token'), 'utf8').trim();
    assert.equal((await api(bare.url, '/api/approvals', local)).status, 200);
    assertError(
      await api(bare.url, `/api/approvals/${UNKNOWN_ID}/approve`, local, { method: 'POST' }),
      404,
      'AIRLOCK_APPROVAL_NOT_FOUND',
      /no approval request/,
    );
    for (const [path, method, token, message] of [
      ['/api/approvals', 'GET', ALICE, /matches no admin/],
      [`/api/approvals/${UNKNOWN_ID}/approve`, 'POST', ALICE, /matches no admin/],
      ['/api/approvals', 'GET', undefined, /missing bearer token/],
    ] as const) {
      assertError(await api(bare.url, path, token, { method }), 401, 'AIRLOCK_UNAUTHORIZED', message);
    }
  } finally {
    await bare.stop();
  }
});
