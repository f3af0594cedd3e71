import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, pendingFor } from '../support/approvals-api.js';
import { configTree } from '../support/config-tree.js';
import { startFixtureGateway, FIXTURE_ADMIN, FIXTURE_AGENT } from '../support/fixture-gateway.js';
import { until } from '../support/poll.js';
import { airlock } from '../support/run-cli.js';

const AGENT = FIXTURE_AGENT;
const ADMIN = FIXTURE_ADMIN;
const SECRET = 'hunter2-very-secret-value';

test('every log line about a held call carries its request_id, and its approval_id once held; secrets in its arguments are never logged', async () => {
  const gateway = await startFixtureGateway(
    { version: '1', default: 'allow', tools: { start_dicom_export_job: { action: 'require_approval', reason: 'Exports need a person' } } },
    'log: { level: debug }',
  );
  try {
    const agent = await gateway.connect('/mcp/fx', AGENT);
    const call = agent.callTool({ name: 'start_dicom_export_job', arguments: { datastore: 'imaging', password: SECRET } });
    const pending = await pendingFor(gateway.url, ADMIN, 'start_dicom_export_job');
    assert.equal((await api(gateway.url, `/api/approvals/${pending.id}/approve`, ADMIN, { method: 'POST', body: {} })).status, 200);
    const result = (await call) as { _meta?: Record<string, { request_id?: string }> };
    const requestId = result._meta?.['airlock/decision']?.request_id;
    assert.ok(requestId);
    assert.equal(pending.request_id, requestId, 'the approvals API links the request to the call');
    // The console channel hears of the execution just after the agent's answer went out.
    await until('the execution to reach the console channel', () =>
      gateway.logs.some((l) => l.approval_id === pending.id && /the call ran: ok$/.test(String(l.msg))),
    );

    const aboutTheCall = gateway.logs.filter((l) => l.request_id === requestId || l.approval_id === pending.id);
    const messages = aboutTheCall.map((l) => String(l.msg));
    for (const expected of ['call held for approval', 'approval granted: releasing the call', 'call executed'])
      assert.ok(messages.includes(expected), `a line "${expected}" in ${JSON.stringify(messages)}`);
    assert.ok(
      messages.some((m) => m.startsWith('approval needed: fx/start_dicom_export_job')),
      'the console channel line',
    );
    assert.ok(
      aboutTheCall.some((l) => l.admin === 'alice' && l.verdict === 'approve'),
      `the admin's decision in ${JSON.stringify(messages)}`,
    );
    assert.ok(
      messages.some((m) => /^approval apr_\S+ approved by alice; the call ran: ok$/.test(m)),
      `the console channel's update in ${JSON.stringify(messages)}`,
    );
    for (const line of aboutTheCall) {
      assert.equal(line.request_id, requestId, `request_id on ${JSON.stringify(line)}`);
      assert.equal(line.approval_id, pending.id, `approval_id on ${JSON.stringify(line)}`);
    }
    assert.ok(!JSON.stringify(gateway.logs).includes(SECRET), 'the secret argument is in no log line');
  } finally {
    await gateway.stop();
  }
});

test('AIRLOCK_LOG_PRETTY=1 writes lines for a person instead of JSON; a bad AIRLOCK_LOG_LEVEL is refused naming it', async () => {
  const { dir } = configTree(
    ['servers:', '  fx:', '    command: node', '    policy: fx.json', 'redis: { url: "redis://127.0.0.1:1" }', ''].join('\n'),
    { 'fx.json': '{"version":"1"}' },
  );
  const pretty = await airlock(['start', '-c', `${dir}/airlock.yaml`], dir, { ...process.env, AIRLOCK_LOG_PRETTY: '1' });
  assert.equal(pretty.code, 1);
  assert.match(pretty.stdout, /INFO.*: starting airlock/);
  assert.doesNotMatch(pretty.stdout, /^\{/m, 'no JSON lines');

  const bad = await airlock(['start', '-c', `${dir}/airlock.yaml`], dir, { ...process.env, AIRLOCK_LOG_LEVEL: 'loud' });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /AIRLOCK_LOG_LEVEL: "loud" is not a log level/);
});
