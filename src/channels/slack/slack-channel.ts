import type { App } from '@slack/bolt';
import express, { type Router } from 'express';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ApprovalRequest, ApprovalStatus, Approvals } from '../../approvals/index.js';
import type { AuditRecorder } from '../../audit/index.js';
import type { LoadedConfig } from '../../config/index.js';
import { AirlockError, ErrorCode } from '../../errors.js';
import { Redactor } from '../../redact.js';
import type { Channel } from '../channel.js';
import { SlackArgumentsViewer } from './arguments-viewer.js';
import { createBoltApp, type SlackIdentity } from './bolt-app.js';
import { SlackDecisions } from './decisions.js';
import { SlackDirectory } from './directory.js';
import { slackKeys } from './keys.js';
import { approvalMessage, type MessageOptions } from './message.js';
import { formatMessageRef, messageRefOf, SLACK_CHANNEL } from './payloads.js';
import { slackRequestGuard, type RefusalReason } from './request-guard.js';
import { describeSlackError, isPlatformError, reportingWebClient, webClientOptions, type WebClient } from './web-client.js';

/** The config's `slack` section. */
export type SlackSettings = NonNullable<LoadedConfig['slack']>;

export interface SlackChannelOptions {
  slack: SlackSettings;
  publicUrl?: string;
  /** `redact.keys`: argument names whose values the message hides. */
  redactKeys: readonly string[];
  /** The request-path client, for the replay record; keys go under `prefix`. */
  redis: Redis;
  prefix: string;
  redisTimeoutMs: number;
  approvals: Approvals;
  audit: AuditRecorder;
  logger: Logger;
  /** This process serves HTTP (`airlock start`); without it (`airlock stdio`) only Socket Mode can receive clicks. */
  http: boolean;
  /** Each Web API call that failed after its retries: the method and Slack's error (for metrics). */
  onApiError?: (method: string, error: string) => void;
  /** Each request to /slack/events refused before any decision, by reason (for metrics). */
  onRequestRefused?: (reason: RefusalReason) => void;
  now?: () => number;
}

/** A message update that raced another (the click's and the holder's) is re-sent from Redis's state this many times at most. */
const UPDATE_ROUNDS = 3;
const SOCKET_START_MS = 15_000;

/**
 * The Slack approval channel: each request is a message with Approve and
 * Reject in `slack.channel` (or the rule's own channel), updated as it ends;
 * clicks come back over HTTP at `/slack/events` or over Socket Mode.
 */
export class SlackChannel implements Channel {
  readonly name = SLACK_CHANNEL;
  readonly #options: SlackChannelOptions;
  readonly #client: WebClient;
  readonly #message: MessageOptions;
  readonly #router: Router | undefined;
  #app: App | undefined;
  /** Writes the pending summaries of unauthenticated requests refused on /slack/events. */
  #flushRefusals: (() => void) | undefined;
  #identity: Promise<SlackIdentity> | undefined;

  private constructor(options: SlackChannelOptions, client: WebClient, router: Router | undefined) {
    this.#options = options;
    this.#client = client;
    this.#router = router;
    this.#message = {
      redactor: new Redactor(options.redactKeys),
      ...(options.publicUrl !== undefined && { publicUrl: options.publicUrl }),
    };
  }

  /**
   * Checks the bot token (auth.test) and starts receiving. A token Slack
   * refuses stops the start; Slack out of reach does not (it is asked again
   * when a click needs the workspace), except in Socket Mode, which cannot
   * start without it.
   */
  static async open(options: SlackChannelOptions): Promise<SlackChannel> {
    const { slack, logger } = options;
    SlackChannel.checkReceiving(slack, options.http);
    const socket = slack.app_token !== undefined;
    const clientOptions = webClientOptions(slack.api_url, logger);
    const client = reportingWebClient(slack.bot_token, clientOptions, options.onApiError ?? (() => undefined));
    const router = socket ? undefined : express.Router();
    const channel = new SlackChannel(options, client, router);
    try {
      await channel.#whoAmI();
    } catch (err) {
      if (isPlatformError(err) || socket)
        throw new AirlockError(
          ErrorCode.SlackUnavailable,
          `slack.bot_token: auth.test failed: ${describeSlackError(err)}; check the token and slack.api_url`,
          { cause: err },
        );
      logger.warn(
        { err: describeSlackError(err) },
        'Slack cannot be reached to check the bot token (auth.test); approval requests fail [UNAVAILABLE] until it can',
      );
    }
    const directory = new SlackDirectory(client, logger, options.now);
    const viewer = new SlackArgumentsViewer({ approvals: options.approvals, directory, client, logger, message: channel.#message });
    const decisions = new SlackDecisions({
      approvals: options.approvals,
      directory,
      client,
      audit: options.audit,
      logger,
      refresh: (record) => channel.update(record.request, record.status),
    });
    if (router) {
      const keys = slackKeys(options.prefix);
      const guard = slackRequestGuard({
        signingSecret: slack.signing_secret,
        redis: options.redis,
        keys,
        redisTimeoutMs: options.redisTimeoutMs,
        audit: options.audit,
        logger,
        now: options.now ?? Date.now,
        ...(options.onRequestRefused && { onRefused: options.onRequestRefused }),
      });
      router.post('/slack/events', ...guard.handlers);
      channel.#flushRefusals = guard.flush;
    }
    const receiving = router
      ? { mode: 'http' as const, signingSecret: slack.signing_secret, router }
      : { mode: 'socket' as const, appToken: slack.app_token ?? '' };
    channel.#app = createBoltApp({
      receiving,
      botToken: slack.bot_token,
      clientOptions,
      identity: () => channel.#whoAmI(),
      decisions,
      viewer,
      logger,
    });
    if (socket) await channel.#startSocket(channel.#app);
    logger.info(
      { mode: socket ? 'socket' : 'http', channel: slack.channel, api_url: slack.api_url },
      socket ? 'Slack approvals: connected in Socket Mode' : 'Slack approvals: receiving clicks at /slack/events',
    );
    return channel;
  }

  /** Refuses a process that could post requests but never hear a click on them: no HTTP listener (`airlock stdio`) and no Socket Mode. */
  static checkReceiving(slack: Pick<SlackSettings, 'app_token'>, http: boolean): void {
    if (slack.app_token === undefined && !http) {
      throw new AirlockError(
        ErrorCode.ConfigInvalid,
        'slack: this process has no HTTP listener for Slack to send clicks to (/slack/events), so approvals could be posted but never decided here; set slack.app_token to use Socket Mode, or approvals.channel: console',
      );
    }
  }

  /** `POST /slack/events` for Airlock's HTTP app; none in Socket Mode. */
  get routers(): Router[] {
    return this.#router ? [this.#router] : [];
  }

  async post(request: ApprovalRequest): Promise<string> {
    const channel = request.channel ?? this.#options.slack.channel;
    const message = approvalMessage(request, { state: 'pending', votes: [], min_approvals: request.min_approvals }, this.#message);
    try {
      const answer = await this.#client.chat.postMessage({ channel, ...message, unfurl_links: false, unfurl_media: false });
      if (answer.channel === undefined || answer.ts === undefined)
        throw new Error('chat.postMessage answered without the message channel and ts');
      return formatMessageRef(answer.channel, answer.ts);
    } catch (err) {
      throw new AirlockError(
        ErrorCode.SlackUnavailable,
        `Slack did not take the message for channel ${channel}: ${describeSlackError(err)}`,
        { cause: err },
      );
    }
  }

  /**
   * Re-renders the message from the request's state in Redis (merged with
   * `status`, which may know the execution before Redis does). Two instances
   * can update at once (the click's and the holder's); each re-reads after
   * sending and sends again if the state moved on, so the last word is the
   * latest state whichever update Slack applied last.
   */
  async update(request: ApprovalRequest, status: ApprovalStatus): Promise<void> {
    let sent: string | undefined;
    for (let round = 0; round < UPDATE_ROUNDS; round++) {
      const current = await this.#current(request.id, status);
      const ref = messageRefOf(current);
      if (ref === undefined) {
        this.#options.logger.debug(
          { approval_id: request.id, request_id: request.request_id },
          'no Slack message to update (it was never posted)',
        );
        return;
      }
      const message = approvalMessage(request, current, this.#message);
      const text = JSON.stringify(message);
      if (text === sent) return;
      await this.#client.chat.update({ channel: ref.channel, ts: ref.ts, ...message });
      sent = text;
    }
  }

  async close(): Promise<void> {
    this.#flushRefusals?.();
    if (this.#router === undefined) await this.#app?.stop();
  }

  async #current(id: string, given: ApprovalStatus): Promise<ApprovalStatus> {
    const stored = await this.#options.approvals.get(id).then(
      (record) => record.status,
      () => undefined,
    );
    if (stored === undefined) return given;
    const execution = stored.execution ?? given.execution;
    const ref = stored.channel_ref ?? given.channel_ref;
    return { ...stored, ...(execution && { execution }), ...(ref !== undefined && { channel_ref: ref }) };
  }

  /** auth.test, once; a failure is not kept, so the next caller asks again. */
  #whoAmI(): Promise<SlackIdentity> {
    this.#identity ??= this.#client.auth.test().then(
      (answer) => {
        if (!answer.team_id || !answer.user_id || !answer.bot_id) throw new Error('auth.test answered without team_id, user_id or bot_id');
        return { teamId: answer.team_id, botUserId: answer.user_id, botId: answer.bot_id };
      },
      (err: unknown) => {
        this.#identity = undefined;
        throw err;
      },
    );
    return this.#identity;
  }

  async #startSocket(app: App): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no connection within ${SOCKET_START_MS / 1000} s`)), SOCKET_START_MS);
    });
    try {
      await Promise.race([app.start(), deadline]);
    } catch (err) {
      await app.stop().catch(() => undefined);
      throw new AirlockError(ErrorCode.SlackUnavailable, `slack.app_token: Socket Mode could not connect: ${describeSlackError(err)}`, {
        cause: err,
      });
    } finally {
      clearTimeout(timer);
    }
  }
}
