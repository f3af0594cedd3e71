import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import express from 'express';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import type { AuditInput, AuditRecorder } from '../../src/audit/index.js';
import { SlackDirectory } from '../../src/channels/slack/directory.js';
import { slackKeys } from '../../src/channels/slack/keys.js';
import { slackRequestGuard } from '../../src/channels/slack/request-guard.js';
import { webClientOptions } from '../../src/channels/slack/web-client.js';
import { connectRedis } from '../../src/redis/index.js';
import { webApi } from '@slack/bolt';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { blockActions, deliver, signed, SIGNING_SECRET } from '../support/slack-interactions.js';

const logger = pino({ level: 'silent' });
const PREFIX = '{airlock}:';
const ID = 'apr_AAAAAAAAAAAAAAAAAAAAAA';

/** Keeps what would go to the audit trail, for assertions. */
class RecordedAudit implements AuditRecorder {
  readonly events: AuditInput[] = [];
  record(input: AuditInput): void {
    this.events.push(input);
  }
  async commit(input: AuditInput): Promise<void> {
    this.events.push(input);
  }
}

let redis: TestRedis;
let client: Redis;
let slack: FakeSlack;
const servers: Server[] = [];

before(async () => {
  redis = await startRedis();
  client = await connectRedis({ url: redis.url, logger, commandTimeoutMs: 2_000 });
  slack = await startFakeSlack({ users: { U0ALICE: { name: 'alice', display_name: 'Al' } }, groups: { S0OPS: ['U0ALICE'] } });
});
after(async () => {
  for (const server of servers) server.close();
  client.disconnect();
  await redis.stop();
  await slack.close();
});

/**
 * One gateway instance's /slack/events: the guard, then a handler that answers "passed" (where Bolt would run). Its
 * Redis deadline is one a loaded test machine keeps, unless a test means to run into it.
 */
async function instance(
  audit: AuditRecorder,
  {
    now = Date.now,
    guarded = {},
    redisTimeoutMs = 5_000,
  }: { now?: () => number; guarded?: { flush?: () => void }; redisTimeoutMs?: number } = {},
): Promise<string> {
  const app = express();
  const guard = slackRequestGuard({
    signingSecret: SIGNING_SECRET,
    redis: client,
    keys: slackKeys(PREFIX),
    redisTimeoutMs,
    audit,
    logger,
    now,
  });
  guarded.flush = guard.flush;
  app.post('/slack/events', ...guard.handlers, (req, res) => {
    res.send(`passed ${(req as express.Request & { rawBody?: Buffer }).rawBody?.length ?? 0}`);
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('a signed request is accepted once: replayed to another instance sharing Redis, it is refused 401 and audited', async () => {
  const audit = new RecordedAudit();
  const [a, b] = [await instance(audit), await instance(audit)];
  const request = signed(blockActions({ user: 'U0ALICE', action: 'approve', approvalId: ID }));
  const first = await deliver(a, request);
  assert.equal(first.status, 200);
  assert.equal(first.text, `passed ${Buffer.byteLength(request.body)}`, 'the raw body is handed on to Bolt');
  assert.equal((await deliver(b, request)).status, 401);
  assert.equal((await deliver(a, request)).status, 401);
  const replays = audit.events.filter((e) => /replayed/.test(e.reason ?? ''));
  assert.equal(replays.length, 2);
  assert.deepEqual(replays[0], {
    event: 'decision_refused',
    channel: 'slack',
    reason: 'replayed request: this signed payload was already received',
    approval_id: ID,
    approvers: [{ id: 'U0ALICE', via: 'slack' }],
    detail: replays[0]!.detail,
  });
  assert.equal(
    (
      await deliver(
        b,
        signed(blockActions({ user: 'U0ALICE', action: 'approve', approvalId: ID }), { timestampS: Math.floor(Date.now() / 1000) - 1 }),
      )
    ).status,
    200,
    'another signed request passes',
  );
});

test('a flood of forged requests: each is refused 401, but the trail gets the first of each kind in full and then one summary with the count', async () => {
  const audit = new RecordedAudit();
  let now = Date.now();
  const guarded: { flush?: () => void } = {};
  const url = await instance(audit, { now: () => now, guarded });
  const forged = () =>
    signed(blockActions({ user: 'U0ALICE', action: 'approve', approvalId: ID }), {
      secret: 'not-the-secret',
      timestampS: Math.floor(now / 1000),
    });
  const unsigned = { body: 'payload=%7B%7D', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } };
  const statuses = new Set<number>();
  for (let i = 0; i < 300; i++) statuses.add((await deliver(url, i % 3 === 0 ? unsigned : forged())).status);
  assert.deepEqual([...statuses], [401]);
  assert.deepEqual(
    audit.events.map((e) => e.reason?.replace(/ \(.*/, '')),
    ['the request is not signed', 'bad signature'],
    'the first of each kind, in full',
  );
  assert.match(audit.events[0]!.detail ?? '', /body sha256 [0-9a-f]{64}/);

  // A minute later the next forged request opens a new window, and the one before is summed up.
  now += 60_000;
  assert.equal((await deliver(url, forged())).status, 401);
  const summary = audit.events.find((e) => /more requests refused the same way \(bad signature\)/.test(e.reason ?? ''));
  assert.match(
    summary?.reason ?? '',
    /^199 more requests refused the same way \(bad signature\) from \S+Z to \S+Z, not audited one by one/,
  );
  assert.equal(audit.events.filter((e) => /^bad signature/.test(e.reason ?? '')).length, 2, "the new window's first, in full");

  // Stopping writes what is still counted.
  guarded.flush?.();
  assert.match(audit.events.at(-1)?.reason ?? '', /^99 more requests refused the same way \(not signed\)/);
  assert.equal(audit.events.length, 5);
});

test('the replay record lives exactly as long as the request timestamp is accepted (plus a minute for clock differences)', async () => {
  const audit = new RecordedAudit();
  const url = await instance(audit);
  const fourMinutesAgo = Math.floor(Date.now() / 1000) - 240;
  const request = signed(blockActions({ user: 'U0ALICE', action: 'reject', approvalId: ID }), { timestampS: fourMinutesAgo });
  const sent = Date.now();
  assert.equal((await deliver(url, request)).status, 200);
  // The record ends at the timestamp + 300 s + 60 s, measured from when the guard read the clock; Redis starts the
  // count when the SET lands, later by however busy the machine was. So what is left of it when asked is at least
  // that moment less the time Redis answered, and at most that moment less the time the request was sent
  // (a millisecond or two of rounding aside): never shorter than the timestamp is accepted.
  const endsAt = (fourMinutesAgo + 300 + 60) * 1000;
  const ttl = await client.pttl(slackKeys(PREFIX).seen(String(fourMinutesAgo), request.body));
  const answered = Date.now();
  assert.ok(
    ttl >= endsAt - answered - 2 && ttl <= endsAt - sent + 2,
    `ttl ${ttl} ms, expected ${endsAt - answered} to ${endsAt - sent} ms`,
  );
});

test('Redis out of reach: the replay check cannot be made, so the request is refused 503, not let through', async () => {
  const audit = new RecordedAudit();
  const url = await instance(audit, { redisTimeoutMs: 500 });
  redis.pause();
  try {
    const answer = await deliver(url, signed(blockActions({ user: 'U0ALICE', action: 'approve', approvalId: ID })));
    assert.equal(answer.status, 503);
    assert.match(audit.events.at(-1)?.reason ?? '', /replay check could not reach Redis/);
  } finally {
    redis.resume();
  }
});

test('users.info and usergroups.users.list are cached briefly; a group Slack will not list is reported, not assumed', async () => {
  let now = 1_000_000;
  const web = new webApi.WebClient('xoxb-test', webClientOptions(slack.apiUrl, logger));
  const directory = new SlackDirectory(web, logger, () => now);
  const from = slack.calls.length;
  assert.equal(await directory.nameOf('U0ALICE'), 'Al');
  assert.equal(await directory.nameOf('U0ALICE'), 'Al');
  assert.equal(await directory.nameOf('U0NOBODY'), undefined);
  assert.deepEqual(await directory.membership('U0ALICE', ['U0BOB', 'S0OPS', 'S0GONE']), { memberOf: ['S0OPS'], unknown: ['S0GONE'] });
  assert.deepEqual(await directory.membership('U0CAROL', ['S0OPS']), { memberOf: [], unknown: [] });
  const calls = () => slack.calls.slice(from).map((c) => `${c.method} ${String(c.body.user ?? c.body.usergroup)}`);
  assert.deepEqual(calls(), ['users.info U0ALICE', 'users.info U0NOBODY', 'usergroups.users.list S0OPS', 'usergroups.users.list S0GONE']);
  slack.setGroup('S0OPS', []);
  now += 61_000;
  assert.deepEqual(
    await directory.membership('U0ALICE', ['S0OPS']),
    { memberOf: [], unknown: [] },
    'a member removed in Slack loses the right within a minute',
  );
  assert.equal(await directory.nameOf('U0ALICE'), 'Al');
  assert.equal(calls().filter((c) => c === 'users.info U0ALICE').length, 1, 'names are kept for ten minutes');
});
