import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { api } from '../support/approvals-api.js';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack.js';
import { approvalOf, assertStillHeld, track } from '../support/held-call.js';
import { until } from '../support/poll.js';
import { metricValue, scrape } from '../support/prometheus.js';
import { assertRefusal } from '../support/refusal.js';
import { ADMIN, AGENT, approvalIdIn, startSlackGateway, writeFilePolicy, type SlackGateway } from '../support/slack-gateway.js';
import { blockActions, deliver, sendInteraction, signed, viewSubmission } from '../support/slack-interactions.js';

const ALICE = 'U0ALICE';
const MALLORY = 'U0MALLORY';

let slack: FakeSlack;
let gateway: SlackGateway;
let client: Client;
let guarded: Client;

before(async () => {
  slack = await startFakeSlack({ users: { [ALICE]: { name: 'alice' }, [MALLORY]: { name: 'mallory' } } });
  gateway = await startSlackGateway({
    slack,
    approvers: [ALICE, 'alice'],
    servers: { filesystem: writeFilePolicy(), guarded: writeFilePolicy({ approvers: [ALICE] }) },
  });
  client = await gateway.connect('/mcp/filesystem', AGENT);
  guarded = await gateway.connect('/mcp/guarded', AGENT);
});
after(async () => {
  await gateway?.stop();
  await slack?.close();
});

async function held(file: string, on: Client = client) {
  const from = slack.calls.length;
  const path = join(gateway.sandbox, file);
  const controller = new AbortController();
  const call = track(on.callTool({ name: 'write_file', arguments: { path, content: 'never' } }, undefined, { signal: controller.signal }));
  const id = approvalIdIn(await slack.waitFor('chat.postMessage', () => true, { from }));
  return { call, path, id, cancel: () => controller.abort('test done') };
}

/** The `decision_refused` events recorded so far for `id`, newest last. */
async function refusals(
  id?: string,
): Promise<{ reason?: string; approval_id?: string; approvers?: { id: string }[]; channel?: string; detail?: string }[]> {
  const { status, body } = await api(
    gateway.url,
    `/api/audit?decision=decision_refused&limit=1000${id ? `&approval_id=${id}` : ''}`,
    ADMIN,
  );
  assert.equal(status, 200, JSON.stringify(body));
  return body.events as never;
}

async function refusedAudited(match: RegExp, id?: string): Promise<void> {
  await until(`a decision_refused event matching ${match}`, async () =>
    (await refusals(id)).some((e) => e.channel === 'slack' && match.test(`${e.reason} ${e.detail ?? ''}`)),
  );
}

test('a bad signature is answered 401, audited, and releases nothing', async () => {
  const { call, path, id, cancel } = await held('forged.txt');
  const forged = signed(blockActions({ user: ALICE, action: 'approve', approvalId: id }), { secret: 'not-the-signing-secret' });
  assert.equal((await deliver(gateway.url, forged)).status, 401);
  const unsigned = signed(blockActions({ user: ALICE, action: 'approve', approvalId: id }));
  delete unsigned.headers['X-Slack-Signature'];
  assert.equal((await deliver(gateway.url, unsigned)).status, 401);
  await refusedAudited(/bad signature/);
  await refusedAudited(/not signed/);
  const { samples } = await scrape(gateway.url, ADMIN);
  assert.ok(metricValue(samples, 'airlock_slack_requests_refused_total', { reason: 'bad_signature' }) >= 1, 'counted for alerting');
  assert.ok(metricValue(samples, 'airlock_slack_requests_refused_total', { reason: 'unsigned' }) >= 1);
  await assertStillHeld(gateway, ADMIN, id, call, 'after forged clicks');
  assert.equal(existsSync(path), false);
  cancel();
});

test('a timestamp more than 5 minutes old (or ahead) is refused 401 even with a good signature', async () => {
  const { call, id, cancel } = await held('stale.txt');
  const now = Math.floor(Date.now() / 1000);
  for (const timestampS of [now - 6 * 60, now + 6 * 60]) {
    const request = signed(blockActions({ user: ALICE, action: 'approve', approvalId: id }), { timestampS });
    assert.equal((await deliver(gateway.url, request)).status, 401, `timestamp ${timestampS - now} s from now`);
  }
  await refusedAudited(/stale/);
  await assertStillHeld(gateway, ADMIN, id, call, 'after stale clicks');
  cancel();
});

test('a replayed payload is refused 401 and not processed a second time', async () => {
  const { call, id, cancel } = await held('replayed.txt');
  const from = slack.calls.length;
  const click = signed(blockActions({ user: ALICE, action: 'reject', approvalId: id }));
  assert.equal((await deliver(gateway.url, click)).status, 200);
  await slack.waitFor('views.open', () => true, { from });
  assert.equal((await deliver(gateway.url, click)).status, 401);
  await refusedAudited(/replayed/, id);
  assert.ok(metricValue((await scrape(gateway.url, ADMIN)).samples, 'airlock_slack_requests_refused_total', { reason: 'replayed' }) >= 1);
  assert.equal(slack.callsTo('views.open').filter((c) => c.at >= slack.calls[from]!.at).length, 1, 'the modal opened once');
  await assertStillHeld(gateway, ADMIN, id, call, 'after a replay');
  cancel();
});

test('an action for an unknown request gets an ephemeral answer and changes nothing', async () => {
  const from = slack.calls.length;
  const unknown = 'apr_AAAAAAAAAAAAAAAAAAAAAA';
  assert.equal((await sendInteraction(gateway.url, blockActions({ user: ALICE, action: 'approve', approvalId: unknown }))).status, 200);
  const told = await slack.waitFor('chat.postEphemeral', (c) => c.body.user === ALICE, { from });
  assert.match(String(told.body.text), /no approval request/);
  await refusedAudited(/unknown approval request/, unknown);
});

test('a late click on a decided request is told who decided first, and changes nothing', async () => {
  const { call, id } = await held('decided.txt');
  assert.equal((await api(gateway.url, `/api/approvals/${id}/reject`, ADMIN, { method: 'POST', body: { reason: 'no' } })).status, 200);
  assertRefusal(await call.promise, 'APPROVAL REJECTED', { decision: 'rejected' });
  const from = slack.calls.length;
  assert.equal((await sendInteraction(gateway.url, blockActions({ user: ALICE, action: 'approve', approvalId: id }))).status, 200);
  const told = await slack.waitFor('chat.postEphemeral', (c) => c.body.user === ALICE, { from });
  assert.match(String(told.body.text), /Too late: .* was already rejected by `alice` \(console\)/);
  const approval = await approvalOf(gateway, ADMIN, id);
  assert.equal(approval.state, 'rejected');
  assert.equal((approval.votes as unknown[]).length, 1);
  await refusedAudited(/too late/, id);
});

test('a payload from another Slack team is acknowledged and ignored', async () => {
  const { call, id, cancel } = await held('other-team.txt');
  const from = slack.calls.length;
  assert.equal(
    (await sendInteraction(gateway.url, blockActions({ user: ALICE, action: 'approve', approvalId: id, team: 'T0OTHER' }))).status,
    200,
  );
  await refusedAudited(/T0OTHER/, id);
  assert.deepEqual(
    slack.calls.slice(from).map((c) => c.method),
    [],
    'nothing is posted to another workspace',
  );
  await assertStillHeld(gateway, ADMIN, id, call, 'after another team clicked');
  cancel();
});

test('malformed JSON is answered 400; a signed payload that is not an Airlock interaction is acknowledged and ignored', async () => {
  const { call, id, cancel } = await held('malformed.txt');
  assert.equal((await deliver(gateway.url, signed(undefined, { body: 'payload=%7Bnot%20json' }))).status, 400);
  await refusedAudited(/not JSON/);
  const bad = blockActions({ user: ALICE, action: 'approve', approvalId: id });
  (bad.actions as { value: string }[])[0]!.value = `${id}'; drop`;
  assert.equal((await sendInteraction(gateway.url, bad)).status, 200);
  const shortcut = { type: 'shortcut', team: { id: 'T0AIRLOCK' }, user: { id: ALICE }, callback_id: 'x', trigger_id: 't' };
  assert.equal((await sendInteraction(gateway.url, shortcut)).status, 200);
  await until(
    'two refusals of payloads Airlock does not handle',
    async () => (await refusals()).filter((e) => /not an interaction Airlock handles/.test(e.reason ?? '')).length >= 2,
  );
  await assertStillHeld(gateway, ADMIN, id, call, 'after malformed payloads');
  cancel();
});

test('a click by a user who is not in approvers changes nothing and is told so', async () => {
  const { call, id, cancel } = await held('guarded.txt', guarded);
  const from = slack.calls.length;
  assert.equal((await sendInteraction(gateway.url, blockActions({ user: MALLORY, action: 'approve', approvalId: id }))).status, 200);
  const told = await slack.waitFor('chat.postEphemeral', (c) => c.body.user === MALLORY, { from });
  assert.match(String(told.body.text), /you are not an approver for this tool/i);
  await refusedAudited(/not an approver/, id);
  const event = (await refusals(id)).find((e) => /not an approver/.test(e.reason ?? ''));
  assert.deepEqual(
    event?.approvers?.map((a) => a.id),
    [MALLORY],
  );
  await assertStillHeld(gateway, ADMIN, id, call, 'after a non-approver clicked');
  cancel();
});

test('a reason submitted for a request withdrawn meanwhile changes nothing, and the reviewer is told why', async () => {
  const { call, id, cancel } = await held('withdrawn.txt');
  const from = slack.calls.length;
  await sendInteraction(gateway.url, blockActions({ user: ALICE, action: 'reject', approvalId: id }));
  const opened = await slack.waitFor('views.open', () => true, { from });
  cancel();
  await call.promise.catch(() => undefined);
  await until('the request to be withdrawn', async () => (await approvalOf(gateway, ADMIN, id)).state === 'withdrawn');
  await slack.waitFor(
    'chat.update',
    (c) =>
      JSON.stringify(c.body.blocks).includes(id) &&
      /\*Withdrawn\* <!date.*: the agent cancelled the call/.test(JSON.stringify(c.body.blocks)),
    { from },
  );
  const metadata = (opened.body.view as { private_metadata: string }).private_metadata;
  const submitted = slack.calls.length;
  const answer = await sendInteraction(gateway.url, viewSubmission({ user: ALICE, privateMetadata: metadata, reason: 'too late anyway' }));
  assert.deepEqual(answer, { status: 200, text: '' }, 'the modal closes');
  const told = await slack.waitFor('chat.postEphemeral', (c) => c.body.user === ALICE, { from: submitted });
  assert.match(String(told.body.text), /already withdrawn/);
  assert.equal(told.body.channel, 'C0APPROVALS', 'in the channel the Reject click came from');
  const approval = await approvalOf(gateway, ADMIN, id);
  assert.equal(approval.state, 'withdrawn');
  assert.deepEqual(approval.votes, []);
  await refusedAudited(/too late: the request was already withdrawn/, id);
});
