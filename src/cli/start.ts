import { join } from 'node:path';
import { DEFAULT_REDIS_URL, findConfigFile, loadConfig, redisUrl } from '../config/index.js';
import { Gateway } from '../gateway/index.js';
import { createLogger } from '../logging.js';
import { connectRedis, ensureRedis } from '../redis/index.js';
import { displayPath, type Io } from './output.js';

/**
 * `airlock start`: the gateway, until SIGTERM or SIGINT. Resolves once it is
 * listening; the returned promise of `stopped` settles after a clean stop.
 */
export async function start(io: Io, options: { config?: string }): Promise<{ stopped: Promise<void> }> {
  const config = loadConfig(findConfigFile(io.cwd, options.config), io.env);
  Gateway.checkExposure(config);
  const logger = createLogger({ level: config.log.level });
  logger.info({ config: displayPath(io, config.file) }, 'starting airlock');

  // Only the default address may be replaced by a private Redis: instances pointed at one Redis on purpose must share it.
  const url = redisUrl(config, io.env);
  const redisServer = await ensureRedis({ url, explicit: url !== DEFAULT_REDIS_URL, stateDir: join(io.cwd, '.airlock'), logger });
  const redis = await connectRedis({ url: redisServer.url, logger });
  const gateway = await Gateway.start({ config, logger, redis });

  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'stopping airlock');
      void (async () => {
        await gateway.stop();
        redis.disconnect();
        await redisServer.stop();
        logger.info('airlock stopped');
        logger.flush();
        resolve();
      })();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return { stopped };
}
