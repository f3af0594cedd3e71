import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { withDeadline } from '../redis/index.js';
import { localAdminKeys } from './keys.js';

const DIGEST_HEX = /^[0-9a-f]{64}$/;

export interface PublishOptions {
  prefix: string;
  /** Where the token comes from, e.g. `<host>:<token file>`: one field each, so a new token replaces its source's old one. */
  source: string;
  /** The token's SHA-256, hex. Never the token itself. */
  sha256: string;
  timeoutMs: number;
  logger: Logger;
}

/**
 * Publishes the local admin token's digest for `airlock approvals` and
 * `airlock tools accept`, which work on Redis directly, and again whenever
 * the connection comes back (a Redis restarted without its data would
 * otherwise leave them no token to accept). Returns what stops republishing.
 */
export async function publishTokenDigest(redis: Redis, options: PublishOptions): Promise<() => void> {
  const { digests } = localAdminKeys(options.prefix);
  await withDeadline(
    redis.hset(digests, options.source, options.sha256),
    options.timeoutMs,
    `publishing the local admin token's digest in ${digests}`,
  );
  const onReady = () => {
    redis
      .hset(digests, options.source, options.sha256)
      .catch((err: Error) =>
        options.logger.warn(
          { key: digests, err: err.message },
          "could not publish the local admin token's digest again after reconnecting",
        ),
      );
  };
  redis.on('ready', onReady);
  return () => void redis.off('ready', onReady);
}

/** The digests every gateway without `admins` published; anything else found in the hash is not a digest and is left out. */
export async function publishedTokenDigests(redis: Redis, prefix: string, timeoutMs: number): Promise<string[]> {
  const { digests } = localAdminKeys(prefix);
  const values = await withDeadline(redis.hvals(digests), timeoutMs, `reading the local admin token digests in ${digests}`);
  return values.filter((value) => DIGEST_HEX.test(value));
}
