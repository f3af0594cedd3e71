import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AirlockError, ErrorCode } from '../../src/errors.js';
import { pino } from 'pino';
import { connectRedis, withDeadline } from '../../src/redis/index.js';
import { startRedis } from '../support/redis.js';

/** Blocks the event loop, as a burst of calls does on a busy gateway. */
function stall(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

test('a reply that arrived while the event loop was stalled beats the deadline', async () => {
  const redis = await startRedis();
  const client = await connectRedis({ url: redis.url, logger: pino({ level: 'silent' }), commandTimeoutMs: 5_000 });
  try {
    const answered = withDeadline(client.ping(), 50, 'ping');
    // Redis answers within a millisecond; the reply waits in the socket while the loop is blocked past the deadline.
    stall(200);
    assert.equal(await answered, 'PONG');
  } finally {
    client.disconnect();
    await redis.stop();
  }
});

test('work that does not settle is refused after the deadline with a Redis-unavailable error', async () => {
  const started = Date.now();
  await assert.rejects(withDeadline(new Promise(() => undefined), 80, 'charging rate limits'), (err: unknown) => {
    assert.ok(err instanceof AirlockError);
    assert.equal(err.code, ErrorCode.RedisUnavailable);
    assert.equal(err.message, 'charging rate limits: Redis did not answer within 80 ms');
    return true;
  });
  assert.ok(Date.now() - started >= 80);
});

test('a rejection from the work itself is passed on unchanged', async () => {
  const cause = new Error("Stream isn't writeable");
  await assert.rejects(withDeadline(Promise.reject(cause), 1_000, 'x'), (err) => err === cause);
});
