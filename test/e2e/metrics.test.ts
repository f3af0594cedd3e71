import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { api, pendingFor } from '../support/approvals-api.js';
import { startFixtureGateway, FIXTURE_ADMIN, FIXTURE_AGENT } from '../support/fixture-gateway.js';
import type { RunningGateway } from '../support/gateway.js';
import { track } from '../support/held-call.js';
import { until } from '../support/poll.js';
import { metricValue, scrape, type Sample } from '../support/prometheus.js';
import { assertRefusal, firstText } from '../support/refusal.js';

const AGENT = FIXTURE_AGENT;
const ADMIN = FIXTURE_ADMIN;
const POLICY = {
  version: '1',
  default: 'deny',
  hide: ['pid'],
  tools: {
    echo: { deny_if: [{ path: 'args.text', op: 'eq', value: 'forbidden' }], reason: 'That word is forbidden' },
    start_dicom_export_job: { limits: [{ counter: 'exports', window: 'hour', max: 1 }] },
    sleep: { action: 'require_approval', reason: 'Sleeping needs a person' },
  },
};

let gateway: RunningGateway;
let agent: Client;

before(async () => {
  gateway = await startFixtureGateway(POLICY, 'metrics: { listen: { host: 127.0.0.1, port: 0 } }');
  agent = await gateway.connect('/mcp/fx', AGENT);
});
after(() => gateway?.stop());

const calls = (samples: Sample[], tool: string, decision: string) =>
  metricValue(samples, 'airlock_calls_total', { server: 'fx', tool, decision });
const echo = (text: string) => agent.callTool({ name: 'echo', arguments: { text } });

async function decideNext(verdict: 'approve' | 'reject'): Promise<void> {
  const pending = await pendingFor(gateway.url, ADMIN, 'sleep');
  const { status } = await api(gateway.url, `/api/approvals/${pending.id}/${verdict}`, ADMIN, {
    method: 'POST',
    body: verdict === 'reject' ? { reason: 'not now' } : {},
  });
  assert.equal(status, 200);
}

test('/metrics counts every call by server, tool and how it ended, and splits its time into Airlock and upstream', async () => {
  for (const text of ['a', 'b', 'c']) assert.equal(firstText(await echo(text)), text);
  for (let i = 0; i < 2; i++) assertRefusal(await echo('forbidden'), 'POLICY DENIED', { decision: 'deny' });
  assert.match(firstText(await agent.callTool({ name: 'start_dicom_export_job', arguments: {} })), /^export job/);
  for (let i = 0; i < 2; i++)
    assertRefusal(await agent.callTool({ name: 'start_dicom_export_job', arguments: {} }), 'RATE LIMITED', { decision: 'rate_limited' });
  await assert.rejects(agent.callTool({ name: 'pid' }), /Unknown tool: pid/);
  await assert.rejects(agent.callTool({ name: 'no_such_tool_0042' }), /Unknown tool/);

  const approved = track(agent.callTool({ name: 'sleep', arguments: { ms: 1 } }));
  await until(
    'the held call to show in airlock_held_calls',
    async () => metricValue((await scrape(gateway.url, ADMIN)).samples, 'airlock_held_calls') === 1,
  );
  await decideNext('approve');
  assert.equal(firstText(await approved.promise), 'slept 1 ms');
  const rejected = agent.callTool({ name: 'sleep', arguments: { ms: 2 } });
  await decideNext('reject');
  assertRefusal(await rejected, 'APPROVAL REJECTED', { decision: 'rejected' });

  const { status, contentType, samples } = await scrape(gateway.url, ADMIN);
  assert.equal(status, 200);
  assert.match(contentType ?? '', /^text\/plain; version=0\.0\.4/);
  assert.equal(calls(samples, 'echo', 'allowed'), 3);
  assert.equal(calls(samples, 'echo', 'denied'), 2);
  assert.equal(calls(samples, 'start_dicom_export_job', 'allowed'), 1);
  assert.equal(calls(samples, 'start_dicom_export_job', 'rate_limited'), 2);
  assert.equal(calls(samples, 'pid', 'hidden'), 1);
  assert.equal(calls(samples, '(unknown)', 'unknown'), 1, 'a tool the server does not have is counted without its agent-chosen name');
  assert.equal(calls(samples, 'sleep', 'approved'), 1);
  assert.equal(calls(samples, 'sleep', 'rejected'), 1);
  assert.equal(metricValue(samples, 'airlock_calls_total'), 12, 'every call is counted once');
  assert.equal(metricValue(samples, 'airlock_rate_limited_total', { server: 'fx', counter: 'exports' }), 2);

  // Every call spent time in Airlock; only the five released calls spent time upstream.
  assert.equal(metricValue(samples, 'airlock_call_duration_seconds_count', { server: 'fx', part: 'airlock' }), 12);
  assert.equal(metricValue(samples, 'airlock_call_duration_seconds_count', { server: 'fx', part: 'upstream' }), 5);
  assert.equal(metricValue(samples, 'airlock_approval_wait_seconds_count', { outcome: 'approved' }), 1);
  assert.equal(metricValue(samples, 'airlock_approval_wait_seconds_count', { outcome: 'rejected' }), 1);
  assert.equal(metricValue(samples, 'airlock_held_calls'), 0);
  assert.equal(metricValue(samples, 'airlock_upstream_up', { server: 'fx' }), 1);
  assert.equal(metricValue(samples, 'airlock_redis_up'), 1);
  assert.equal(metricValue(samples, 'airlock_build_info', { version: '0.1.0', node: process.version }), 1);
  assert.ok(metricValue(samples, 'process_resident_memory_bytes') > 0, 'the process metrics are there');
  assert.ok(
    samples.some((s) => s.name === 'nodejs_eventloop_lag_max_seconds'),
    'the event-loop delay is there',
  );
});

test('policy reloads are counted, ok and failed', async () => {
  const file = join(gateway.dir, 'fx.json');
  const reloads = async (result: string) =>
    metricValue((await scrape(gateway.url, ADMIN)).samples, 'airlock_policy_reloads_total', { server: 'fx', result });
  writeFileSync(file, JSON.stringify({ ...POLICY, tools: { ...POLICY.tools, pid: {} } }));
  await until('the good reload to be counted', async () => (await reloads('ok')) === 1);
  writeFileSync(file, '{ "version": "1", "tools": { "echo": { "action": "maybe" } } }');
  await until('the failed reload to be counted', async () => (await reloads('failed')) === 1);
  writeFileSync(file, JSON.stringify(POLICY));
  await until('the restored policy to be counted', async () => (await reloads('ok')) === 2);
});

test('/metrics on the gateway port needs an admin token; an agent token is not enough', async () => {
  for (const token of [undefined, AGENT, 'nonsense']) {
    const { status, samples } = await scrape(gateway.url, token);
    assert.equal(status, 401, `token ${token ?? '(none)'}`);
    assert.deepEqual(samples, []);
  }
});

test('metrics.listen serves the same metrics without a token on its own port, and nothing else', async () => {
  const line = gateway.logs.find((l) => l.msg === 'metrics listening');
  const url = String(line?.url).replace(/\/metrics$/, '');
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const { status, samples } = await scrape(url);
  assert.equal(status, 200);
  assert.ok(metricValue(samples, 'airlock_calls_total', { server: 'fx' }) >= 12);
  for (const path of ['/mcp/fx', '/api/approvals', '/readyz']) assert.equal((await fetch(`${url}${path}`)).status, 404, path);
});
