import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { argumentsDigest, type ArgumentsDigest } from '../arguments-digest.js';
import { AuditMirror, AuditTrail, type CheckpointSettings } from '../audit/index.js';
import { durationMs, type LoadedConfig } from '../config/index.js';
import { Redactor } from '../redact.js';
import { loadDigestKey } from '../redis/index.js';

/** The deployment's key for argument digests, from Redis (made there if it is the first process to need it). */
export function deploymentKey(config: LoadedConfig, redis: Redis): Promise<Buffer> {
  return loadDigestKey(redis, config.redis.prefix, Math.max(2_000, durationMs(config.redis.timeout)));
}

/** The deployment's argument digest, under its key in Redis: the same in every process that shares that Redis. */
export async function deploymentDigest(config: LoadedConfig, redis: Redis): Promise<ArgumentsDigest> {
  return argumentsDigest(await deploymentKey(config, redis));
}

/** The checkpoint settings of `audit.anchor_key` and `audit.checkpoint`, when the key is set. */
export function checkpointSettings(config: LoadedConfig): CheckpointSettings | undefined {
  const { anchor_key: key, checkpoint } = config.audit;
  return key === undefined ? undefined : { key: Buffer.from(key, 'utf8'), everyEvents: checkpoint.events, everyMs: checkpoint.interval_ms };
}

/**
 * The audit trail of one process (`start`, `stdio`, an admin command), named
 * `<role>@<host>:<pid>` in its events. Only gateways sign checkpoints: an
 * admin command lives for one event, and the gateways' next checkpoint covers it.
 */
export function openAuditTrail(config: LoadedConfig, redis: Redis, logger: Logger, role: string, digest: ArgumentsDigest): AuditTrail {
  const checkpoints = role === 'cli' ? undefined : checkpointSettings(config);
  return new AuditTrail({
    redis,
    prefix: config.redis.prefix,
    redisTimeoutMs: durationMs(config.redis.timeout),
    retentionMs: config.audit.retention_ms,
    ...(config.audit.max_events !== undefined && { maxEvents: config.audit.max_events }),
    maxArgumentsBytes: config.audit.max_arguments_bytes,
    redactor: new Redactor(config.redact.keys),
    instance: `${role}@${hostname()}:${process.pid}`,
    digest,
    logger,
    ...(checkpoints && { checkpoints }),
  });
}

/** The JSON-lines mirror, when `audit.file` is set: startup fails naming the file when it cannot be written. */
export async function startAuditMirror(config: LoadedConfig, redis: Redis, logger: Logger): Promise<AuditMirror | undefined> {
  if (config.audit.file === undefined) return undefined;
  return AuditMirror.start({ file: config.audit.file, redis, prefix: config.redis.prefix, logger });
}
