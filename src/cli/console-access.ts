import { resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { DEFAULT_REDIS_URL, durationMs, LOCAL_ADMIN_NAME, redisUrl, stateDir, type LoadedConfig } from '../config/index.js';
import { AirlockError, ErrorCode } from '../errors.js';
import { createAdminAuthenticator, type LocalAdmin } from '../http/index.js';
import { localAdminKeys, publishedTokenDigests, readTokenFile, tokenFilePath } from '../local-admin/index.js';
import { connectRedis, findPrivateRedis } from '../redis/index.js';
import type { Io } from './output.js';

const silentLogger = pino({ level: 'silent' });

/** An admin token a command was given, and how, for its messages (never the token). */
export interface GivenToken {
  token: string;
  from: string;
}

/**
 * The admin token of a command that acts as an admin: the file
 * `--token-file` names, else the file AIRLOCK_ADMIN_TOKEN_FILE names, else
 * AIRLOCK_ADMIN_TOKEN. No file is read unless it is named, not even the
 * gateway's own token file.
 */
export function givenAdminToken(config: LoadedConfig, io: Io, tokenFile: string | undefined): GivenToken {
  const envFile = io.env.AIRLOCK_ADMIN_TOKEN_FILE;
  const named =
    tokenFile !== undefined
      ? { file: tokenFile, how: '--token-file', from: `--token-file ${tokenFile}` }
      : envFile
        ? { file: envFile, how: 'AIRLOCK_ADMIN_TOKEN_FILE', from: `AIRLOCK_ADMIN_TOKEN_FILE=${envFile}` }
        : undefined;
  if (named) {
    try {
      return { token: readTokenFile(resolve(io.cwd, named.file)), from: named.from };
    } catch (err) {
      if (err instanceof AirlockError) throw new AirlockError(err.code, `${named.how}: ${err.message}`, { cause: err });
      throw err;
    }
  }
  const token = io.env.AIRLOCK_ADMIN_TOKEN;
  if (token !== undefined && token !== '') return { token, from: 'AIRLOCK_ADMIN_TOKEN' };
  const file = tokenFilePath(config);
  const whose =
    (config.admins ?? []).length > 0
      ? `the token of one of the admins in ${config.file}, whose name is recorded with what they decide`
      : `${config.file} has no admins, so it is the local admin's token, which a gateway started without AIRLOCK_ADMIN_TOKEN keeps in ${file} (--token-file ${file})`;
  throw new AirlockError(
    ErrorCode.Unauthorized,
    `no admin token given: pass --token-file FILE, or set AIRLOCK_ADMIN_TOKEN_FILE to a file holding it, or AIRLOCK_ADMIN_TOKEN to the token itself: ${whose}`,
  );
}

/**
 * The admin a command acts as: one of the config's `admins`; without any,
 * the local admin of a gateway that published its token's digest in Redis
 * (the command cannot ask that gateway's memory).
 */
export async function adminNamed(config: LoadedConfig, redis: Redis, given: GivenToken): Promise<string> {
  let local: LocalAdmin | undefined;
  if ((config.admins ?? []).length === 0) {
    const sha256 = await publishedTokenDigests(redis, config.redis.prefix, Math.max(2_000, durationMs(config.redis.timeout)));
    if (sha256.length === 0) {
      throw new AirlockError(
        ErrorCode.Unauthorized,
        `${config.file} has no admins, and no gateway has published a local admin token in this Redis (${localAdminKeys(config.redis.prefix).digests}): start the gateway (airlock start, or airlock stdio) with this config first, or configure admins`,
      );
    }
    local = { name: LOCAL_ADMIN_NAME, sha256 };
  }
  const identity = createAdminAuthenticator(config, local)(given.token);
  if (!identity.ok) throw new AirlockError(ErrorCode.Unauthorized, `${given.from}: ${identity.message.replace('bearer token', 'token')}`);
  return identity.admin;
}

/** The Redis the gateway uses: the configured one, else the private one a running `airlock start` made beside the config. */
export async function openCliRedis(config: LoadedConfig, env: NodeJS.ProcessEnv): Promise<Redis> {
  const url = redisUrl(config, env);
  const connect = (target: string) => connectRedis({ url: target, logger: silentLogger, connectTimeoutMs: 1_000, commandTimeoutMs: 5_000 });
  try {
    return await connect(url);
  } catch (err) {
    const privateUrl = url === DEFAULT_REDIS_URL ? findPrivateRedis(stateDir(config)) : undefined;
    if (privateUrl === undefined) throw err;
    return connect(privateUrl);
  }
}
