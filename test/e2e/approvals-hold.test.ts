import assert from 'node:assert/strict';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ErrorCode, McpError, type Progress } from '@modelcontextprotocol/sdk/types.js';
import { api, pendingFor } from '../support/approvals-api.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { approvalOf, track } from '../support/held-call.js';
import { RECORDING_ENTRY, RECORDING_SOURCE, recordingServer, startRecordingGateway, upstreamCalls } from '../support/recording-upstream.js';
import { until } from '../support/poll.js';
import { MCP_HEADERS, openSession, read, send, toolCall } from '../support/raw-mcp.js';
import { startRedis } from '../support/redis.js';
import { assertRefusal, firstText } from '../support/refusal.js';
import { cli } from '../support/run-cli.js';

const AGENT = 'agent-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';
const AUTH = { Authorization: `Bearer ${AGENT}` };

const POLICY = {
  version: '1',
  default: 'deny',
  tools: { echo: { action: 'require_approval', reason: 'Echoes need a person', approval: { approvers: ['alice'] } } },
};
const HEARTBEATS = 'approvals: { channel: console, timeout: 10m, heartbeat: 200ms }';

let gateway: RunningGateway;
let client: Client;
let mcpUrl: string;

before(async () => {
  gateway = await startRecordingGateway({ policy: POLICY, agent: AGENT, admins: { alice: ALICE }, config: [HEARTBEATS] });
  client = await gateway.connect('/mcp/fixture', AGENT);
  mcpUrl = `${gateway.url}/mcp/fixture`;
});
after(() => gateway?.stop());

/** Stops `on`; a gateway told to stop while its Redis clients reconnect does not exit (see the last test), so it is killed after 10 s rather than hung on. */
async function stopOrKill(on: RunningGateway): Promise<void> {
  const kill = setTimeout(() => {
    console.log('the gateway did not exit within 10 s of SIGTERM: SIGKILL');
    on.process.kill('SIGKILL');
  }, 10_000);
  await on.stop();
  clearTimeout(kill);
}

const ran = (text: string, on = gateway) => upstreamCalls(on, 'fixture', 'echo').filter((a) => a.text === text).length;
const approve = (id: string, on = gateway) => api(on.url, `/api/approvals/${id}/approve`, ALICE, { method: 'POST' });

/** Waits until the request is withdrawn, then checks why, that approving it now changes nothing, and that its call never ran. */
async function assertWithdrawn(id: string, text: string, why: RegExp, on = gateway): Promise<void> {
  // The API may answer 503 for a moment while the gateway reconnects to Redis.
  await until(
    `${id} to be withdrawn`,
    async () => {
      const { status, body } = await api(on.url, `/api/approvals/${id}`, ALICE);
      return status === 200 && body.approval?.state !== 'pending';
    },
    30_000,
  );
  const approval = await approvalOf(on, ALICE, id);
  assert.equal(approval.state, 'withdrawn', JSON.stringify(approval));
  assert.match(String(approval.decision_reason), why);
  const late = await approve(id, on);
  assert.equal(late.status, 409, JSON.stringify(late.body));
  assert.equal(late.body.error?.code, 'AIRLOCK_APPROVAL_DECIDED');
  assert.match(late.body.error?.message ?? '', /already withdrawn at /);
  assert.equal((await approvalOf(on, ALICE, id)).state, 'withdrawn');
  await sleep(300); // to show the upstream is not called late
  assert.equal(ran(text, on), 0, 'a withdrawn call must never reach the upstream');
}

test('heartbeats every 200 ms keep a client with resetTimeoutOnProgress and a 1 s timeout waiting through a 3 s hold; the approved call then succeeds', async () => {
  const progress: Progress[] = [];
  const started = performance.now();
  const call = track(
    client.callTool({ name: 'echo', arguments: { text: 'heartbeats' } }, undefined, {
      onprogress: (p) => progress.push(p),
      resetTimeoutOnProgress: true,
      timeout: 1_000,
    }),
  );
  const { id } = await pendingFor(gateway.url, ALICE, 'echo');
  await until('15 heartbeats (about 3 s)', () => progress.length >= 15 || call.settled, 30_000);
  const heldMs = Math.round(performance.now() - started);
  if (call.settled) assert.fail(`the call ended while held: ${await call.promise.then(JSON.stringify, String)}`);
  assert.ok(heldMs >= 2_500, `held only ${heldMs} ms`);
  assert.equal((await approve(id)).status, 200);
  const result = await call.promise;
  assert.equal(firstText(result), 'heartbeats');
  assert.equal(ran('heartbeats'), 1);

  console.log(
    `heartbeats: ${progress.length} progress notifications during a ${heldMs} ms hold; the first: ${JSON.stringify(progress[0])}`,
  );
  assert.ok(progress.length >= 5);
  progress.forEach((p, i) => {
    if (i > 0)
      assert.ok(p.progress > progress[i - 1]!.progress, `progress must increase: ${JSON.stringify(progress.map((q) => q.progress))}`);
    assert.match(
      String(p.message),
      new RegExp(`^Waiting for alice to approve fixture/echo in console \\(run: airlock approvals approve ${id}; expires \\d{4}-`),
    );
  });
});

test('without resetTimeoutOnProgress the 1 s client timeout fires, and its notifications/cancelled withdraws the request', async () => {
  const progress: Progress[] = [];
  const started = performance.now();
  await assert.rejects(
    client.callTool({ name: 'echo', arguments: { text: 'timed out' } }, undefined, { onprogress: (p) => progress.push(p), timeout: 1_000 }),
    (err: unknown) => err instanceof McpError && err.code === ErrorCode.RequestTimeout,
  );
  const ms = Math.round(performance.now() - started);
  assert.ok(ms >= 950, `the client timed out after ${ms} ms`);
  // However few a busy machine lets through in that second, heartbeats came and did not hold the client's timeout off.
  assert.ok(progress.length >= 1, 'heartbeats were sent before the timeout');
  const id = /\(run: airlock approvals approve (apr_[\w-]{22});/.exec(String(progress[0]?.message))?.[1];
  assert.ok(id, `the heartbeat names the approval id: ${JSON.stringify(progress[0])}`);
  await assertWithdrawn(id, 'timed out', /^the agent cancelled the call: .*timed out/i);
});

test('the agent dropping the HTTP connection of a held call withdraws the request', async () => {
  const session = await openSession(mcpUrl, AUTH);
  const controller = new AbortController();
  const response = fetch(mcpUrl, {
    method: 'POST',
    headers: { ...MCP_HEADERS, ...AUTH, 'mcp-session-id': session },
    body: JSON.stringify(toolCall(7, 'echo', { text: 'dropped' })),
    signal: controller.signal,
  }).then(async (r) => r.text());
  const { id } = await pendingFor(gateway.url, ALICE, 'echo');
  controller.abort();
  await assert.rejects(response, { name: 'AbortError' });
  await assertWithdrawn(id, 'dropped', /disconnected/);
  await (await fetch(mcpUrl, { method: 'DELETE', headers: { ...AUTH, 'mcp-session-id': session } })).body?.cancel();
});

test('the agent closing its session (DELETE) withdraws the request of a call held in it', async () => {
  const session = await openSession(mcpUrl, AUTH);
  const answer = send(mcpUrl, toolCall(3, 'echo', { text: 'session closed' }), { ...AUTH, 'mcp-session-id': session }).then(read);
  answer.catch(() => undefined);
  const { id } = await pendingFor(gateway.url, ALICE, 'echo');
  const deleted = await fetch(mcpUrl, { method: 'DELETE', headers: { ...AUTH, 'mcp-session-id': session } });
  await deleted.body?.cancel();
  assert.equal(deleted.status, 200);
  await assertWithdrawn(id, 'session closed', /session closed/);
  const settled = await answer.then(
    (a) => `HTTP ${a.status} ${JSON.stringify(a.messages)}`,
    (err: unknown) => `failed: ${String(err)}`,
  );
  console.log(`session closed: the open tools/call POST ended with ${settled}`);
});

test('Redis lost while a call is held: [UNAVAILABLE] after the grace, never sent; once Redis is back the request is withdrawn, not approved, and calls are held again', async () => {
  // Its own Redis (with its append-only file, so a restart keeps the requests) and a gateway whose held calls outlive
  // a lost Redis by max(1 s, 4 × redis.timeout) = 1.2 s.
  const redis = await startRedis({ appendonly: true });
  const lost = await startRecordingGateway({
    redis,
    policy: POLICY,
    agent: AGENT,
    admins: { alice: ALICE },
    config: [HEARTBEATS, 'redis: { timeout: 300ms }'],
  });
  try {
    const agent = await lost.connect('/mcp/fixture', AGENT);
    const held = track(agent.callTool({ name: 'echo', arguments: { text: 'redis lost' } }));
    const { id } = await pendingFor(lost.url, ALICE, 'echo');
    let downMs = -1;
    await redis.restart(async () => {
      const started = performance.now();
      // Ended while Redis is still away, by the grace: the call is not held until Redis comes back.
      const result = await Promise.race([held.promise, sleep(30_000).then(() => 'still held 30 s after Redis stopped')]);
      downMs = Math.round(performance.now() - started);
      const { text } = assertRefusal(result, 'UNAVAILABLE', { decision: 'unavailable', approval_id: id });
      assert.match(text, /Redis was unreachable for 1200 ms while the call waited for approval\. The call was not sent/);
    });
    console.log(`Redis lost: the held call ended [UNAVAILABLE] ${downMs} ms after Redis stopped (grace 1200 ms)`);
    assert.ok(downMs >= 1_000, `the held call ended after ${downMs} ms, before the grace`);

    // Redis is back; the gateway's clients reconnect within about a second. An admin approving at once (the CLI
    // works on Redis directly, like a second instance would) must change nothing: the call already ended.
    const early = await cli(['approvals', 'approve', id, '-c', join(lost.dir, 'airlock.yaml')], lost.dir, {
      REDIS_URL: redis.url,
      AIRLOCK_ADMIN_TOKEN: ALICE,
    });
    assert.equal(
      early.code,
      1,
      `an approval right after Redis came back released nothing but was accepted: ${early.stdout}${early.stderr}`,
    );
    assert.match(early.stderr, /already withdrawn/);
    await assertWithdrawn(id, 'redis lost', /lost Redis while holding the call|holding the call stopped/, lost);

    const again = track(agent.callTool({ name: 'echo', arguments: { text: 'after redis' } }));
    const next = await pendingFor(lost.url, ALICE, 'echo');
    assert.notEqual(next.id, id);
    assert.equal((await approve(next.id, lost)).status, 200);
    assert.equal(firstText(await again.promise), 'after redis');
    assert.equal(ran('after redis', lost), 1);
  } finally {
    await stopOrKill(lost);
    await redis.stop();
  }
});

test('a gateway told to stop (SIGTERM) while Redis is away exits, waiting neither for Redis nor for its shutdown timeout', async () => {
  const own = await startRedis();
  const other = await startGateway({
    redis: own,
    // A shutdown timeout no test waits out: a gateway that stops at all has not waited for it.
    config: `listen: { host: 127.0.0.1, port: 0, shutdown_timeout: 10m }\nservers:\n${recordingServer('fixture', 'policy.json')}redis: { timeout: 300ms }\n`,
    files: { [RECORDING_ENTRY]: RECORDING_SOURCE, 'policy.json': JSON.stringify({ version: '1', default: 'allow' }) },
  });
  const exited = new Promise<void>((resolve) => other.process.once('exit', () => resolve()));
  try {
    await own.restart(async () => {
      await until('the gateway to notice Redis is gone', () => other.logs.some((l) => String(l.msg).startsWith('lost Redis')), 30_000);
      const started = performance.now();
      other.process.kill('SIGTERM');
      const stopped = await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)]);
      console.log(
        `stopped while Redis is away: ${stopped ? `exited after ${Math.round(performance.now() - started)} ms` : 'still running 30 s after SIGTERM'}; last log: ${JSON.stringify(other.logs.at(-1)?.msg)}`,
      );
      assert.ok(stopped, 'airlock start must exit on SIGTERM while Redis is unreachable');
    });
  } finally {
    if (other.process.exitCode === null && other.process.signalCode === null) other.process.kill('SIGKILL');
    await other.stop();
    await own.stop();
  }
});
