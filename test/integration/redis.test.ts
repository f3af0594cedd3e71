import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { AirlockError, ErrorCode } from '../../src/errors.js';
import { connectRedis, freePort, pingRedis, startRedisServer } from '../../src/redis/index.js';
import { captureLogger, LEVEL } from '../support/log.js';
import { until } from '../support/poll.js';
import { startRedis, type TestRedis } from '../support/redis.js';

let redis: TestRedis;
const clients: Redis[] = [];
before(async () => {
  redis = await startRedis();
});
after(async () => {
  for (const client of clients) client.disconnect();
  await redis.stop();
});

/** A client whose command timeout a loaded machine keeps, unless the test sets the one it exercises. */
async function client(options: { commandTimeoutMs?: number } = {}) {
  const log = captureLogger();
  const connected = await connectRedis({ url: redis.url, logger: log.logger, commandTimeoutMs: 5_000, ...options });
  clients.push(connected);
  return { redis: connected, lines: log.lines };
}

/**
 * How long a command takes to fail, in ms; fails the test if it succeeds or is still pending after 30 s. Called while
 * Redis is down or paused, a failure at all shows the command was not held until Redis came back.
 */
async function failureTime(run: () => Promise<unknown>): Promise<{ ms: number; error: Error }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new assert.AssertionError({ message: 'the command was still pending after 30 s' })), 30_000);
  });
  const error = await Promise.race([run(), pending]).then(
    () => assert.fail('the command succeeded while Redis was down'),
    (err: Error) => err,
  );
  clearTimeout(timer);
  if (error instanceof assert.AssertionError) throw error;
  return { ms: performance.now() - started, error };
}

test('connectRedis gives a client that works against the Redis at the URL', async () => {
  const { redis: r } = await client();
  await r.set('greeting', 'hello');
  assert.equal(await r.get('greeting'), 'hello');
});

test('with nothing listening, connectRedis rejects at once with AIRLOCK_REDIS_UNAVAILABLE naming the URL without its password', async () => {
  const port = await freePort();
  const { logger, lines } = captureLogger();
  // At once: refused by the first attempt, rather than retrying until a Redis turns up (none ever does here).
  const { error: err } = await failureTime(() => connectRedis({ url: `redis://:hunter2@127.0.0.1:${port}`, logger }));
  assert.ok(err instanceof AirlockError, String(err));
  assert.equal(err.code, ErrorCode.RedisUnavailable);
  assert.match(err.message, new RegExp(`redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}`));
  assert.match(err.message, /ECONNREFUSED/);
  assert.doesNotMatch(err.message, /hunter2/);
  assert.equal(lines.length, 0, 'a failed first connection is the caller’s error to report, not a log line');
});

test('a Redis that refuses the password is reported as such, without the password', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-redis-'));
  const server = await startRedisServer({ binary: 'redis-server', dir, password: 'right' });
  try {
    const err = await connectRedis({ url: `redis://:wrong@127.0.0.1:${server.port}`, logger: captureLogger().logger }).then(
      () => assert.fail('connected with a wrong password'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof AirlockError);
    assert.equal(err.code, ErrorCode.RedisUnavailable);
    assert.match(err.message, /WRONGPASS/);
    assert.doesNotMatch(err.message, /wrong@/);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('while Redis is down commands fail at once, and the same client works again once Redis is back', async () => {
  // A command timeout no test waits out: a command failing while Redis is down was refused, not queued until then.
  const { redis: r, lines } = await client({ commandTimeoutMs: 60_000 });
  await r.set('k', 'before');
  let reconnects = 0;
  r.on('reconnecting', () => reconnects++);
  await redis.restart(async () => {
    // Several reconnect attempts fail while it is down: the outage is logged once all the same.
    await until('three failed reconnects', () => reconnects >= 3);
    for (const command of [() => r.get('k'), () => r.incr('n'), () => r.ping()]) {
      const { error } = await failureTime(command);
      assert.match(error.message, /enableOfflineQueue|Connection is closed/);
    }
  });
  await until('the client to reconnect', async () => (await pingRedis(r)).ok);
  await r.set('k', 'after');
  assert.equal(await r.get('k'), 'after');
  const errors = lines.filter((l) => l.level === LEVEL.error);
  assert.equal(errors.length, 1, JSON.stringify(lines));
  assert.match(errors[0]?.msg ?? '', /^lost Redis at redis:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED.*calls that need Redis are refused/);
  assert.equal(lines.filter((l) => l.level === LEVEL.info && /answers again/.test(l.msg)).length, 1, JSON.stringify(lines));
});

test('a command in flight when Redis goes away fails at once and is never sent again', async () => {
  const { redis: r } = await client({ commandTimeoutMs: 10_000 });
  const { redis: observer } = await client();
  let outcome: string | undefined;
  void r.blpop('jobs', 0).then(
    (value) => (outcome = `resolved ${JSON.stringify(value)}`),
    (err: Error) => (outcome = err.message),
  );
  await until('Redis to hold the BLPOP', async () => /blocked_clients:1\b/.test(await observer.info('clients')));
  await redis.restart(async () => {
    await until('the BLPOP to fail', () => outcome !== undefined, 200);
    assert.doesNotMatch(outcome ?? '', /timed out|resolved/);
  });
  await until('the client to reconnect', async () => (await pingRedis(r)).ok);
  // A resent BLPOP would be served before this RPUSH and take the item.
  await r.rpush('jobs', 'job-1');
  assert.equal(await r.llen('jobs'), 1);
});

test('a Redis that hangs (SIGSTOP) fails commands after commandTimeoutMs instead of holding them', async () => {
  const { redis: r } = await client({ commandTimeoutMs: 200 });
  redis.pause();
  try {
    const { ms, error } = await failureTime(() => r.get('k'));
    assert.match(error.message, /Command timed out/);
    assert.ok(ms >= 190, `failed after ${ms.toFixed(0)} ms, before commandTimeoutMs`);
  } finally {
    redis.resume();
  }
  assert.equal(await r.ping(), 'PONG');
});

test('pingRedis reports the round trip, and a failure as a value rather than an exception', async () => {
  const { redis: r } = await client();
  const up = await pingRedis(r, 5_000);
  assert.ok(up.ok, JSON.stringify(up));
  assert.ok(Number.isFinite(up.ms) && up.ms >= 0, `round trip ${up.ms}`);

  redis.pause();
  try {
    // Answered while Redis is still paused: the PING's own deadline, not Redis, ended it.
    const hung = await pingRedis(r, 100);
    assert.deepEqual(hung, { ok: false, error: 'no reply to PING within 100 ms' });
  } finally {
    redis.resume();
  }

  r.disconnect();
  const down = await pingRedis(r);
  assert.equal(down.ok, false);
  assert.ok(!down.ok && down.error.length > 0);
});

test('a redis-server that cannot start says why, instead of waiting out its deadline', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-redis-'));
  try {
    // "exited before answering", not "did not answer within" its 5 s deadline: it did not wait that out.
    await assert.rejects(
      startRedisServer({ binary: 'redis-server', dir, port: redis.port }),
      new RegExp(`^Error: redis-server on port ${redis.port} exited \\(code 1\\) before answering: .*Address already in use`),
    );
    await assert.rejects(
      startRedisServer({ binary: join(dir, 'no-such-redis-server'), dir }),
      /^Error: cannot run .*no-such-redis-server: spawn .* ENOENT$/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
