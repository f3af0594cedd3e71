import type { Router } from 'express';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ApprovalRequest, ApprovalStatus, Approvals } from '../approvals/index.js';
import type { AuditRecorder } from '../audit/index.js';
import type { LoadedConfig } from '../config/index.js';
import type { GatewayMetrics } from '../metrics/index.js';

/**
 * Where people decide: Slack, the console. A channel shows each new request
 * and later says how it ended; decisions come back through
 * `Approvals.decide`, on whichever instance the channel reaches.
 */
export interface ApprovalChannel {
  readonly name: string;
  /** Shows a new request to its reviewers. Resolves with a handle for `update` (e.g. a Slack message ts), kept in Redis so any instance can update it. */
  post(request: ApprovalRequest): Promise<string | undefined>;
  /**
   * How the request ended (decided, expired, withdrawn) and, once the call
   * ran, what the server answered (`status.execution`).
   */
  update(request: ApprovalRequest, status: ApprovalStatus): Promise<void>;
}

/**
 * A channel as a gateway runs it: opened by its kind (see ChannelKind),
 * serving its own HTTP routes if it takes clicks over HTTP, closed when the
 * gateway stops. Its handle is read back with `channelRefOf(status, name)`.
 */
export interface Channel extends ApprovalChannel {
  /** Routes it serves on Airlock's HTTP listener (Slack's `POST /slack/events`), mounted before the listener opens. */
  readonly routers: readonly Router[];
  /** Stops taking decisions; the held calls end after it. */
  close(): Promise<void>;
}

/** What a channel may use of the process that opens it. */
export interface ChannelContext {
  config: LoadedConfig;
  approvals: Approvals;
  /** The request-path client: keys go under `config.redis.prefix`. */
  redis: Redis;
  audit: AuditRecorder;
  logger: Logger;
  /** Where a channel counts what goes wrong in it (Slack's failed Web API calls, refused requests). */
  metrics: GatewayMetrics;
  /** This process serves HTTP (`airlock start`); without it (`airlock stdio`) no route of the channel is reachable. */
  http: boolean;
}

/** One line of `airlock doctor` about a channel. */
export interface ChannelCheck {
  level: 'ok' | 'warn' | 'error';
  what: string;
  detail: string;
}

/** A place a policy rule sends its requests to (`approval.channel`), and the settings that name it. */
export interface RuleDestination {
  channel: string;
  setting: string;
}

/**
 * A kind of channel as `approvals.channels` names it, and everything the
 * gateway and the CLI need of it. Its settings are its own section of the
 * config schema (`slack:`), read from `config` here; a kind that needs none
 * reads nothing.
 */
export interface ChannelKind {
  /** The name `approvals.channels` lists, and the `name` of the channels it opens. */
  readonly kind: string;
  /** Refuses, before anything is opened, a process this channel could not work in (Slack over HTTP in `airlock stdio`). */
  checkProcess?(config: LoadedConfig, process: { http: boolean }): void;
  /** Builds the channel and starts it taking decisions. */
  open(context: ChannelContext): Promise<Channel>;
  /** What `airlock doctor` asks of it, with the destinations policy rules name. */
  doctor?(config: LoadedConfig, rules: readonly RuleDestination[]): Promise<ChannelCheck[]>;
}
