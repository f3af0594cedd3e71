import type { Redis } from 'ioredis';

export interface Persistence {
  version: string | undefined;
  aof: boolean;
  /** RDB snapshot rules (`save`), when CONFIG GET is allowed; undefined when it is not. */
  snapshots: string | undefined;
  /** Whether anything reaches disk: AOF on, or snapshot rules set. Undefined when that cannot be told. */
  durable: boolean | undefined;
}

/**
 * Whether a Redis keeps what Airlock writes across its own restart: pending
 * approvals and the audit trail live only there. Managed services may refuse
 * CONFIG; then only AOF (from INFO) can be told.
 */
export async function readPersistence(redis: Redis): Promise<Persistence> {
  const info = await redis.info('server');
  const persistence = await redis.info('persistence');
  const version = /^redis_version:(\S+)/m.exec(info)?.[1];
  const aof = /^aof_enabled:1/m.test(persistence);
  const save = await redis.config('GET', 'save').then(
    (reply) => String((reply as string[])[1] ?? ''),
    () => undefined,
  );
  const durable = aof || (save !== undefined ? save.trim() !== '' : undefined);
  return { version, aof, snapshots: save, durable };
}
