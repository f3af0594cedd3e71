import type { Redis } from 'ioredis';

export interface EvictionPolicy {
  /** `maxmemory-policy`, e.g. `noeviction`; undefined when it cannot be read. */
  policy: string | undefined;
  /** Where it was read: CONFIG GET, else INFO memory (managed services often refuse CONFIG but answer INFO). */
  source: 'config' | 'info' | undefined;
}

/**
 * What a full Redis does: anything but `noeviction` deletes keys to make
 * room, and pending approvals and the audit trail are keys like any other.
 */
export async function readEvictionPolicy(redis: Redis): Promise<EvictionPolicy> {
  const fromConfig = await redis.config('GET', 'maxmemory-policy').then(
    (reply) => (reply as string[])[1],
    () => undefined,
  );
  if (fromConfig !== undefined && fromConfig !== '') return { policy: fromConfig, source: 'config' };
  const fromInfo = await redis.info('memory').then(
    (info) => /^maxmemory_policy:(\S+)/m.exec(info)?.[1],
    () => undefined,
  );
  return fromInfo === undefined ? { policy: undefined, source: undefined } : { policy: fromInfo, source: 'info' };
}
