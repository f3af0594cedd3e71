import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { argumentsDigest } from '../../src/arguments-digest.js';
import { ErrorCode } from '../../src/errors.js';
import { loadDigestKey } from '../../src/redis/index.js';
import { startRedis, type TestRedis } from '../support/redis.js';

let server: TestRedis;
let a: Redis;
let b: Redis;

before(async () => {
  server = await startRedis();
  [a, b] = [new Redis(server.url), new Redis(server.url)];
});
after(async () => {
  a.disconnect();
  b.disconnect();
  await server.stop();
});

test('the first process makes the key; every later one, on any connection, gets the same and digests alike', async () => {
  const keys = await Promise.all([loadDigestKey(a, '{t1}:', 1_000), loadDigestKey(b, '{t1}:', 1_000), loadDigestKey(a, '{t1}:', 1_000)]);
  assert.equal(keys[0]!.length, 32);
  assert.ok(keys.every((k) => k.equals(keys[0]!)));
  assert.equal(await a.ttl('{t1}:digest-key'), -1, 'it never expires');
  const args = { path: '/srv/x', mode: 420 };
  assert.equal(argumentsDigest(keys[1]!)({ mode: 420, path: '/srv/x' }), argumentsDigest(keys[0]!)(args), 'key order does not matter');
  const other = await loadDigestKey(a, '{t2}:', 1_000);
  assert.notEqual(argumentsDigest(other)(args), argumentsDigest(keys[0]!)(args), 'another deployment (prefix) digests otherwise');
});

test('a key edited by hand is refused, naming it, rather than used', async () => {
  await a.set('{t3}:digest-key', 'not-hex');
  await assert.rejects(loadDigestKey(a, '{t3}:', 1_000), (err: Error & { code?: string }) => {
    assert.equal(err.code, ErrorCode.RedisUnavailable);
    assert.match(err.message, /\{t3\}:digest-key is not 64 hex digits/);
    return true;
  });
});
