import assert from 'node:assert/strict';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { api, pendingFor } from '../support/approvals-api.js';
import { startGateway, startGateways, type RunningGateway } from '../support/gateway.js';
import { until } from '../support/poll.js';
import { RECORDING_ENTRY, RECORDING_SOURCE, recordingServer, upstreamCalls } from '../support/recording-upstream.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { assertRefusal, firstText } from '../support/refusal.js';
import { airlock } from '../support/run-cli.js';

const AGENT = 'agent-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';

const policy = (timeout?: string) =>
  JSON.stringify({
    version: '1',
    default: 'deny',
    tools: { echo: { action: 'require_approval', reason: 'Echo needs a person', ...(timeout && { approval: { timeout } }) } },
  });

// Every instance runs the same config: `fixture` holds for the default 10 minutes, `quick` for 2 s. redis.timeout is
// the default, written out: a killed instance's lease (3 × it, 1.5 s) lapses before `quick` times out, so the instance
// that expires the request knows its holder is gone and tells the channel.
const CONFIG = [
  `servers:\n${recordingServer('fixture', 'fixture.json')}${recordingServer('quick', 'quick.json')}`,
  `grants:\n  - { name: agent, token: ${AGENT} }\n`,
  `admins:\n  - { name: alice, token: ${ALICE} }\n`,
  'approvals: { channel: console, timeout: 10m }\n',
  'redis: { timeout: 500ms }\n',
].join('');
/** A held call that is never released fails the test after this long, rather than at the SDK's 60 s. */
const HELD = { timeout: 20_000 };
const FILES = { [RECORDING_ENTRY]: RECORDING_SOURCE, 'fixture.json': policy(), 'quick.json': policy('2s') };

/** How many `tools/call` requests for `tool` the upstream `name` of `gateway` has received. */
const reached = (gateway: RunningGateway, name: string, tool: string): number => upstreamCalls(gateway, name, tool).length;

let redis: TestRedis;
let A: RunningGateway;
let B: RunningGateway;

before(async () => {
  redis = await startRedis();
  [A, B] = (await startGateways(2, () => startGateway({ config: CONFIG, files: FILES, redis }))) as [RunningGateway, RunningGateway];
});
after(async () => {
  await Promise.all([A?.stop(), B?.stop()]);
  await redis?.stop();
});

test("held on A, approved through B's API: released on A, and the agent gets the upstream's result with the approval id", async () => {
  const agent = await A.connect('/mcp/fixture', AGENT);
  let answeredAt = 0;
  const call = agent
    .callTool({ name: 'echo', arguments: { text: 'released on A' } }, undefined, HELD)
    .then((result) => ((answeredAt = performance.now()), result));
  const request = await pendingFor(B.url, ALICE, 'echo');
  assert.equal(reached(A, 'fixture', 'echo'), 0, 'nothing reaches the upstream while the call is held');

  const approved = await api(B.url, `/api/approvals/${request.id}/approve`, ALICE, { method: 'POST', body: { reason: 'fine by me' } });
  const approvedAt = performance.now();
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  assert.equal(approved.body.outcome, 'decided');
  const result = await call;
  console.log(`B's API answered → the agent on A got its result: ${(answeredAt - approvedAt).toFixed(1)} ms`);

  assert.notEqual(result.isError, true, firstText(result));
  assert.equal(firstText(result), 'released on A');
  const meta = (result._meta as Record<string, Record<string, unknown>> | undefined)?.['airlock/decision'];
  assert.deepEqual([meta?.decision, meta?.approval_id, meta?.approved_by], ['approved', request.id, 'alice']);
  assert.deepEqual(
    [reached(A, 'fixture', 'echo'), reached(B, 'fixture', 'echo')],
    [1, 0],
    'the call ran once, on the instance that held it',
  );
  await until(
    'the execution to be recorded',
    async () => (await api(B.url, `/api/approvals/${request.id}`, ALICE)).body.approval?.execution !== null,
  );
  const shown = (await api(B.url, `/api/approvals/${request.id}`, ALICE)).body.approval;
  assert.deepEqual(
    [shown?.state, shown?.decided_by, (shown?.execution as { result?: string } | null)?.result],
    ['approved', 'alice', 'ok'],
  );
});

test("a request pending on A is listed by B's API and by `airlock approvals list --json`", async () => {
  const agent = await A.connect('/mcp/fixture', AGENT);
  const call = agent.callTool({ name: 'echo', arguments: { text: 'listed everywhere' } }, undefined, HELD);
  const request = await pendingFor(B.url, ALICE, 'echo');

  const listed = await api(B.url, '/api/approvals', ALICE);
  assert.equal(listed.status, 200);
  const onB = listed.body.approvals?.find((a) => a.id === request.id);
  assert.deepEqual(
    [onB?.state, onB?.server, onB?.tool, onB?.grant, onB?.reason],
    ['pending', 'fixture', 'echo', 'agent', 'Echo needs a person'],
  );

  const env = { ...process.env, REDIS_URL: redis.url, AIRLOCK_ADMIN_TOKEN: ALICE };
  const cli = await airlock(['approvals', 'list', '--json', '-c', join(B.dir, 'airlock.yaml')], B.dir, env);
  assert.equal(cli.code, 0, cli.stderr);
  const fromCli = (JSON.parse(cli.stdout) as { approvals: { id: string; state: string; tool: string; server: string }[] }).approvals;
  assert.deepEqual(
    fromCli.filter((a) => a.id === request.id).map((a) => [a.state, a.server, a.tool]),
    [['pending', 'fixture', 'echo']],
  );

  const rejected = await api(B.url, `/api/approvals/${request.id}/reject`, ALICE, { method: 'POST', body: { reason: 'only listing' } });
  assert.equal(rejected.status, 200, JSON.stringify(rejected.body));
  const { text } = assertRefusal(await call, 'APPROVAL REJECTED', { decision: 'rejected', approval_id: request.id, decided_by: 'alice' });
  assert.equal(text, '[APPROVAL REJECTED] by alice: only listing');
  assert.equal(reached(A, 'fixture', 'echo'), 1, 'only the call approved in the first test ran');
});

/** A third instance holding a `quick` echo (timeout 2s), then killed with SIGKILL: no shutdown, its lease left behind. */
async function heldOnKilledInstance(text: string) {
  const victim = await startGateway({ config: CONFIG, files: FILES, redis });
  const agent = await victim.connect('/mcp/quick', AGENT);
  const call = agent.callTool({ name: 'echo', arguments: { text } }).then(
    (result) => result,
    (err: unknown) => err,
  );
  const request = await pendingFor(B.url, ALICE, 'echo');
  assert.equal(request.server, 'quick');
  const exited = new Promise((resolve) => victim.process.once('exit', resolve));
  victim.process.kill('SIGKILL');
  await exited;
  return { victim, call, request, killedAt: performance.now() };
}

test("held on an instance killed with SIGKILL: after the rule timeout (2s) the request is expired in B's list, and nothing ran", async () => {
  const { victim, call, request, killedAt } = await heldOnKilledInstance('never runs');
  try {
    const expired = async () =>
      (await api(B.url, '/api/approvals?state=expired&server=quick', ALICE)).body.approvals?.find((a) => a.id === request.id);
    await until('the request to be listed expired by B', async () => (await expired()) !== undefined, 30_000, 50);
    const shown = (await api(B.url, `/api/approvals/${request.id}`, ALICE)).body.approval;
    const late = Date.parse(String(shown?.decided_at)) - Date.parse(String(shown?.expires_at));
    console.log(
      `holder SIGKILLed → expired in B's list after ${Math.round(performance.now() - killedAt)} ms; ended ${late} ms after its expiry time`,
    );
    assert.deepEqual([shown?.state, shown?.decided_by, shown?.execution], ['expired', null, null]);
    assert.match(String(shown?.decision_reason), /nobody decided within 2 s/);

    const approve = await api(B.url, `/api/approvals/${request.id}/approve`, ALICE, { method: 'POST' });
    assert.equal(approve.status, 409, 'an expired request cannot be approved afterwards');
    assert.deepEqual(
      [reached(victim, 'quick', 'echo'), reached(B, 'quick', 'echo'), reached(A, 'quick', 'echo')],
      [0, 0, 0],
      'no upstream ran the call',
    );
    await victim.stop(); // closes the agent's client, which ends its pending call
    const outcome = await call;
    assert.ok(
      outcome instanceof Error || (outcome as { isError?: boolean }).isError === true,
      `the agent got no result: ${JSON.stringify(outcome)}`,
    );
  } finally {
    await victim.stop(); // again when the test failed early; stop() is idempotent
  }
});

test('held on an instance killed with SIGKILL: the surviving instance that expires the request tells the channel', async () => {
  const { victim, request } = await heldOnKilledInstance('nobody will hear of this');
  try {
    // The console channel's update() is a log line `approval <id> expired`; the dead holder cannot write it.
    const told = () =>
      [...A.logs, ...B.logs].some((l) => l.approval_id === request.id && String(l.msg).startsWith(`approval ${request.id} expired`));
    const expiredSeen = async () => (await api(B.url, `/api/approvals/${request.id}`, ALICE)).body.approval?.state === 'expired';
    await until('the request to expire', expiredSeen, 30_000, 50);
    await until('a surviving instance to update the channel', told, 30_000, 50);
  } finally {
    await victim.stop();
  }
});
