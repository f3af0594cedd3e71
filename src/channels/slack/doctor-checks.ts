import { webApi } from '@slack/bolt';
import { pino } from 'pino';
import type { ChannelCheck as Check, RuleDestination } from '../channel.js';
import type { SlackSettings } from './slack-channel.js';
import { describeSlackError, webClientOptions, type WebClient } from './web-client.js';

const silentLogger = pino({ level: 'silent' });

/** Conversation ids: C… (public or private channel), G… (older private channel), D… (direct message). */
const CONVERSATION_ID = /^[CGD][A-Z0-9]{2,}$/;

/**
 * What the Slack channel needs, asked of Slack the way the gateway asks it
 * (same client options, `slack.api_url`): the bot token is valid, every
 * approvals channel (`slack.channel`, then those policy rules name) exists
 * and the bot can post there, and in Socket Mode the app token may open a
 * connection (one is asked for but never opened).
 */
export async function slackChecks(slack: SlackSettings, rules: readonly RuleDestination[]): Promise<Check[]> {
  const options = webClientOptions(slack.api_url, silentLogger);
  const appToken = slack.app_token;
  const channels = [{ channel: slack.channel, setting: 'slack.channel' }, ...rules.filter((r) => r.channel !== slack.channel)];
  const [bot, socket] = await Promise.all([
    botChecks(new webApi.WebClient(slack.bot_token, options), slack, channels),
    appToken === undefined ? undefined : appTokenCheck(new webApi.WebClient(appToken, options)),
  ]);
  return socket === undefined ? bot : [...bot, socket];
}

async function botChecks(client: WebClient, slack: SlackSettings, channels: readonly RuleDestination[]): Promise<Check[]> {
  const where = slack.api_url === undefined ? '' : ` at ${slack.api_url}`;
  let bot: { user: string; scopes: string[] | undefined };
  try {
    const answer = await client.auth.test();
    if (answer.bot_id === undefined) {
      return [
        {
          level: 'error',
          what: 'slack auth',
          detail: `slack.bot_token belongs to ${answer.user ?? 'a user'}, not a bot (auth.test answered without bot_id); give the app's Bot User OAuth Token (xoxb-…)`,
        },
        ...channels.map((c) => notChecked(c, 'slack.bot_token is not a bot token')),
      ];
    }
    bot = { user: answer.user ?? answer.bot_id, scopes: answer.response_metadata?.scopes };
    const auth: Check = {
      level: 'ok',
      what: 'slack auth',
      detail: `bot @${bot.user} (${answer.bot_id}) in workspace ${answer.team ?? '?'} (${answer.team_id ?? '?'})${where}`,
    };
    return [auth, ...(await Promise.all(channels.map((c) => channelCheck(client, c, bot))))];
  } catch (err) {
    const advice = err instanceof webApi.WebAPIPlatformError ? 'check slack.bot_token' : 'check slack.api_url and the network';
    return [
      { level: 'error', what: 'slack auth', detail: `auth.test${where} failed: ${describeSlackError(err)}; ${advice}` },
      ...channels.map((c) => notChecked(c, 'auth.test failed')),
    ];
  }
}

function notChecked({ channel, setting }: RuleDestination, why: string): Check {
  return { level: 'warn', what: 'slack channel', detail: `${channel}${namedBy(setting)}: not checked, since ${why}` };
}

/** Where a channel other than `slack.channel` comes from, after its id. */
function namedBy(setting: string): string {
  return setting === 'slack.channel' ? '' : ` (${setting})`;
}

async function channelCheck(
  client: WebClient,
  { channel, setting }: RuleDestination,
  bot: { user: string; scopes: string[] | undefined },
): Promise<Check> {
  const what = 'slack channel';
  const invite = `invite the bot there (/invite @${bot.user})`;
  if (!CONVERSATION_ID.test(channel)) {
    return {
      level: 'warn',
      what,
      detail: `"${channel}"${namedBy(setting)} is not a conversation id (C…), so it cannot be checked; give the channel's id, shown at the bottom of its details in Slack`,
    };
  }
  let info;
  try {
    info = (await client.conversations.info({ channel })).channel;
  } catch (err) {
    if (!(err instanceof webApi.WebAPIPlatformError))
      return { level: 'error', what, detail: `${channel}${namedBy(setting)}: conversations.info failed: ${describeSlackError(err)}` };
    const code = err.data.error;
    if (code === 'channel_not_found') {
      return {
        level: 'error',
        what,
        detail: `${channel}${namedBy(setting)}: Slack answered channel_not_found: no such channel, or a private channel the bot is not in; check ${setting} and ${invite}`,
      };
    }
    if (code === 'missing_scope') {
      // Slack names the scopes the method wanted in `needed`, beside `error`.
      const wanted = (err.data as { needed?: unknown }).needed;
      const needed = typeof wanted === 'string' ? ` (needs ${wanted})` : '';
      return {
        level: 'warn',
        what,
        detail: `${channel}${namedBy(setting)}: cannot be checked: the bot token may not call conversations.info${needed}; check yourself that the bot is in the channel, or add that scope`,
      };
    }
    return { level: 'error', what, detail: `${channel}${namedBy(setting)}: conversations.info failed: ${describeSlackError(err)}` };
  }
  const name = `${info?.name === undefined ? '' : `#${info.name} `}(${channel})${namedBy(setting)}`;
  if (info?.is_archived === true)
    return { level: 'error', what, detail: `${name} is archived: nothing can be posted there; unarchive it or choose another ${setting}` };
  if (info?.is_member !== false) return { level: 'ok', what, detail: `${name}: the bot is a member` };
  if (info.is_private === true) {
    return {
      level: 'error',
      what,
      detail: `${name} is private and the bot is not a member: chat.postMessage would fail (not_in_channel); ${invite}`,
    };
  }
  if (bot.scopes?.includes('chat:write.public'))
    return { level: 'ok', what, detail: `${name}: the bot is not a member, and posts there with the chat:write.public scope` };
  const wouldFail = `chat.postMessage fails (not_in_channel) unless the token has the chat:write.public scope; ${invite}, or add that scope`;
  if (bot.scopes === undefined) return { level: 'warn', what, detail: `${name}: the bot is not a member: ${wouldFail}` };
  return {
    level: 'error',
    what,
    detail: `${name}: the bot is not a member and its token lacks chat:write.public (it has ${bot.scopes.join(', ') || 'no scopes'}): ${wouldFail}`,
  };
}

async function appTokenCheck(client: WebClient): Promise<Check> {
  const what = 'slack socket mode';
  try {
    await client.apps.connections.open();
    return {
      level: 'ok',
      what,
      detail: 'slack.app_token may open a Socket Mode connection (apps.connections.open answered; none was opened)',
    };
  } catch (err) {
    const advice =
      err instanceof webApi.WebAPIPlatformError
        ? err.data.error === 'not_allowed_token_type'
          ? 'slack.app_token must be the app-level token (xapp-…) with the connections:write scope'
          : 'check slack.app_token (an app-level token, xapp-…, with connections:write)'
        : 'check slack.api_url and the network';
    return { level: 'error', what, detail: `apps.connections.open failed: ${describeSlackError(err)}; ${advice}` };
  }
}
