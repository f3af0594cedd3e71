import { Redis } from 'ioredis';

/**
 * `answered` says whether anything accepted the connection: a Redis that
 * refuses our password, or is still loading its data, answered, and must not
 * be replaced by another one.
 */
export type RedisProbe = { ok: true; processId: number | undefined } | { ok: false; answered: boolean; error: string };

/**
 * One short look at a Redis URL: connect, `INFO server`, disconnect, all
 * within `timeoutMs`. Never throws and leaves nothing running.
 */
export async function probeRedis(url: string, timeoutMs = 1_000): Promise<RedisProbe> {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    // See connectRedis: the default 2 s would outlive the probe by far.
    disconnectTimeout: 100,
  });
  let answered = false;
  let lastError: Error | undefined;
  client.on('connect', () => (answered = true));
  client.on('error', (err: Error) => (lastError = err));
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const info = await Promise.race([client.connect().then(() => client.info('server')), deadline]);
    const processId = /^process_id:(\d+)/m.exec(info)?.[1];
    return { ok: true, processId: processId === undefined ? undefined : Number(processId) };
  } catch (err) {
    const error = lastError?.message ?? (err instanceof Error ? err.message : String(err));
    return { ok: false, answered, error };
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}
