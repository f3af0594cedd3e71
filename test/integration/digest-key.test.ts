import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { argumentsDigest } from '../../src/arguments-digest.js';
import { ErrorCode } from '../../src/errors.js';
import { keepDigestKey, loadDigestKey } from '../../src/redis/index.js';
import { captureLogger, LEVEL } from '../support/log.js';
import { until } from '../support/poll.js';
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

test("Redis coming back empty gets the running instance's key back; a different key found there is logged", async () => {
  const client = new Redis(server.url);
  const { logger, lines } = captureLogger();
  const key = await loadDigestKey(client, '{t4}:', 1_000);
  const stop = keepDigestKey(client, '{t4}:', key, logger);
  try {
    await b.del('{t4}:digest-key'); // what a restart without persistence leaves
    client.disconnect(true);
    await until('the key to be put back', async () => (await b.get('{t4}:digest-key')) === key.toString('hex'));
    assert.ok((await loadDigestKey(b, '{t4}:', 1_000)).equals(key), 'a process started now adopts it');

    await b.set('{t4}:digest-key', 'f'.repeat(64)); // another process got in first
    client.disconnect(true);
    await until('the mismatch to be logged', () =>
      lines.some((l) => l.level === LEVEL.error && /not the one this instance digests with/.test(l.msg)),
    );
  } finally {
    stop();
    client.disconnect();
  }
});
