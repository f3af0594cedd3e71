import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { api, pendingFor } from '../support/approvals-api.js';
import { waitForEvents } from '../support/audit-stream.js';
import { startFixtureGateway, FIXTURE_ADMIN, FIXTURE_AGENT } from '../support/fixture-gateway.js';
import type { RunningGateway } from '../support/gateway.js';
import { track } from '../support/held-call.js';
import { until, within } from '../support/poll.js';
import { metricValue, scrape } from '../support/prometheus.js';
import { INITIALIZE, only, post } from '../support/raw-mcp.js';
import { assertRefusal, firstText } from '../support/refusal.js';

const AGENT = FIXTURE_AGENT;
const ADMIN = FIXTURE_ADMIN;
/** The fixture's `sleep` runs upstream as long as asked; its export job is held for approval. */
const POLICY = {
  version: '1',
  default: 'allow',
  tools: { start_dicom_export_job: { action: 'require_approval', reason: 'Exports need a person' } },
};

/** A 2026-07-28 tools/call: no session, its protocol named in _meta. */
const MODERN_ECHO = {
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: {
    name: 'echo',
    arguments: { text: 'no session' },
    _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} },
  },
};

/** How long the call in flight runs upstream: time enough, on a busy machine, for the checks made while it runs. */
const IN_FLIGHT_MS = 4_000;

const inFlight = async (gateway: RunningGateway) => metricValue((await scrape(gateway.url, ADMIN)).samples, 'airlock_calls_in_flight');
const exitCode = (gateway: RunningGateway) =>
  gateway.process.exitCode !== null
    ? Promise.resolve(gateway.process.exitCode)
    : once(gateway.process, 'exit').then(([code]) => code as number | null);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('SIGTERM: /readyz goes 503 at once, new sessions and calls are refused, held calls are withdrawn with a reason, calls in flight finish, upstreams close, exit 0', async () => {
  const gateway = await startFixtureGateway(POLICY);
  try {
    const agent = await gateway.connect('/mcp/fx', AGENT);
    const upstreamPid = Number(firstText(await agent.callTool({ name: 'pid' })));
    const running = track(agent.callTool({ name: 'sleep', arguments: { ms: IN_FLIGHT_MS } }));
    const held = track(agent.callTool({ name: 'start_dicom_export_job', arguments: { datastore: 'imaging' } }));
    const pending = await pendingFor(gateway.url, ADMIN, 'start_dicom_export_job');
    await until('both calls to be in flight', async () => (await inFlight(gateway)) === 2);

    gateway.process.kill('SIGTERM');
    await until('/readyz to answer 503', async () => (await fetch(`${gateway.url}/readyz`)).status === 503, 30_000, 5);
    assert.equal(running.settled, false, 'at once: /readyz is 503 while the call in flight still runs');
    const readiness = (await (await fetch(`${gateway.url}/readyz`, { headers: { Authorization: `Bearer ${ADMIN}` } })).json()) as {
      ready: boolean;
      stopping?: boolean;
    };
    assert.deepEqual({ ready: readiness.ready, stopping: readiness.stopping }, { ready: false, stopping: true });

    const { text, meta } = assertRefusal(await held.promise, 'UNAVAILABLE', { decision: 'withdrawn', approval_id: pending.id });
    assert.match(text, /withdrawn: Airlock is shutting down; call again and a new request will be opened\. The call was not sent\./);

    const refusedSession = await post(`${gateway.url}/mcp/fx`, INITIALIZE, { Authorization: `Bearer ${AGENT}` });
    assert.equal(refusedSession.status, 503);
    assert.equal(refusedSession.headers.get('retry-after'), '1');
    assert.match(only(refusedSession).error?.message ?? '', /shutting down and opens no new sessions/);
    assert.deepEqual(only(refusedSession).error?.data, { airlock_code: 'AIRLOCK_SHUTTING_DOWN' });
    // A 2026 client has no session to refuse: its next request is.
    const refusedRequest = await post(`${gateway.url}/mcp/fx`, MODERN_ECHO, {
      Authorization: `Bearer ${AGENT}`,
      'MCP-Protocol-Version': '2026-07-28',
      'Mcp-Method': 'tools/call',
      'Mcp-Name': 'echo',
    });
    assert.equal(refusedRequest.status, 503);
    assert.equal(refusedRequest.headers.get('retry-after'), '1');
    assert.match(only(refusedRequest).error?.message ?? '', /shutting down and takes no new requests/);

    const late = assertRefusal(await agent.callTool({ name: 'echo', arguments: { text: 'too late' } }), 'UNAVAILABLE', {
      decision: 'unavailable',
    });
    assert.match(late.text, /Airlock is shutting down and takes no new calls\. The call was not sent/);
    assert.equal(running.settled, false, 'the call already upstream is still running');

    assert.equal(firstText(await running.promise), `slept ${IN_FLIGHT_MS} ms`, 'the call in flight finished with its own result');
    assert.equal(await exitCode(gateway), 0);
    assert.ok(
      !gateway.logs.some((l) => l.msg === 'calls still in flight at the shutdown timeout are cut off'),
      'it stopped once the call finished, not at the shutdown timeout',
    );
    assert.ok(gateway.logs.some((l) => l.msg === 'airlock stopped'));
    await until('the upstream process to be gone', () => !alive(upstreamPid), 30_000);

    const events = await waitForEvents(gateway.redis.url, 'the withdrawn event', (all) =>
      all.some((e) => e.event === 'withdrawn' && e.approval_id === pending.id),
    );
    const withdrawn = events.find((e) => e.event === 'withdrawn' && e.approval_id === pending.id);
    assert.match(String(withdrawn?.reason), /Airlock is shutting down/);
    assert.equal(meta.approval_id, pending.id);
  } finally {
    await gateway.stop();
  }
});

test('a call still upstream at listen.shutdown_timeout is cut off, and the gateway still exits 0', async () => {
  const gateway = await startFixtureGateway(POLICY, 'listen: { host: 127.0.0.1, port: 0, shutdown_timeout: 300ms }');
  try {
    const agent = await gateway.connect('/mcp/fx', AGENT);
    const running = track(agent.callTool({ name: 'sleep', arguments: { ms: 30_000 } }));
    await until('the call to be in flight', async () => (await inFlight(gateway)) === 1);
    gateway.process.kill('SIGTERM');
    assert.equal(await exitCode(gateway), 0);
    assert.equal(running.settled, false, 'the call did not finish');
    assert.ok(gateway.logs.some((l) => l.msg === 'calls still in flight at the shutdown timeout are cut off' && l.in_flight === 1));
    const events = await waitForEvents(gateway.redis.url, 'the cut-off call to be audited', (all) =>
      all.some((e) => e.event === 'withdrawn' && e.tool === 'sleep'),
    );
    assert.match(
      String(events.find((e) => e.event === 'withdrawn' && e.tool === 'sleep')?.reason),
      /Airlock shut down while the server ran the call/,
    );
  } finally {
    await gateway.stop();
  }
});

test('a second SIGTERM stops at once instead of waiting out the shutdown timeout', async () => {
  const gateway = await startFixtureGateway(POLICY, 'listen: { host: 127.0.0.1, port: 0, shutdown_timeout: 10m }');
  try {
    const agent = await gateway.connect('/mcp/fx', AGENT);
    const running = track(agent.callTool({ name: 'sleep', arguments: { ms: 600_000 } }));
    await until('the call to be in flight', async () => (await inFlight(gateway)) === 1);
    gateway.process.kill('SIGTERM');
    await until('/readyz to answer 503', async () => (await fetch(`${gateway.url}/readyz`)).status === 503, 30_000, 5);
    gateway.process.kill('SIGTERM');
    // The shutdown timeout is 10 minutes and the call sleeps 10 more: a gateway that exits at all did not wait for either.
    assert.equal(await within(60_000, 'the exit after the second SIGTERM', exitCode(gateway)), 0);
    assert.equal(running.settled, false, 'the call did not finish');
    assert.ok(gateway.logs.some((l) => l.msg === 'second signal: not waiting for calls in flight'));
  } finally {
    await gateway.stop();
  }
});

test('the admin API still answers while the gateway drains, so a reviewer sees the withdrawn request', async () => {
  const gateway = await startFixtureGateway(POLICY);
  try {
    const agent = await gateway.connect('/mcp/fx', AGENT);
    const running = track(agent.callTool({ name: 'sleep', arguments: { ms: IN_FLIGHT_MS } }));
    const held = track(agent.callTool({ name: 'start_dicom_export_job', arguments: {} }));
    const pending = await pendingFor(gateway.url, ADMIN, 'start_dicom_export_job');
    await until('both calls to be in flight', async () => (await inFlight(gateway)) === 2);
    gateway.process.kill('SIGTERM');
    await held.promise;
    const { status, body } = await api(gateway.url, `/api/approvals/${pending.id}`, ADMIN);
    assert.equal(status, 200);
    assert.equal(body.approval?.state, 'withdrawn');
    assert.match(String(body.approval?.decision_reason), /Airlock is shutting down/);
    const approve = await api(gateway.url, `/api/approvals/${pending.id}/approve`, ADMIN, { method: 'POST', body: {} });
    assert.equal(approve.status, 409, 'a withdrawn request cannot be approved');
    await running.promise;
    assert.equal(await exitCode(gateway), 0);
  } finally {
    await gateway.stop();
  }
});
