import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { Approvals, Deciders } from '../approvals/index.js';
import type { AuditTrail } from '../audit/index.js';
import { durationMs, findConfigFile, loadConfig, type LoadedConfig } from '../config/index.js';
import { deploymentDigest, openAuditTrail } from '../gateway/index.js';
import { adminNamed, givenAdminToken, openRedisSaying } from './console-access.js';
import type { Io } from './output.js';
import { shownRedisUrl, type RedisTarget } from './where.js';

const silentLogger = pino({ level: 'silent' });

/** What every `airlock approvals` command works with: the config, the admin it acts as, and the requests in the gateway's Redis. */
export interface ConsoleSession {
  config: LoadedConfig;
  admin: string;
  redis: Redis;
  target: RedisTarget;
  approvals: Approvals;
  audit: AuditTrail;
  close(): Promise<void>;
}

/**
 * Loads the config, takes the admin token (before anything else, so a
 * command without one touches nothing), opens the gateway's Redis saying
 * which (whereLine), and checks the token there.
 */
export async function openConsole(io: Io, options: { config?: string; tokenFile?: string }): Promise<ConsoleSession> {
  const config = loadConfig(findConfigFile(io.cwd, options.config), io.env);
  const given = givenAdminToken(config, io, options.tokenFile);
  const { redis, target } = await openRedisSaying(io, config);
  // Opened inside the try: whatever fails, the connection is closed and the command exits.
  let approvals: Approvals | undefined;
  try {
    const admin = await adminNamed(config, redis, given);
    const digest = await deploymentDigest(config, redis);
    approvals = await Approvals.open({
      redis,
      prefix: config.redis.prefix,
      redisTimeoutMs: Math.max(2_000, durationMs(config.redis.timeout)),
      retentionMs: config.approvals.retention_ms,
      logger: silentLogger,
      holder: false,
      digest,
      deciders: new Deciders(config.people ?? []),
    });
    const audit = openAuditTrail(config, redis, silentLogger, 'cli', digest);
    const opened = approvals;
    return {
      config,
      admin,
      redis,
      target,
      approvals,
      audit,
      async close() {
        await audit.close();
        await opened.close();
        redis.disconnect();
      },
    };
  } catch (err) {
    await approvals?.close();
    redis.disconnect();
    throw err;
  }
}

/**
 * Said (on stderr) under an empty answer, and when a watch starts, so that
 * a person can tell they may be asking the wrong Redis: whether any gateway
 * holds calls through this one (each holding process subscribes to its
 * decisions).
 */
export async function holdersNote(session: ConsoleSession): Promise<string> {
  const where = shownRedisUrl(session.target.url);
  const holders = await session.approvals.holders().catch(() => undefined);
  if (holders === undefined) return `asked ${where}`;
  if (holders > 0) return `asked ${where}, where ${holders === 1 ? '1 gateway holds' : `${holders} gateways hold`} calls`;
  return `asked ${where}, where no gateway holds calls now: if an agent's call is waiting, this is not its gateway's Redis; give this command the same REDIS_URL (or -c config) as the gateway`;
}
