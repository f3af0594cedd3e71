import { resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { DEFAULT_REDIS_URL, durationMs, LOCAL_ADMIN_NAME, redisUrl, stateDir, type LoadedConfig } from '../config/index.js';
import { AirlockError, ErrorCode } from '../errors.js';
import { createAdminAuthenticator, type LocalAdmin } from '../http/index.js';
import { localAdminKeys, publishedTokenDigests, readTokenFile, tokenFilePath } from '../local-admin/index.js';
import { connectRedis, findPrivateRedis, probeRedis } from '../redis/index.js';
import type { Io } from './output.js';
import { whereLine, type RedisTarget } from './where.js';

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

/** A command's connection to the gateway's Redis, and which one it is (for its "where it looks" line). */
export interface CliRedis {
  redis: Redis;
  target: RedisTarget;
}

/** The Redis the config names: `redis.url`, else REDIS_URL, else the default (as the gateway reads them). */
export function configuredRedis(config: LoadedConfig, env: NodeJS.ProcessEnv): RedisTarget {
  return { url: redisUrl(config, env), from: config.redis.url !== undefined ? 'redis.url' : env.REDIS_URL ? 'REDIS_URL' : 'default' };
}

/**
 * The Redis the gateway uses, found the way `airlock start` finds it
 * (openRedis): the configured one (configuredRedis); when nothing answers
 * at the default, the private `redis-server` a running gateway made beside
 * the config. A Redis that answers but refuses us (a wrong password) is the
 * one meant, for the gateway too: its error is reported, not hidden by
 * trying the private one.
 */
export async function openGatewayRedis(config: LoadedConfig, env: NodeJS.ProcessEnv): Promise<CliRedis> {
  const target = configuredRedis(config, env);
  const connect = (url: string) => connectRedis({ url, logger: silentLogger, connectTimeoutMs: 1_000, commandTimeoutMs: 5_000 });
  try {
    return { redis: await connect(target.url), target };
  } catch (err) {
    const privateUrl = target.url === DEFAULT_REDIS_URL ? findPrivateRedis(stateDir(config)) : undefined;
    if (privateUrl === undefined) throw err;
    const probe = await probeRedis(target.url, 1_000);
    if (probe.ok || probe.answered) throw err;
    return { redis: await connect(privateUrl), target: { url: privateUrl, from: 'private' } };
  }
}

/** openGatewayRedis for commands that print nothing about where they look (`doctor` names the Redis in its own check). */
export async function openCliRedis(config: LoadedConfig, env: NodeJS.ProcessEnv): Promise<Redis> {
  return (await openGatewayRedis(config, env)).redis;
}

/**
 * openGatewayRedis, first telling on stderr which config and which Redis
 * the command uses (whereLine); when none answers, the one it looked for.
 */
export async function openRedisSaying(io: Io, config: LoadedConfig): Promise<CliRedis> {
  try {
    const opened = await openGatewayRedis(config, io.env);
    io.err(whereLine(io, config, opened.target));
    return opened;
  } catch (err) {
    io.err(whereLine(io, config, configuredRedis(config, io.env)));
    throw err;
  }
}
