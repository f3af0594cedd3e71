import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { SessionStore, type SessionRecord } from '../../src/http/session-store.js';
import { startRedis, type TestRedis } from '../support/redis.js';

/** Two stores on two connections stand for two instances sharing one Redis. */
let redis: TestRedis;
let clients: Redis[];
let one: SessionStore;
let two: SessionStore;
const IDLE_MS = 60_000;

before(async () => {
  redis = await startRedis();
  clients = [new Redis(redis.url), new Redis(redis.url)];
  [one, two] = clients.map((c) => new SessionStore(c, { prefix: '{airlock}:', idleTimeoutMs: IDLE_MS, timeoutMs: 5_000 })) as [
    SessionStore,
    SessionStore,
  ];
});
after(async () => {
  for (const c of clients ?? []) c.disconnect();
  await redis?.stop();
});

const record = (grant: string | undefined): SessionRecord => ({
  id: randomUUID(),
  grant,
  path: '/mcp/fx',
  scope: { servers: ['fx'], aggregated: false },
  initialize: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
  state: { subscriptions: [] },
});

test('the per-grant limit counts across instances: 40 concurrent opens on two instances, max 5, exactly 5 taken; other grants are apart', async () => {
  const opens = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? one : two).open(record('racer'), 5)));
  assert.equal(opens.filter((o) => o.ok).length, 5);
  for (const o of opens) if (!o.ok) assert.ok(o.retryInMs > 0 && o.retryInMs <= IDLE_MS);
  assert.equal((await one.open(record('someone-else'), 5)).ok, true);
  assert.equal((await one.takeSlot(undefined, 'listen:x', 1)).ok, true);
  assert.equal((await two.takeSlot(undefined, 'listen:y', 1)).ok, false);
  await one.releaseSlot(undefined, 'listen:x');
  assert.equal((await two.takeSlot(undefined, 'listen:y', 1)).ok, true);
});

test('a record is read back by the other instance; ending it leaves a tombstone that a later touch reports, and it is read as none', async () => {
  const r = record('reader');
  await one.open(r, 5);
  assert.deepEqual(await two.read(r.id), r);
  assert.deepEqual(
    await two.touch([
      { grant: r.grant, member: r.id, idleMs: 0, session: true, state: { subscriptions: ['fx\nx://y'], logLevel: 'debug' } },
    ]),
    ['ok'],
  );
  assert.deepEqual((await one.read(r.id))?.state, { subscriptions: ['fx\nx://y'], logLevel: 'debug' });
  assert.equal(await one.end(r.grant, r.id, true), 'active', 'the idle sweep does not end a session used within the idle timeout');
  assert.equal(await two.end(r.grant, r.id, false), 'ended');
  assert.equal(await one.read(r.id), undefined);
  assert.deepEqual(await one.touch([{ grant: r.grant, member: r.id, idleMs: 0, session: true }]), ['ended']);
  assert.deepEqual(await one.touch([{ grant: r.grant, member: randomUUID(), idleMs: 0, session: true }]), ['missing']);
});

test('a session last used an idle timeout ago is read as none, and the idle sweep may end it', async () => {
  const r = record('idle');
  await one.open(r, 5);
  assert.deepEqual(await one.touch([{ grant: r.grant, member: r.id, idleMs: IDLE_MS + 1, session: true }]), ['ok']);
  // touch keeps the latest use any instance reported: the open counts as one just now.
  assert.ok(await two.read(r.id));
  await clients[0]!.hset(`{airlock}:session:${r.id}`, 'active', Date.now() - IDLE_MS - 1_000);
  assert.equal(await two.read(r.id), undefined);
  assert.equal(await two.end(r.grant, r.id, true), 'ended');
});

test('Redis unreachable: every operation rejects AIRLOCK_REDIS_UNAVAILABLE within its deadline', async () => {
  const dead = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  dead.on('error', () => undefined);
  const store = new SessionStore(dead, { prefix: '{airlock}:', idleTimeoutMs: IDLE_MS, timeoutMs: 200 });
  await assert.rejects(store.read(randomUUID()), { code: 'AIRLOCK_REDIS_UNAVAILABLE' });
  await assert.rejects(store.open(record('x'), 5), { code: 'AIRLOCK_REDIS_UNAVAILABLE' });
  dead.disconnect();
});
