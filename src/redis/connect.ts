import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { AirlockError, ErrorCode } from '../errors.js';
import type { RedisLogger } from './logger.js';
import { redactRedisUrl } from './url.js';

export interface ConnectRedisOptions {
  url: string;
  logger: RedisLogger;
  /** A command with no reply after this long is rejected (a half-open socket is only caught this way). Default 500. */
  commandTimeoutMs?: number;
  /** How long one connection attempt may take. Default 2000. */
  connectTimeoutMs?: number;
}

/** Reconnect delays: 50, 100, 200, 400, 800, then every second, so a Redis that comes back is used again within about a second. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(50 * 2 ** (attempt - 1), 1_000);
}

/**
 * The client for the request path, which must fail closed: while Redis is
 * unreachable every command rejects at once (no offline queue) or after
 * `commandTimeoutMs`, never waits for Redis to come back. The client keeps
 * reconnecting in the background, so the same object works again once
 * Redis answers. Rejects with `AIRLOCK_REDIS_UNAVAILABLE` when the first
 * connection fails.
 */
export async function connectRedis(options: ConnectRedisOptions): Promise<Redis> {
  const where = redactRedisUrl(options.url);
  const redis = new Redis(options.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    commandTimeout: options.commandTimeoutMs ?? 500,
    connectTimeout: options.connectTimeoutMs ?? 2_000,
    retryStrategy: reconnectDelayMs,
    // Commands in flight when the connection drops are rejected right away
    // rather than held for the next connection...
    maxRetriesPerRequest: 0,
    // ...and never sent again later: their callers were already told they
    // failed, and a counter charged or an approval decided behind their
    // back would be worse than the failure.
    autoResendUnfulfilledCommands: false,
    // disconnect() after a failed connect leaves an un-unref'd timer of this
    // length behind (ioredis 6), which would hold a CLI open for 2 s.
    disconnectTimeout: 100,
  });
  let lastError: Error | undefined;
  let connected = false;
  let down = false;
  redis.on('error', (err: Error) => {
    lastError = err;
    if (!connected || down) return;
    down = true;
    options.logger.error(
      { redis: where, err: err.message },
      `lost Redis at ${where}: ${err.message}; calls that need Redis are refused until it answers again (reconnecting every second)`,
    );
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    options.logger.info({ redis: where }, `Redis at ${where} answers again`);
  });
  try {
    await redis.connect();
  } catch (err) {
    // connect() rejects but the client would go on reconnecting: stop it.
    redis.disconnect();
    const reason = lastError?.message ?? (err instanceof Error ? err.message : String(err));
    throw new AirlockError(ErrorCode.RedisUnavailable, `cannot connect to Redis at ${where}: ${reason}`, { cause: lastError ?? err });
  }
  connected = true;
  return redis;
}

/**
 * A connection of its own beside the request-path client, for what waits on
 * Redis rather than failing fast: a pub/sub subscriber (subscribing takes a
 * connection over) or BullMQ's blocking reads. It queues commands while
 * Redis is away, has no command timeout, and resends what was in flight once
 * it is back; its errors are not logged, as the request-path client logs an
 * outage once.
 */
export function waitingConnection(redis: Redis): Redis {
  const connection = redis.duplicate({
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    commandTimeout: undefined,
    autoResendUnfulfilledCommands: true,
  });
  connection.on('error', () => undefined);
  return connection;
}

export type PingResult = { ok: true; ms: number } | { ok: false; error: string };

/** One PING with its round-trip time, for readiness checks; never throws. */
export async function pingRedis(redis: Redis, timeoutMs = 500): Promise<PingResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no reply to PING within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const reply = await Promise.race([redis.ping(), timeout]);
    if (reply !== 'PONG') return { ok: false, error: `unexpected reply to PING: ${JSON.stringify(reply)}` };
    return { ok: true, ms: Math.round((performance.now() - started) * 100) / 100 };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}
