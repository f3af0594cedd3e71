import type { ArgumentsDigest } from '../arguments-digest.js';
import type { Router } from 'express';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Approvals, approversOf, Deciders, isPendingHolder, type ApprovalRecord, type ApprovalRequest } from '../approvals/index.js';
import type { AuditRecorder } from '../audit/index.js';
import { channelSetName, type ChannelRegistry, type ChannelSet } from '../channels/index.js';
import { durationMs, type LoadedConfig } from '../config/index.js';
import type { GatewayMetrics } from '../metrics/index.js';
import type { ApprovalDeps } from '../proxy/index.js';
import { redisGraceMs } from '../redis/index.js';

export interface OpenedApprovals {
  deps: ApprovalDeps;
  approvals: Approvals;
  /** HTTP routes the channels serve on Airlock's port (Slack's `/slack/events`). */
  routers: Router[];
  /** Closes the channels, then ends held calls. */
  close(): Promise<void>;
}

/**
 * The approvals of a process that holds calls (`start`, `stdio`): the
 * shared requests in Redis, the expiry worker, and the channels reviewers
 * see them in, opened through `channels`. `http`: the process has an HTTP
 * listener for the channels' routes (`airlock start`; `airlock stdio` has none).
 */
export async function openApprovals(
  config: LoadedConfig,
  { redis, logger, audit, metrics }: { redis: Redis; logger: Logger; audit: AuditRecorder; metrics: GatewayMetrics },
  options: {
    http: boolean;
    digest: ArgumentsDigest;
    channels: ChannelRegistry;
    /** A request a task holds has ended: its run is queued (see Approvals' onTaskDecided). */
    onTaskDecided: (request: ApprovalRequest) => Promise<void>;
  },
): Promise<OpenedApprovals> {
  // The channels decide through `approvals`, so they open second; a request that ends with no holder before then
  // (the expiry worker starts inside Approvals.open) is audited, and its messages are refreshed by the next click on them.
  const opened: { channels?: ChannelSet } = {};
  const redisTimeoutMs = durationMs(config.redis.timeout);
  const approvals = await Approvals.open({
    redis,
    prefix: config.redis.prefix,
    redisTimeoutMs,
    retentionMs: config.approvals.retention_ms,
    redisGraceMs: redisGraceMs(redisTimeoutMs),
    holder: true,
    digest: options.digest,
    deciders: new Deciders(config.people ?? []),
    logger,
    onTaskDecided: options.onTaskDecided,
    onOrphaned: (record) => {
      audit.record(orphanEvent(record, channelSetName(config.approvals.channels)));
      void opened.channels?.update(record.request, record.status).catch(() => undefined);
    },
  });
  let channels: ChannelSet;
  try {
    channels = await options.channels.open({ config, approvals, redis, audit, logger, metrics, http: options.http });
  } catch (err) {
    await approvals.close();
    throw err;
  }
  opened.channels = channels;
  return {
    approvals,
    routers: channels.routers,
    close: async () => {
      await channels.close();
      await approvals.close();
    },
    deps: {
      approvals,
      channel: channels,
      defaultTimeoutMs: config.approvals.timeout_ms,
      ...(config.approvals.approvers && { defaultApprovers: config.approvals.approvers }),
      heartbeatMs: config.approvals.heartbeat_ms,
      maxArgumentsBytes: config.approvals.max_arguments_bytes,
    },
  };
}

/**
 * A request that ended with nobody holding its call (expired; withdrawn when
 * an approve found its holder gone; approved, but its holder died before
 * sending the call): only this instance can say so.
 */
function orphanEvent({ request, status }: ApprovalRecord, channel: string): Parameters<AuditRecorder['record']>[0] {
  const forsaken = status.state === 'approved';
  return {
    event: status.state === 'expired' ? 'expired' : forsaken ? 'unavailable' : 'withdrawn',
    approval_id: request.id,
    grant: request.grant,
    session: request.session,
    client: request.client,
    server: request.server,
    tool: request.tool,
    channel,
    rule: request.rule,
    ...(status.reason !== undefined && { reason: status.reason }),
    detail: forsaken
      ? (status.execution?.detail ?? 'approved, but not sent')
      : isPendingHolder(status.holder)
        ? 'its call was answered approval pending, so nobody waited for it'
        : 'no gateway instance held the call any more',
    ...(forsaken && { approvers: approversOf(status) }),
  };
}
