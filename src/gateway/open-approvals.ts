import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Approvals } from '../approvals/index.js';
import { ConsoleChannel, type ApprovalChannel } from '../channels/index.js';
import { durationMs, type LoadedConfig } from '../config/index.js';
import type { ApprovalDeps } from '../proxy/index.js';

/**
 * The approvals of a process that holds calls (`start`, `stdio`): the
 * shared requests in Redis, the expiry worker, and the channel reviewers
 * see them in.
 */
export async function openApprovals(config: LoadedConfig, redis: Redis, logger: Logger): Promise<{ deps: ApprovalDeps; approvals: Approvals }> {
  const channel = chooseChannel(config, logger);
  const redisTimeoutMs = durationMs(config.redis.timeout);
  const approvals = await Approvals.open({
    redis,
    prefix: config.redis.prefix,
    redisTimeoutMs,
    retentionMs: config.approvals.retention_ms,
    redisGraceMs: Math.max(1_000, 4 * redisTimeoutMs),
    holder: true,
    logger,
    onOrphaned: (record) => void channel.update(record.request, record.status).catch(() => undefined),
  });
  return {
    approvals,
    deps: {
      approvals,
      channel,
      defaultTimeoutMs: config.approvals.timeout_ms,
      heartbeatMs: config.approvals.heartbeat_ms,
      maxArgumentsBytes: config.approvals.max_arguments_bytes,
    },
  };
}

function chooseChannel(config: LoadedConfig, logger: Logger): ApprovalChannel {
  if (config.approvals.channel === 'slack') {
    // Held calls still wait for a person: they can be decided with `airlock approvals` until Slack is wired in.
    logger.warn('approvals.channel is slack, which this version cannot post to yet: held calls wait in the console channel (airlock approvals list)');
  }
  return new ConsoleChannel(logger);
}
