import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AirlockError, ErrorCode } from '../errors.js';
import { withDeadline } from './deadline.js';

const KEY_HEX = /^[0-9a-f]{64}$/;

const keyName = (prefix: string) => `${prefix}digest-key`;

/**
 * The deployment's key for argument digests (see argumentsDigest): 32 random
 * bytes in Redis at `<prefix>digest-key`, made by whichever process needs it
 * first, so every instance digests alike. It never leaves Redis: not in
 * events, exports, the mirror or logs.
 */
export async function loadDigestKey(redis: Redis, prefix: string, timeoutMs: number): Promise<Buffer> {
  const name = keyName(prefix);
  await withDeadline(redis.set(name, randomBytes(32).toString('hex'), 'NX'), timeoutMs, 'making the argument digest key');
  const value = await withDeadline(redis.get(name), timeoutMs, 'reading the argument digest key');
  if (value === null)
    throw new AirlockError(ErrorCode.RedisUnavailable, `Redis did not keep ${name} (evicted? set maxmemory-policy noeviction)`);
  if (!KEY_HEX.test(value)) {
    throw new AirlockError(
      ErrorCode.RedisUnavailable,
      `Redis key ${name} is not 64 hex digits (edited by hand?); delete it to have a new key made, which changes the digest of every later call`,
    );
  }
  return Buffer.from(value, 'hex');
}

/**
 * A Redis that comes back empty (restarted without persistence) has lost the
 * key: this process puts its own back on every reconnection, so processes
 * started later adopt the key running ones digest with. Should another have
 * written a new key first, digests of the same arguments now differ between
 * instances: that is logged. Returns what stops it.
 */
export function keepDigestKey(redis: Redis, prefix: string, key: Buffer, logger: Logger): () => void {
  const name = keyName(prefix);
  const hex = key.toString('hex');
  const onReady = () => {
    void (async () => {
      await redis.set(name, hex, 'NX');
      if ((await redis.get(name)) !== hex)
        logger.error(
          { key: name },
          'the argument digest key in Redis is not the one this instance digests with (Redis lost its data and another process made a new key): restart this instance so every instance digests alike',
        );
    })().catch((err: Error) => logger.warn({ key: name, err: err.message }, 'could not check the argument digest key after reconnecting'));
  };
  redis.on('ready', onReady);
  return () => void redis.off('ready', onReady);
}
