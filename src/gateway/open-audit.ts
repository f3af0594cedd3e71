import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AuditMirror, AuditTrail } from '../audit/index.js';
import { durationMs, type LoadedConfig } from '../config/index.js';
import { Redactor } from '../redact.js';

/** The audit trail of one process (`start`, `stdio`, an admin command), named `<role>@<host>:<pid>` in its events. */
export function openAuditTrail(config: LoadedConfig, redis: Redis, logger: Logger, role: string): AuditTrail {
  return new AuditTrail({
    redis,
    prefix: config.redis.prefix,
    redisTimeoutMs: durationMs(config.redis.timeout),
    retentionMs: config.audit.retention_ms,
    ...(config.audit.max_events !== undefined && { maxEvents: config.audit.max_events }),
    maxArgumentsBytes: config.audit.max_arguments_bytes,
    redactor: new Redactor(config.redact.keys),
    instance: `${role}@${hostname()}:${process.pid}`,
    logger,
  });
}

/** The JSON-lines mirror, when `audit.file` is set: startup fails naming the file when it cannot be written. */
export async function startAuditMirror(config: LoadedConfig, redis: Redis, logger: Logger): Promise<AuditMirror | undefined> {
  if (config.audit.file === undefined) return undefined;
  return AuditMirror.start({ file: config.audit.file, redis, prefix: config.redis.prefix, logger });
}
