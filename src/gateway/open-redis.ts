import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { DEFAULT_REDIS_URL, durationMs, redisUrl, stateDir, type LoadedConfig } from '../config/index.js';
import { connectRedis, ensureRedis } from '../redis/index.js';

/**
 * The Redis a gateway process uses: the configured one, or a private
 * `redis-server` when nothing answers at the default address. Only the
 * default may be replaced: instances pointed at one Redis on purpose must share it.
 */
export async function openRedis(
  config: LoadedConfig,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): Promise<{ redis: Redis; close(): Promise<void> }> {
  const url = redisUrl(config, env);
  const server = await ensureRedis({ url, explicit: url !== DEFAULT_REDIS_URL, stateDir: stateDir(config), logger });
  // Request-path calls keep their own deadline of redis.timeout (see withDeadline); the client's is a backstop.
  const redis = await connectRedis({ url: server.url, logger, commandTimeoutMs: 2 * durationMs(config.redis.timeout) });
  return {
    redis,
    async close() {
      redis.disconnect();
      await server.stop();
    },
  };
}
