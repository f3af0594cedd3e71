import { durationMs, type LoadedConfig } from '../../config/index.js';
import { AirlockError, ErrorCode } from '../../errors.js';
import type { ChannelKind } from '../channel.js';
import { slackChecks } from './doctor-checks.js';
import { SLACK_CHANNEL } from './payloads.js';
import { SlackChannel, type SlackSettings } from './slack-channel.js';

/** `approvals.channels: [slack]`, set up by the config's `slack` section. */
export const slackChannel: ChannelKind = {
  kind: SLACK_CHANNEL,
  checkProcess: (config, { http }) => SlackChannel.checkReceiving(settingsOf(config), http),
  open: ({ config, redis, approvals, audit, logger, metrics, http }) =>
    SlackChannel.open({
      slack: settingsOf(config),
      ...(config.public_url !== undefined && { publicUrl: config.public_url }),
      redactKeys: config.redact.keys,
      redis,
      prefix: config.redis.prefix,
      redisTimeoutMs: durationMs(config.redis.timeout),
      approvals,
      audit,
      logger,
      http,
      onApiError: (method, error) => metrics.slackApiError(method, error),
      onRequestRefused: (reason) => metrics.slackRequestRefused(reason),
    }),
  doctor: (config, rules) => slackChecks(settingsOf(config), rules),
};

/** `loadConfig` refuses slack without a slack section already; this says it again of a config made some other way. */
function settingsOf(config: LoadedConfig): SlackSettings {
  if (config.slack === undefined)
    throw new AirlockError(
      ErrorCode.ConfigInvalid,
      `${config.file}: approvals.channels lists slack but there is no slack section: add one, or use "console"`,
    );
  return config.slack;
}
