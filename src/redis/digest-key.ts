import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { AirlockError, ErrorCode } from '../errors.js';
import { withDeadline } from './deadline.js';

const KEY_HEX = /^[0-9a-f]{64}$/;

/**
 * The deployment's key for argument digests (see argumentsDigest): 32 random
 * bytes in Redis at `<prefix>digest-key`, made by whichever process needs it
 * first, so every instance digests alike. It never leaves Redis: not in
 * events, exports, the mirror or logs.
 */
export async function loadDigestKey(redis: Redis, prefix: string, timeoutMs: number): Promise<Buffer> {
  const name = `${prefix}digest-key`;
  await withDeadline(redis.set(name, randomBytes(32).toString('hex'), 'NX'), timeoutMs, 'making the argument digest key');
  const value = await withDeadline(redis.get(name), timeoutMs, 'reading the argument digest key');
  if (value === null || !KEY_HEX.test(value)) {
    throw new AirlockError(ErrorCode.RedisUnavailable, `Redis key ${name} is not 64 hex digits (edited by hand?); delete it to have a new key made, which changes the digest of every later call`);
  }
  return Buffer.from(value, 'hex');
}
