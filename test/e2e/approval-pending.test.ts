import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { api } from '../support/approvals-api.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { until } from '../support/poll.js';
import { RECORDING_ENTRY, RECORDING_SOURCE, recordingServer, upstreamCalls } from '../support/recording-upstream.js';
import { assertRefusal, firstText } from '../support/refusal.js';

const AGENT = 'agent-token-0123456789';
const OTHER = 'other-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';

const policy = (echo: object) => ({ version: '1', default: 'deny', tools: { echo } });
// Two calls a session per hour: a charge for a repeat would show as a third call refused.
const HELD = {
  action: 'require_approval',
  reason: 'Echoes need a person',
  approval: { approvers: ['alice'] },
  rate_limit: { max: 2, window: '1h' },
};

let gateway: RunningGateway;
let agent: Client;

before(async () => {
  gateway = await startGateway({
    config: [
      `servers:\n${recordingServer('fixture', 'policy.json').trimEnd()}`,
      'grants:',
      `  - { name: agent, token: ${AGENT}, approval_pending: true }`,
      `  - { name: other, token: ${OTHER}, approval_pending: true }`,
      'admins:',
      `  - { name: alice, token: ${ALICE} }`,
      'approvals: { channel: console, timeout: 10m, pending: { window: 1m } }',
      '',
    ].join('\n'),
    files: { [RECORDING_ENTRY]: RECORDING_SOURCE, 'policy.json': JSON.stringify(policy(HELD)) },
  });
  agent = await gateway.connect('/mcp/fixture', AGENT);
});
after(() => gateway?.stop());

const ran = (text: string) => upstreamCalls(gateway, 'fixture', 'echo').filter((a) => a.text === text).length;
const approve = (id: string) => api(gateway.url, `/api/approvals/${id}/approve`, ALICE, { method: 'POST' });
const echo = (client: Client, text: string) => client.callTool({ name: 'echo', arguments: { text } });

/** Calls echo(text), checks the [APPROVAL PENDING] answer and returns its approval id. */
async function pending(client: Client, text: string): Promise<string> {
  const { text: said, meta } = assertRefusal(await echo(client, text), 'APPROVAL PENDING', {
    decision: 'approval_pending',
    server: 'fixture',
    tool: 'echo',
    approvers: ['alice'],
  });
  const id = String(meta.approval_id);
  assert.match(id, /^apr_/);
  assert.ok(said.includes(id) && said.includes('alice') && said.includes(String(meta.expires_at)), said);
  return id;
}

test('a held call is answered pending at once; repeats before the decision ask nobody again and are not charged; once approved, 50 racing repeats run it exactly once', async () => {
  // A flood of identical calls at once, then more repeats: one request, one charge.
  const ids = new Set(await Promise.all(Array.from({ length: 20 }, () => pending(agent, 'race'))));
  assert.equal(ids.size, 1, 'identical calls racing open one request');
  const [id = ''] = ids;
  for (let i = 0; i < 5; i++) assert.equal(await pending(agent, 'race'), id, 'a repeat before the decision names the same request');
  const { body } = await api(gateway.url, `/api/approvals?tool=echo&state=pending`, ALICE);
  assert.equal(body.approvals?.filter((a) => a.id === id).length, 1);
  assert.equal(body.approvals?.length, 1, 'repeats open no request of their own');
  assert.equal(ran('race'), 0);

  assert.equal((await approve(id)).status, 200);
  const answers = await Promise.all(Array.from({ length: 50 }, () => echo(agent, 'race')));
  const runs = answers.filter((a) => a.isError !== true);
  assert.equal(runs.length, 1, `exactly one repeat runs: ${JSON.stringify(answers.map(firstText))}`);
  assert.equal(firstText(runs[0]), 'race');
  const decision = (runs[0]?._meta as Record<string, Record<string, unknown>>)['airlock/decision'];
  assert.equal(decision?.approval_id, id);
  assert.equal(decision?.decision, 'approved');
  for (const other of answers.filter((a) => a.isError === true))
    assertRefusal(other, 'APPROVAL USED', { approval_id: id, decision: 'used' });
  assert.equal(ran('race'), 1, "the fixture's call log shows one run");

  // One charge so far (the first call): a second call is admitted, a third refused.
  await pending(agent, 'second');
  assertRefusal(await echo(agent, 'third'), 'RATE LIMITED', {});
  const record = await api(gateway.url, `/api/approvals/${id}`, ALICE);
  assert.equal((record.body.approval as Record<string, unknown>).state, 'approved');
});

test('a repeat from another grant, another session of the grant, or with other arguments, does not run under the approval: each is a call of its own', async () => {
  const client = await gateway.connect('/mcp/fixture', AGENT);
  const sibling = await gateway.connect('/mcp/fixture', AGENT);
  const other = await gateway.connect('/mcp/fixture', OTHER);
  try {
    const id = await pending(client, 'bound');
    assert.equal((await approve(id)).status, 200);
    const theirs = await pending(other, 'bound');
    assert.notEqual(theirs, id, "another grant's identical call never sees this grant's approval");
    assert.notEqual(await pending(sibling, 'bound'), id, 'another session of the grant is another call (approvals.pending.bind: session)');
    const changed = await pending(client, 'bound!');
    assert.notEqual(changed, id, 'other arguments are a new call');
    assert.equal(ran('bound'), 0);
    assert.equal(ran('bound!'), 0);
    assert.equal(firstText(await echo(client, 'bound')), 'bound', 'the call itself still runs under its approval');
    assert.equal(ran('bound'), 1);
  } finally {
    await client.close();
    await sibling.close();
    await other.close();
  }
});

test('a reload that denies the tool before the repeat wins over the approval, and a reviewer approving after it changes nothing', async () => {
  const client = await gateway.connect('/mcp/fixture', AGENT);
  try {
    const id = await pending(client, 'reloaded');
    const mark = gateway.logs.length;
    writeFileSync(join(gateway.dir, 'policy.json'), JSON.stringify(policy({ action: 'deny', reason: 'Echoes are off' })));
    await until('the policy to reload', () => gateway.logs.slice(mark).some((l) => l.msg === 'policy reloaded'));
    assert.equal((await approve(id)).status, 200);
    assertRefusal(await echo(client, 'reloaded'), 'POLICY DENIED', { decision: 'deny' });
    assert.equal(ran('reloaded'), 0, 'the denied call never reaches the upstream');
  } finally {
    const mark = gateway.logs.length;
    writeFileSync(join(gateway.dir, 'policy.json'), JSON.stringify(policy(HELD)));
    await until('the policy to reload', () => gateway.logs.slice(mark).some((l) => l.msg === 'policy reloaded'));
    await client.close();
  }
});

test('a rejected pending call: its repeat is told who rejected it, and the next identical call asks anew', async () => {
  const client = await gateway.connect('/mcp/fixture', AGENT);
  try {
    const id = await pending(client, 'rejected');
    const rejected = await api(gateway.url, `/api/approvals/${id}/reject`, ALICE, { method: 'POST', body: { reason: 'not today' } });
    assert.equal(rejected.status, 200, JSON.stringify(rejected.body));
    const { text } = assertRefusal(await echo(client, 'rejected'), 'APPROVAL REJECTED', { approval_id: id, decision: 'rejected' });
    assert.match(text, /alice: not today/);
    assert.notEqual(await pending(client, 'rejected'), id);
    assert.equal(ran('rejected'), 0);
  } finally {
    await client.close();
  }
});
