import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { Approvals, type NewApproval, type PendingBinding } from '../../src/approvals/index.js';
import { argumentsDigest } from '../../src/arguments-digest.js';
import { connectRedis } from '../../src/redis/index.js';
import { captureLogger } from '../support/log.js';
import { until } from '../support/poll.js';
import { writeFileApproval } from '../support/approval-input.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const ARGS = { path: '/srv/reports/q3.txt', content: 'quarterly numbers' };
const CALL: PendingBinding = {
  grant: 'alpha',
  session: 'session-1',
  server: 'fs',
  tool: 'write_file',
  rule: 'tools.write_file',
  args: ARGS,
};

let server: TestRedis;
let redis: Redis;
let approvals: Approvals;

before(async () => {
  server = await startRedis();
  redis = await connectRedis({ url: server.url, logger: captureLogger().logger, commandTimeoutMs: 5_000 });
  approvals = await Approvals.open({
    redis,
    prefix: '{airlock}:',
    redisTimeoutMs: 5_000,
    retentionMs: 3_600_000,
    redisGraceMs: 100,
    logger: captureLogger().logger,
    holder: true,
    digest: argumentsDigest(Buffer.alloc(32, 1)),
  });
});
after(async () => {
  await approvals?.close();
  redis?.disconnect();
  await server?.stop();
});

const input = (call: PendingBinding): NewApproval =>
  writeFileApproval(call.args, { grant: call.grant, session: call.session, server: call.server, tool: call.tool, rule: call.rule });

/** Claims and opens the request of `call`, as its first call does. */
async function opened(call: PendingBinding, leaseMs = 60_000) {
  const claim = await approvals.claimPending(call, leaseMs);
  assert.equal(claim.claimed, true, 'the first call claims its request');
  await approvals.openPending(input(call), claim.id, leaseMs);
  return claim;
}
const decide = (id: string, verdict: 'approve' | 'reject') =>
  approvals.decide(id, { verdict, by: 'alice', reason: 'looked', via: 'console' });

test('50 racing repeats of an approved call: exactly one is told ok, the rest used', async () => {
  const call = { ...CALL, args: { ...ARGS, content: 'race' } };
  const claim = await opened(call);
  assert.equal((await approvals.redeemPending(claim, call.args, 60_000)).code, 'pending');
  await decide(claim.id, 'approve');
  const codes = await Promise.all(Array.from({ length: 50 }, () => approvals.redeemPending(claim, call.args, 60_000)));
  assert.equal(codes.filter((c) => c.code === 'ok').length, 1);
  assert.equal(codes.filter((c) => c.code === 'used').length, 49);
});

test('arguments that differ in one byte, another grant or another session are other calls: they never find this request', async () => {
  const claim = await opened({ ...CALL, args: { ...ARGS, content: 'bound' } });
  await decide(claim.id, 'approve');
  for (const other of [
    { ...CALL, args: { ...ARGS, content: 'bounD' } },
    { ...CALL, args: { ...ARGS, content: 'bound' }, grant: 'beta' },
    { ...CALL, args: { ...ARGS, content: 'bound' }, session: 'session-2' },
    { ...CALL, args: { ...ARGS, content: 'bound' }, rule: 'on_tool_change' },
  ]) {
    const found = await approvals.claimPending(other, 60_000);
    assert.equal(found.claimed, true, JSON.stringify(other));
    assert.notEqual(found.id, claim.id);
  }
  // The claim itself, tried with other arguments, is refused and left unused.
  assert.equal((await approvals.redeemPending(claim, { ...ARGS, content: 'bounD' }, 60_000)).code, 'tampered');
  assert.equal((await approvals.redeemPending(claim, { ...ARGS, content: 'bound' }, 60_000)).code, 'ok');
});

test('a repeat after the window is lapsed and never runs; the next identical call asks anew', async () => {
  const call = { ...CALL, args: { ...ARGS, content: 'late' } };
  const claim = await opened(call);
  await decide(claim.id, 'approve');
  await sleep(150);
  assert.equal((await approvals.redeemPending(claim, call.args, 100)).code, 'lapsed');
  assert.equal((await approvals.redeemPending(claim, call.args, 60_000)).code, 'moved', 'a lapsed approval is never redeemed later');
  const again = await approvals.claimPending(call, 60_000);
  assert.equal(again.claimed, true);
  assert.notEqual(again.id, claim.id);
});

test('a rejected request ends its call: the repeat is told so once, and the next identical call asks anew', async () => {
  const call = { ...CALL, args: { ...ARGS, content: 'rejected' } };
  const claim = await opened(call);
  await decide(claim.id, 'reject');
  const ended = await approvals.redeemPending(claim, call.args, 60_000);
  assert.equal(ended.code, 'ended');
  assert.equal('record' in ended && ended.record.status.state, 'rejected');
  assert.equal((await approvals.claimPending(call, 60_000)).claimed, true);
});

test('an approval nobody repeats the call for is ended as not sent once its lease (timeout and window) lapses', async () => {
  const call = { ...CALL, args: { ...ARGS, content: 'forgotten' } };
  const claim = await opened(call, 1_000);
  await decide(claim.id, 'approve');
  await until('the unused approval to be ended', async () => (await approvals.get(claim.id)).status.execution !== undefined, 20_000, 100);
  const { status } = await approvals.get(claim.id);
  assert.equal(status.execution?.result, 'refused');
  assert.match(status.execution?.detail ?? '', /did not repeat the call within the pending window/);
  assert.equal((await approvals.redeemPending(claim, call.args, 60_000)).code, 'moved');
});
