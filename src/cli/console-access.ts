import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { DEFAULT_REDIS_URL, redisUrl, type LoadedConfig } from '../config/index.js';
import { AirlockError, ErrorCode } from '../errors.js';
import { createAdminAuthenticator } from '../http/index.js';
import { connectRedis, findPrivateRedis } from '../redis/index.js';

const silentLogger = pino({ level: 'silent' });

/** The admin whose token is in AIRLOCK_ADMIN_TOKEN: commands that change what the gateway allows act as them. */
export function adminFromEnv(config: LoadedConfig, env: NodeJS.ProcessEnv): string {
  const token = env.AIRLOCK_ADMIN_TOKEN;
  if (token === undefined || token === '') {
    throw new AirlockError(ErrorCode.Unauthorized, 'set AIRLOCK_ADMIN_TOKEN to the token of one of the config\'s admins: their name is recorded with what they decide');
  }
  const identity = createAdminAuthenticator(config)(token);
  if (!identity.ok) throw new AirlockError(ErrorCode.Unauthorized, `AIRLOCK_ADMIN_TOKEN: ${identity.message.replace('bearer token', 'token')}`);
  return identity.admin;
}

/** The Redis the gateway uses: the configured one, else the private one a running `airlock start` made beside the config. */
export async function openCliRedis(config: LoadedConfig, env: NodeJS.ProcessEnv): Promise<Redis> {
  const url = redisUrl(config, env);
  const connect = (target: string) => connectRedis({ url: target, logger: silentLogger, connectTimeoutMs: 1_000, commandTimeoutMs: 5_000 });
  try {
    return await connect(url);
  } catch (err) {
    const privateUrl = url === DEFAULT_REDIS_URL ? findPrivateRedis(join(config.dir, '.airlock')) : undefined;
    if (privateUrl === undefined) throw err;
    return connect(privateUrl);
  }
}
