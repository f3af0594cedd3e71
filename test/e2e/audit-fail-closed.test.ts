import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { api, pendingFor } from '../support/approvals-api.js';
import { AUDIT_HEAD, streamEvents, waitForEvents, withRedis } from '../support/audit-stream.js';
import type { RunningGateway } from '../support/gateway.js';
import { approvalOf, track } from '../support/held-call.js';
import { startRecordingGateway, upstreamCalls } from '../support/recording-upstream.js';
import { assertRefusal, firstText } from '../support/refusal.js';
import { cli } from '../support/run-cli.js';

const AGENT = 'agent-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';
const POLICY = {
  version: '1',
  default: 'deny',
  tools: { echo: {}, start_dicom_export_job: { action: 'require_approval', reason: 'Exports need a person' } },
};

let gateway: RunningGateway;
let agent: Client;

before(async () => {
  gateway = await startRecordingGateway({
    policy: POLICY,
    agent: AGENT,
    admins: { alice: ALICE },
    config: ['approvals: { channel: console, timeout: 10m }'],
  });
  agent = await gateway.connect('/mcp/fixture', AGENT);
});
after(() => gateway?.stop());

const exportsReached = (datastore: string) =>
  upstreamCalls(gateway, 'fixture', 'start_dicom_export_job').filter((a) => a.datastore === datastore).length;
const approve = (id: string) => api(gateway.url, `/api/approvals/${id}/approve`, ALICE, { method: 'POST', body: { reason: 'go ahead' } });

/**
 * Makes every audit append fail while the rest of Redis (approvals, rate
 * limits) works: the append script reads the chain head first, and a head it
 * cannot parse makes it fail before it writes anything. Returns the undo.
 */
async function breakAuditWrites(): Promise<() => Promise<void>> {
  const head = await withRedis(gateway.redis.url, (redis) => redis.get(AUDIT_HEAD));
  assert.ok(head, 'the trail has a head');
  await withRedis(gateway.redis.url, (redis) => redis.set(AUDIT_HEAD, 'not-a-chain-head'));
  return () => withRedis(gateway.redis.url, async (redis) => void (await redis.set(AUDIT_HEAD, head)));
}

test('a held call whose approved event cannot be written is not released: the agent gets [UNAVAILABLE] and the server never sees the call', async () => {
  const held = track(agent.callTool({ name: 'start_dicom_export_job', arguments: { datastore: 'must-not-run' } }));
  const { id } = await pendingFor(gateway.url, ALICE, 'start_dicom_export_job');
  await waitForEvents(gateway.redis.url, 'the approval_requested event', (all) =>
    all.some((e) => e.event === 'approval_requested' && e.approval_id === id),
  );

  const restore = await breakAuditWrites();
  try {
    // Calls that only record events are not held up by the trail.
    assert.equal(
      firstText(await agent.callTool({ name: 'echo', arguments: { text: 'while the trail is down' } })),
      'while the trail is down',
    );
    const decided = await approve(id);
    assert.equal(decided.status, 200, JSON.stringify(decided.body));
    const { text } = assertRefusal(await held.promise, 'UNAVAILABLE', { decision: 'unavailable', approval_id: id });
    assert.match(
      text,
      new RegExp(
        `^\\[UNAVAILABLE\\] ${id} was approved, but Airlock could not write the approval to its audit trail \\(.+\\), so the call was not sent; retry later\\.$`,
      ),
    );
    assert.equal(exportsReached('must-not-run'), 0, 'the upstream never saw the call');
    const shown = await approvalOf(gateway, ALICE, id);
    assert.equal(shown.state, 'approved');
    assert.deepEqual((shown.execution as { result?: string } | null)?.result, 'refused');
    assert.match(String((shown.execution as { detail?: string }).detail), /audit/, 'the request says why it was not sent');
  } finally {
    await restore();
  }

  // Once the trail takes events again, what was queued is written, in order, in one unbroken chain.
  const events = await waitForEvents(
    gateway.redis.url,
    'the unavailable event of the approval',
    (all) => all.some((e) => e.event === 'unavailable' && e.approval_id === id),
    15_000,
  );
  const ofApproval = events.filter((e) => e.approval_id === id).map((e) => e.event);
  console.log(`events of ${id} once the trail is back: ${ofApproval.join(' → ')}`);
  assert.equal(ofApproval[0], 'approval_requested');
  assert.equal(ofApproval.at(-1), 'unavailable');
  assert.ok(!ofApproval.includes('executed'), 'no executed event: nothing was sent');
  const unavailable = events.find((e) => e.event === 'unavailable' && e.approval_id === id)!;
  assert.match(unavailable.detail ?? '', /the approved event could not be written\b.*, so the call was not sent/);
  const echoed = events.filter((e) => e.tool === 'echo').map((e) => e.event);
  assert.deepEqual(echoed, ['allowed', 'executed'], 'the events recorded during the outage are not lost');
  const verified = await cli(['audit', 'verify', '-c', join(gateway.dir, 'airlock.yaml')], gateway.dir, { REDIS_URL: gateway.redis.url });
  assert.equal(verified.code, 0, verified.stderr);
  assert.equal(exportsReached('must-not-run'), 0, 'still never sent');
});

test('once the trail takes events again, the next approved call is released and audited as usual', async () => {
  const held = track(agent.callTool({ name: 'start_dicom_export_job', arguments: { datastore: 'after-recovery' } }));
  const { id } = await pendingFor(gateway.url, ALICE, 'start_dicom_export_job');
  assert.equal((await approve(id)).status, 200);
  assert.match(firstText(await held.promise), /^export job \w+ started$/);
  assert.equal(exportsReached('after-recovery'), 1);
  const events = await waitForEvents(gateway.redis.url, 'the executed event', (all) =>
    all.some((e) => e.event === 'executed' && e.approval_id === id),
  );
  assert.deepEqual(
    events.filter((e) => e.approval_id === id).map((e) => e.event),
    ['approval_requested', 'approved', 'executed'],
  );
  assert.equal((await streamEvents(gateway.redis.url)).map((e) => e.seq).join(), events.map((_, i) => i + 1).join());
});
