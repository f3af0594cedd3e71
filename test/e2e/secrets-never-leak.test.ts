import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { streamEntries, waitForEvents } from '../support/audit-stream.js';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack.js';
import { track } from '../support/held-call.js';
import { until } from '../support/poll.js';
import { assertRefusal, firstText } from '../support/refusal.js';
import { ADMIN, AGENT, approvalIdIn, startSlackGateway, type SlackGateway } from '../support/slack-gateway.js';
import { blockActions, sendInteraction } from '../support/slack-interactions.js';

const ALICE = 'U0ALICE';
/** 200 letters from g–z and G–Z: no hex digest, UUID or approval id can hold a piece of it by chance. */
const LETTERS = 'ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ';
const SECRET = `g${Array.from({ length: 199 }, (_, i) => LETTERS[(i * 7 + 3) % LETTERS.length]).join('')}`;
/** Every 8-character piece of the secret: none may appear anywhere a person or a log shipper reads. */
const PIECES = Array.from({ length: SECRET.length - 7 }, (_, i) => SECRET.slice(i, i + 8));

/** Conditions that quote the argument they test, in reasons the agent, Slack and the trail see. */
const POLICY = {
  version: '1',
  default: 'deny',
  tools: {
    list_allowed_directories: {},
    write_file: { approve_if: [{ path: 'args.api_key', op: 'starts_with', value: 'g' }], reason: 'Keys need a person' },
    edit_file: { deny_if: [{ path: 'args.path', op: 'contains', value: 'sk-' }] },
    move_file: { deny_if: [{ path: 'args.password', op: 'starts_with', value: 'g' }] },
  },
};

let slack: FakeSlack;
let gateway: SlackGateway;
let client: Client;
const answers: unknown[] = [];

before(async () => {
  slack = await startFakeSlack({ users: { [ALICE]: { name: 'alice' } } });
  gateway = await startSlackGateway({ slack, approvers: [ALICE], servers: { fs: POLICY }, config: 'audit: { file: ./audit.jsonl }' });
  client = await gateway.connect('/mcp/fs', AGENT);
});
after(async () => {
  await gateway?.stop();
  await slack?.close();
});

function assertNoPiece(where: string, text: string): void {
  const found = PIECES.find((piece) => text.includes(piece));
  assert.equal(found, undefined, `${where} holds a piece of the secret: ${found}`);
}

test('a 200-character secret under a redacted key, and as an sk- token inside another string, reaches no person or store in any 8-character piece', async () => {
  // Denied, each quoting the value it tested: under a secret key, and inside a path.
  const moved = await client.callTool({ name: 'move_file', arguments: { source: 'a.txt', destination: 'b.txt', password: SECRET } });
  assertRefusal(moved, 'POLICY DENIED', { rule: 'tools.move_file.deny_if[0]' });
  const edited = await client.callTool({ name: 'edit_file', arguments: { path: `/tmp/notes sk-${SECRET} end`, edits: [] } });
  assertRefusal(edited, 'POLICY DENIED', { rule: 'tools.edit_file.deny_if[0]' });
  answers.push(moved, edited);

  // Held, its reason quoting the key; approved in Slack, then run.
  const from = slack.calls.length;
  const path = join(gateway.sandbox, 'with-key.txt');
  const held = track(client.callTool({ name: 'write_file', arguments: { path, content: 'public text', api_key: SECRET } }));
  const posted = await slack.waitFor('chat.postMessage', () => true, { from });
  await sendInteraction(gateway.url, blockActions({ user: ALICE, action: 'approve', approvalId: approvalIdIn(posted) }));
  const written = await held.promise;
  assert.notEqual((written as { isError?: boolean }).isError, true, firstText(written));
  answers.push(written);
  await until('the message to show the result', () =>
    slack.callsTo('chat.update').some((c) => /The server (ran the call|answered with an error)/.test(JSON.stringify(c.body.blocks))),
  );

  const events = await waitForEvents(
    gateway.redis.url,
    'every step on record',
    (all) => all.filter((e) => e.event === 'denied').length >= 2 && all.some((e) => e.event === 'executed'),
  );
  assert.ok(
    events.some((e) => e.event === 'approval_requested' && /\[redacted\]/.test(e.reason ?? '')),
    'the quoted value shows as [redacted]',
  );
  const mirror = join(gateway.dir, 'audit.jsonl');
  await until('the mirror to copy the trail', () => readFileSync(mirror, 'utf8').includes('"executed"'));

  assertNoPiece("the agent's answers", JSON.stringify(answers));
  for (const call of slack.calls) assertNoPiece(`Slack ${call.method}`, `${call.raw}\n${JSON.stringify(call.body)}`);
  assertNoPiece('the audit stream', JSON.stringify(await streamEntries(gateway.redis.url)));
  assertNoPiece('the JSON-lines mirror', readFileSync(mirror, 'utf8'));
  assertNoPiece('the logs', JSON.stringify(gateway.logs));
  const metrics = await fetch(`${gateway.url}/metrics`, { headers: { Authorization: `Bearer ${ADMIN}` } });
  assertNoPiece('/metrics', await metrics.text());
});
