import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { api } from '../support/approvals-api.js';
import { waitForEvents } from '../support/audit-stream.js';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack.js';
import { assertStillHeld, approvalOf, track } from '../support/held-call.js';
import { assertRefusal, firstText } from '../support/refusal.js';
import { ADMIN, AGENT, approvalIdIn, shown, startSlackGateway, writeFilePolicy, type SlackGateway } from '../support/slack-gateway.js';
import { blockActions, sendInteraction } from '../support/slack-interactions.js';

const ALICE = 'U0ALICE';
const BOB = 'U0BOB';
const USERS = { [ALICE]: { name: 'alice', real_name: 'Alice Smith' }, [BOB]: { name: 'bob', real_name: 'Bob Jones' } };

/** Where no approvers list applies (the rules name none, the config has no approvals.approvers). */
let open: { slack: FakeSlack; gateway: SlackGateway; clients: Record<string, Client> };
/** approvals.approvers: [Alice]; Alice's Slack user and the admin alice are one person. */
let listed: { slack: FakeSlack; gateway: SlackGateway; clients: Record<string, Client> };

async function start(servers: Record<string, unknown>, extra: { approvers?: string[]; people?: string[] } = {}) {
  const slack = await startFakeSlack({ users: USERS });
  const gateway = await startSlackGateway({ slack, servers, ...extra });
  const clients: Record<string, Client> = {};
  for (const name of Object.keys(servers)) clients[name] = await gateway.connect(`/mcp/${name}`, AGENT);
  return { slack, gateway, clients };
}

before(async () => {
  [open, listed] = await Promise.all([
    start({ quick: writeFilePolicy({ timeout: '3s' }), plain: writeFilePolicy() }),
    start(
      {
        fs: writeFilePolicy(),
        ruled: writeFilePolicy({ approvers: [BOB] }),
        pair: writeFilePolicy({ min_approvals: 2, approvers: ['Alice', 'Bob'] }),
      },
      { approvers: [ALICE], people: [`{ name: Alice, slack: [${ALICE}], admins: [alice] }`, `{ name: Bob, slack: [${BOB}] }`] },
    ),
  ]);
});
after(async () => {
  for (const side of [open, listed]) {
    await side?.gateway.stop();
    await side?.slack.close();
  }
});

/** Starts a write_file call through `side` and waits for its message in Slack. */
async function held(side: typeof open, server: string, file: string) {
  const from = side.slack.calls.length;
  const path = join(side.gateway.sandbox, file);
  const call = track(side.clients[server]!.callTool({ name: 'write_file', arguments: { path, content: `written through ${server}` } }));
  const posted = await side.slack.waitFor('chat.postMessage', () => true, { from });
  return { call, path, posted, id: approvalIdIn(posted), from };
}

const click = (side: typeof open, user: string, id: string, action: 'approve' | 'reject' = 'approve') =>
  sendInteraction(side.gateway.url, blockActions({ user, action, approvalId: id }));
const toldPrivately = (side: typeof open, user: string, from: number, text: RegExp) =>
  side.slack.waitFor('chat.postEphemeral', (c) => c.body.user === user && text.test(String(c.body.text)), { from });

test('no approvers list applies: a Slack click is refused, saying why and which key to set; the call stays held, then expires, and nothing ran', async () => {
  const { call, path, posted, id, from } = await held(open, 'quick', 'nolist.txt');
  assert.match(shown(posted), /console admins only/, 'the message still tells reviewers of the request, and who may decide it');
  assert.equal((await click(open, ALICE, id)).status, 200);
  const told = await toldPrivately(open, ALICE, from, /Only console admins can decide/);
  assert.match(String(told.body.text), /approvals\.approvers/);
  assert.match(String(told.body.text), /approval\.approvers/);
  await assertStillHeld(open.gateway, ADMIN, id, call, 'after a Slack user clicked Approve');
  assert.equal((await click(open, BOB, id, 'reject')).status, 200);
  await toldPrivately(open, BOB, from, /Only console admins can decide/);
  assert.equal(open.slack.callsTo('views.open').length, 0, 'no reason form opens for a click that cannot decide');

  assertRefusal(await call.promise, 'APPROVAL EXPIRED', { decision: 'expired', approval_id: id });
  assert.equal(existsSync(path), false, 'nothing was written');
  const refusedOf = (events: Awaited<ReturnType<typeof waitForEvents>>) =>
    events.filter((e) => e.event === 'decision_refused' && e.approval_id === id);
  const refused = refusedOf(await waitForEvents(open.gateway.redis.url, 'both refusals', (events) => refusedOf(events).length === 2));
  assert.deepEqual(
    refused.map((e) => [e.approvers?.[0]?.id, e.reason]),
    [
      [ALICE, 'no approvers list applies to this call: only console admins decide it'],
      [BOB, 'no approvers list applies to this call: only console admins decide it'],
    ],
  );
});

test('no approvers list applies: a console admin still decides', async () => {
  const { call, path, id } = await held(open, 'plain', 'console.txt');
  const decided = await api(open.gateway.url, `/api/approvals/${id}/approve`, ADMIN, { method: 'POST', body: {} });
  assert.equal(decided.status, 200, JSON.stringify(decided.body));
  const result = await call.promise;
  assert.notEqual((result as { isError?: boolean }).isError, true, firstText(result));
  assert.equal(readFileSync(path, 'utf8'), 'written through plain');
});

test("approvals.approvers lists Alice: her click releases the call, another user's does not", async () => {
  const { call, path, posted, id, from } = await held(listed, 'fs', 'listed.txt');
  assert.ok(shown(posted).includes(`<@${ALICE}>`), 'the message names the approvers');
  await click(listed, BOB, id);
  await toldPrivately(listed, BOB, from, /not an approver for this tool/);
  await assertStillHeld(listed.gateway, ADMIN, id, call, 'after a user not listed clicked Approve');
  await click(listed, ALICE, id);
  const result = await call.promise;
  assert.notEqual((result as { isError?: boolean }).isError, true, firstText(result));
  assert.equal(readFileSync(path, 'utf8'), 'written through fs');
  assert.equal((await approvalOf(listed.gateway, ADMIN, id)).approvers_from, 'config');
});

test("a rule's approvers replace approvals.approvers, in every channel", async () => {
  const { call, path, id, from } = await held(listed, 'ruled', 'ruled.txt');
  await click(listed, ALICE, id);
  await toldPrivately(listed, ALICE, from, /not an approver for this tool/);
  const console = await api(listed.gateway.url, `/api/approvals/${id}/approve`, ADMIN, { method: 'POST', body: {} });
  assert.deepEqual(
    [console.status, console.body.error?.code],
    [403, 'AIRLOCK_NOT_APPROVER'],
    "the admin alice (Alice) is not on the rule's list either",
  );
  assert.match(console.body.error?.message ?? '', /^Alice \(admin alice\) is not an approver for ruled\/write_file \(approvers: U0BOB\)/);
  await assertStillHeld(listed.gateway, ADMIN, id, call, 'after Alice tried through Slack and the console');
  await click(listed, BOB, id);
  const result = await call.promise;
  assert.notEqual((result as { isError?: boolean }).isError, true, firstText(result));
  assert.equal(readFileSync(path, 'utf8'), 'written through ruled');
  assert.equal((await approvalOf(listed.gateway, ADMIN, id)).approvers_from, 'rule');
});

test("min_approvals 2 counts people: Alice in Slack and Alice on the console are one vote; Bob's releases the call, and the audit names both people", async () => {
  const { call, path, id, from } = await held(listed, 'pair', 'pair.txt');
  await click(listed, ALICE, id);
  await toldPrivately(listed, ALICE, from, /1 of 2 approvals/);
  const again = await api(listed.gateway.url, `/api/approvals/${id}/approve`, ADMIN, { method: 'POST', body: {} });
  assert.equal(again.status, 409, JSON.stringify(again.body));
  assert.match(again.body.error?.message ?? '', /already approved by Alice \(as Slack user U0ALICE\)/);
  const halfway = await approvalOf(listed.gateway, ADMIN, id);
  assert.deepEqual([halfway.state, (halfway.votes as unknown[]).length], ['pending', 1]);
  assert.equal(call.settled, false, 'one person is one approval, whichever identities they use');

  await click(listed, BOB, id);
  const result = await call.promise;
  assert.notEqual((result as { isError?: boolean }).isError, true, firstText(result));
  assert.equal(readFileSync(path, 'utf8'), 'written through pair');

  const events = await waitForEvents(
    listed.gateway.redis.url,
    'the approved and refused events',
    (all) =>
      all.some((e) => e.event === 'approved' && e.approval_id === id) &&
      all.some((e) => e.event === 'decision_refused' && e.approval_id === id),
  );
  const approved = events.find((e) => e.event === 'approved' && e.approval_id === id)!;
  assert.deepEqual(
    approved.approvers?.map((a) => [a.person, a.id, a.via]),
    [
      ['Alice', ALICE, 'slack'],
      ['Bob', BOB, 'slack'],
    ],
  );
  const refused = events.find((e) => e.event === 'decision_refused' && e.approval_id === id)!;
  assert.deepEqual(
    refused.approvers?.map((a) => [a.person, a.id, a.via]),
    [['Alice', 'alice', 'console']],
    'the refusal names the person and the identity used',
  );
  assert.match(refused.reason ?? '', /already approved by Alice/);
});
