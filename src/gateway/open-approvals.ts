import type { ArgumentsDigest } from '../arguments-digest.js';
import type { Router } from 'express';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Approvals, approversOf, Deciders, type ApprovalRecord } from '../approvals/index.js';
import type { AuditRecorder } from '../audit/index.js';
import { ConsoleChannel, SlackChannel, type ApprovalChannel } from '../channels/index.js';
import { durationMs, type LoadedConfig } from '../config/index.js';
import type { ApprovalDeps } from '../proxy/index.js';
import { redisGraceMs } from '../redis/index.js';

export interface OpenedApprovals {
  deps: ApprovalDeps;
  approvals: Approvals;
  /** HTTP routes the channel needs on Airlock's port (Slack's `/slack/events`). */
  routers: Router[];
  /** Disconnects the channel, then ends held calls. */
  close(): Promise<void>;
}

/**
 * The approvals of a process that holds calls (`start`, `stdio`): the
 * shared requests in Redis, the expiry worker, and the channel reviewers
 * see them in. `http`: the process has an HTTP listener for the channel's
 * routes (`airlock start`; `airlock stdio` has none); `onSlackApiError` hears of
 * each Slack Web API call that failed, `onSlackRequestRefused` of each request
 * to /slack/events refused before any decision.
 */
export async function openApprovals(config: LoadedConfig, redis: Redis, logger: Logger, audit: AuditRecorder, options: { http: boolean; digest: ArgumentsDigest; onSlackApiError?: (method: string, error: string) => void; onSlackRequestRefused?: (reason: string) => void }): Promise<OpenedApprovals> {
  // The channel decides through `approvals`, so it opens second; a request that ends with no holder before then
  // (the expiry worker starts inside Approvals.open) is audited, and its message is refreshed by the next click on it.
  const opened: { channel?: ApprovalChannel } = {};
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
    onOrphaned: (record) => {
      audit.record(orphanEvent(record, config.approvals.channel));
      void opened.channel?.update(record.request, record.status).catch(() => undefined);
    },
  });
  let slack: SlackChannel | undefined;
  try {
    if (config.approvals.channel === 'slack' && config.slack) {
      slack = await SlackChannel.open({
        slack: config.slack,
        ...(config.public_url !== undefined && { publicUrl: config.public_url }),
        redactKeys: config.redact.keys,
        redis,
        prefix: config.redis.prefix,
        redisTimeoutMs,
        approvals,
        audit,
        logger,
        http: options.http,
        ...(options.onSlackApiError && { onApiError: options.onSlackApiError }),
        ...(options.onSlackRequestRefused && { onRequestRefused: options.onSlackRequestRefused }),
      });
    }
  } catch (err) {
    await approvals.close();
    throw err;
  }
  const channel = slack ?? new ConsoleChannel(logger);
  opened.channel = channel;
  return {
    approvals,
    routers: slack?.routers ?? [],
    close: async () => {
      await slack?.close();
      await approvals.close();
    },
    deps: {
      approvals,
      channel,
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
    detail: forsaken ? (status.execution?.detail ?? 'approved, but not sent') : 'no gateway instance held the call any more',
    ...(forsaken && { approvers: approversOf(status) }),
  };
}
