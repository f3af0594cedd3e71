import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AirlockError, ErrorCode } from '../errors.js';
import { withDeadline } from './deadline.js';

const KEY_HEX = /^[0-9a-f]{64}$/;

/** One of the deployment's secret keys in Redis: its name after the prefix, what it is for, and what a new one changes. */
interface DeploymentKey {
  name: string;
  what: string;
  /** How an instance uses it, for the message about a key that changed under it. */
  uses: string;
  /** What follows when the key is replaced, for the messages that tell an operator how to recover. */
  replaced: string;
}

/** See argumentsDigest. */
const DIGEST_KEY: DeploymentKey = {
  name: 'digest-key',
  what: 'argument digest key',
  uses: 'digests with',
  replaced: 'which changes the digest of every later call',
};

/** See stateSeal: the key every instance seals and opens a 2026 client's `requestState` with. */
const REQUEST_STATE_KEY: DeploymentKey = {
  name: 'request-state-key',
  what: 'requestState key',
  uses: 'seals requestState with',
  replaced: 'which makes every requestState handed out so far unusable (those clients call again from the start)',
};

/**
 * The deployment's key for argument digests (see argumentsDigest): 32 random
 * bytes in Redis at `<prefix>digest-key`, made by whichever process needs it
 * first, so every instance digests alike. It never leaves Redis: not in
 * events, exports, the mirror or logs.
 */
export function loadDigestKey(redis: Redis, prefix: string, timeoutMs: number): Promise<Buffer> {
  return loadKey(redis, prefix, DIGEST_KEY, timeoutMs);
}

/** The deployment's key for sealing `requestState` (see stateSeal), at `<prefix>request-state-key`, kept as the digest key is. */
export function loadRequestStateKey(redis: Redis, prefix: string, timeoutMs: number): Promise<Buffer> {
  return loadKey(redis, prefix, REQUEST_STATE_KEY, timeoutMs);
}

export function keepDigestKey(redis: Redis, prefix: string, key: Buffer, logger: Logger): () => void {
  return keepKey(redis, prefix, DIGEST_KEY, key, logger);
}

export function keepRequestStateKey(redis: Redis, prefix: string, key: Buffer, logger: Logger): () => void {
  return keepKey(redis, prefix, REQUEST_STATE_KEY, key, logger);
}

async function loadKey(redis: Redis, prefix: string, kind: DeploymentKey, timeoutMs: number): Promise<Buffer> {
  const name = `${prefix}${kind.name}`;
  await withDeadline(redis.set(name, randomBytes(32).toString('hex'), 'NX'), timeoutMs, `making the ${kind.what}`);
  const value = await withDeadline(redis.get(name), timeoutMs, `reading the ${kind.what}`);
  if (value === null)
    throw new AirlockError(ErrorCode.RedisUnavailable, `Redis did not keep ${name} (evicted? set maxmemory-policy noeviction)`);
  if (!KEY_HEX.test(value)) {
    throw new AirlockError(
      ErrorCode.RedisUnavailable,
      `Redis key ${name} is not 64 hex digits (edited by hand?); delete it to have a new key made, ${kind.replaced}`,
    );
  }
  return Buffer.from(value, 'hex');
}

/**
 * A Redis that comes back empty (restarted without persistence) has lost the
 * key: this process puts its own back on every reconnection, so processes
 * started later adopt the key running ones use. Should another have written
 * a new key first, instances now disagree: that is logged. Returns what
 * stops it.
 */
function keepKey(redis: Redis, prefix: string, kind: DeploymentKey, key: Buffer, logger: Logger): () => void {
  const name = `${prefix}${kind.name}`;
  const hex = key.toString('hex');
  const onReady = () => {
    void (async () => {
      await redis.set(name, hex, 'NX');
      if ((await redis.get(name)) !== hex)
        logger.error(
          { key: name },
          `the ${kind.what} in Redis is not the one this instance ${kind.uses} (Redis lost its data and another process made a new key): restart this instance so every instance uses the same one`,
        );
    })().catch((err: Error) => logger.warn({ key: name, err: err.message }, `could not check the ${kind.what} after reconnecting`));
  };
  redis.on('ready', onReady);
  return () => void redis.off('ready', onReady);
}
