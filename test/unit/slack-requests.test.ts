import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { claimOf, formatMessageRef, InteractionSchema, parseMessageRef, teamOf } from '../../src/channels/slack/payloads.js';
import { checkSlackRequest, parseSlackBody } from '../../src/channels/slack/request-guard.js';
import { blockActions, viewSubmission } from '../support/slack-interactions.js';

const SECRET = 'unit-signing-secret';
const NOW_S = 1_764_090_000;
const ID = 'apr_AAAAAAAAAAAAAAAAAAAAAA';
const BODY = 'payload=%7B%22type%22%3A%22block_actions%22%7D';

function sign(body: string, timestamp: string | number, secret = SECRET, version = 'v0'): string {
  return `${version}=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

const requestCases: { name: string; headers: Record<string, string>; body?: string; ok: boolean; reason?: RegExp }[] = [
  {
    name: 'a request signed now is accepted',
    headers: { 'x-slack-request-timestamp': String(NOW_S), 'x-slack-signature': sign(BODY, NOW_S) },
    ok: true,
  },
  {
    name: 'signed 4 min ago is still accepted',
    headers: { 'x-slack-request-timestamp': String(NOW_S - 240), 'x-slack-signature': sign(BODY, NOW_S - 240) },
    ok: true,
  },
  { name: 'no signature', headers: { 'x-slack-request-timestamp': String(NOW_S) }, ok: false, reason: /not signed/ },
  { name: 'no timestamp', headers: { 'x-slack-signature': sign(BODY, NOW_S) }, ok: false, reason: /not signed/ },
  {
    name: 'a timestamp that is not a number',
    headers: { 'x-slack-request-timestamp': '12abc', 'x-slack-signature': sign(BODY, '12abc') },
    ok: false,
    reason: /not a number/,
  },
  {
    name: 'signed 6 min ago (stale)',
    headers: { 'x-slack-request-timestamp': String(NOW_S - 360), 'x-slack-signature': sign(BODY, NOW_S - 360) },
    ok: false,
    reason: /stale/,
  },
  {
    name: 'signed 6 min ahead (would outlive the replay record)',
    headers: { 'x-slack-request-timestamp': String(NOW_S + 360), 'x-slack-signature': sign(BODY, NOW_S + 360) },
    ok: false,
    reason: /stale/,
  },
  {
    name: 'signed with another secret',
    headers: { 'x-slack-request-timestamp': String(NOW_S), 'x-slack-signature': sign(BODY, NOW_S, 'other-secret') },
    ok: false,
    reason: /bad signature/,
  },
  {
    name: 'the body changed after signing',
    headers: { 'x-slack-request-timestamp': String(NOW_S), 'x-slack-signature': sign(BODY, NOW_S) },
    body: `${BODY}x`,
    ok: false,
    reason: /bad signature/,
  },
  {
    name: 'the timestamp changed after signing',
    headers: { 'x-slack-request-timestamp': String(NOW_S + 1), 'x-slack-signature': sign(BODY, NOW_S) },
    ok: false,
    reason: /bad signature/,
  },
  {
    name: 'an unknown signature version',
    headers: { 'x-slack-request-timestamp': String(NOW_S), 'x-slack-signature': sign(BODY, NOW_S, SECRET, 'v1') },
    ok: false,
    reason: /bad signature/,
  },
];

for (const c of requestCases) {
  test(`request check: ${c.name}`, () => {
    const result = checkSlackRequest(SECRET, c.headers, c.body ?? BODY, NOW_S * 1000);
    assert.equal(result.ok, c.ok, JSON.stringify(result));
    if (!result.ok && c.reason) assert.match(result.reason, c.reason);
  });
}

const bodyCases: { name: string; body: string; type?: string; value?: unknown; error?: RegExp }[] = [
  {
    name: 'interactivity: a form with a JSON payload',
    body: new URLSearchParams({ payload: '{"type":"block_actions"}' }).toString(),
    type: 'application/x-www-form-urlencoded',
    value: { type: 'block_actions' },
  },
  {
    name: 'a form without payload (ssl_check)',
    body: 'ssl_check=1&token=x',
    type: 'application/x-www-form-urlencoded',
    value: { ssl_check: '1', token: 'x' },
  },
  { name: 'a JSON body', body: '{"type":"url_verification"}', type: 'application/json', value: { type: 'url_verification' } },
  { name: 'a payload that is not JSON', body: 'payload=%7Bnot', type: 'application/x-www-form-urlencoded', error: /not JSON/ },
  { name: 'a JSON body that is not JSON', body: '{', type: 'application/json', error: /not JSON/ },
];

for (const c of bodyCases) {
  test(`body: ${c.name}`, () => {
    const result = parseSlackBody(c.body, c.type);
    if (c.error) {
      assert.equal(result.ok, false);
      if (!result.ok) assert.match(result.reason, c.error);
    } else assert.deepEqual(result, { ok: true, value: c.value });
  });
}

const metadata = JSON.stringify({ id: ID, channel: 'C0APPROVALS' });
const click = (change: (payload: Record<string, unknown>) => void = () => undefined) => {
  const payload = blockActions({ user: 'U0ALICE', action: 'approve', approvalId: ID });
  change(payload);
  return payload;
};

const interactionCases: { name: string; payload: unknown; ok: boolean }[] = [
  { name: 'an Approve click', payload: click(), ok: true },
  { name: 'a Reject click', payload: blockActions({ user: 'U0ALICE', action: 'reject', approvalId: ID }), ok: true },
  { name: 'an enterprise user (W…)', payload: blockActions({ user: 'W0ALICE', action: 'approve', approvalId: ID }), ok: true },
  {
    name: 'a modal submission with a reason',
    payload: viewSubmission({ user: 'U0ALICE', privateMetadata: metadata, reason: 'no' }),
    ok: true,
  },
  {
    name: 'a modal submission without a reason',
    payload: viewSubmission({ user: 'U0ALICE', privateMetadata: metadata, reason: null }),
    ok: true,
  },
  {
    name: 'another action id',
    payload: click((p) => ((p.actions as { action_id: string }[])[0]!.action_id = 'something_else')),
    ok: false,
  },
  {
    name: 'two actions in one payload',
    payload: click((p) => (p.actions = [...(p.actions as unknown[]), ...(p.actions as unknown[])])),
    ok: false,
  },
  { name: 'no actions', payload: click((p) => (p.actions = [])), ok: false },
  {
    name: 'a value that is not an approval id',
    payload: click((p) => ((p.actions as { value: string }[])[0]!.value = 'apr_short')),
    ok: false,
  },
  { name: 'no user', payload: click((p) => delete p.user), ok: false },
  { name: 'a user id that is not one', payload: click((p) => (p.user = { id: 'admin' })), ok: false },
  { name: 'no channel', payload: click((p) => delete p.channel), ok: false },
  { name: 'no trigger_id', payload: click((p) => delete p.trigger_id), ok: false },
  {
    name: 'a shortcut',
    payload: { type: 'shortcut', team: { id: 'T0AIRLOCK' }, user: { id: 'U0ALICE' }, callback_id: 'x', trigger_id: 't' },
    ok: false,
  },
  { name: 'not an object', payload: 'block_actions', ok: false },
  {
    name: 'a modal of another app',
    payload: {
      ...viewSubmission({ user: 'U0ALICE', privateMetadata: metadata, reason: 'x' }),
      view: { callback_id: 'other', private_metadata: metadata, state: { values: {} } },
    },
    ok: false,
  },
  { name: 'private_metadata that is not JSON', payload: viewSubmission({ user: 'U0ALICE', privateMetadata: '{', reason: 'x' }), ok: false },
  {
    name: 'private_metadata with a bad approval id',
    payload: viewSubmission({ user: 'U0ALICE', privateMetadata: JSON.stringify({ id: 'x', channel: 'C1' }), reason: 'x' }),
    ok: false,
  },
  {
    name: 'a reason longer than a modal allows',
    payload: viewSubmission({ user: 'U0ALICE', privateMetadata: metadata, reason: 'r'.repeat(3_001) }),
    ok: false,
  },
];

for (const c of interactionCases) {
  test(`interaction: ${c.name} is ${c.ok ? 'accepted' : 'refused'}`, () => {
    const result = InteractionSchema.safeParse(c.payload);
    assert.equal(result.success, c.ok, result.success ? 'parsed' : JSON.stringify(result.error.issues));
  });
}

test('teamOf: the payload team, else the user team (org-wide apps send team null)', () => {
  assert.equal(teamOf(InteractionSchema.parse(click())), 'T0AIRLOCK');
  assert.equal(teamOf(InteractionSchema.parse(click((p) => (p.team = null)))), 'T0AIRLOCK');
  assert.equal(teamOf(InteractionSchema.parse(click((p) => ((p.team = null), (p.user = { id: 'U0ALICE' }))))), undefined);
});

test('claimOf reads who and which request a payload names, without trusting its shape', () => {
  assert.deepEqual(claimOf(click()), { user: 'U0ALICE', approvalId: ID });
  assert.deepEqual(claimOf(viewSubmission({ user: 'U0BOB', privateMetadata: metadata, reason: null })), { user: 'U0BOB', approvalId: ID });
  assert.deepEqual(claimOf({ user: { id: 'nobody' }, actions: [{ value: 'drop table' }] }), {});
  assert.deepEqual(claimOf('junk'), {});
});

test('a message ref round-trips, and anything else read back from Redis is no ref', () => {
  assert.deepEqual(parseMessageRef(formatMessageRef('C0APPROVALS', '1700000001.000100')), {
    channel: 'C0APPROVALS',
    ts: '1700000001.000100',
  });
  for (const bad of [undefined, '', 'C0/notats', 'c0lower/1.2', 'C0/1.2/3']) assert.equal(parseMessageRef(bad), undefined, String(bad));
});
