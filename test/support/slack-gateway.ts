import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FakeSlack, SlackCall } from './fake-slack.js';
import { startGateway, type RunningGateway } from './gateway.js';
import { FILESYSTEM_SERVER } from './mcp-servers.js';
import { CHANNEL, SIGNING_SECRET } from './slack-interactions.js';
import type { TestRedis } from './redis.js';

export const AGENT = 'agent-token-0123456789';
export const ADMIN = 'alice-admin-token-0123456789';
export const BOT_TOKEN = 'xoxb-0000-test-bot-token';
export const APP_TOKEN = 'xapp-1-test-app-token';

export interface SlackGateway extends RunningGateway {
  /** The filesystem server's folder. */
  sandbox: string;
}

export interface SlackGatewayOptions {
  slack: Pick<FakeSlack, 'apiUrl'>;
  servers: Record<string, unknown>;
  socket?: boolean;
  /** `approvals.approvers`: who may decide holds whose rule lists none (without it, no Slack user may). */
  approvers?: string[];
  /** `people` entries, as YAML flow mappings (`{ name: Alice, slack: [U0ALICE], admins: [alice] }`). */
  people?: string[];
  config?: string;
}

/**
 * The config and files of a gateway with the Slack channel pointed at a
 * fake Slack: the real filesystem server under each name of `servers` (all
 * on one sandbox folder, each with its own policy), a grant, an admin, and
 * `slack:` with the test signing secret. `socket` adds an app token (Socket
 * Mode); `approvers` and `people` set `approvals.approvers` and `people`;
 * `config` is appended (e.g. `public_url: …`).
 */
export function slackGatewayConfig(options: SlackGatewayOptions): { config: string; files: Record<string, string> } {
  const names = Object.keys(options.servers);
  return {
    config: [
      'servers:',
      ...names.flatMap((name) => [
        `  ${name}:`,
        `    command: ${process.execPath}`,
        `    args: [${FILESYSTEM_SERVER}, ./sandbox]`,
        `    policy: policies/${name}.json`,
      ]),
      'grants:',
      `  - { name: agent, token: ${AGENT} }`,
      'admins:',
      `  - { name: alice, token: ${ADMIN} }`,
      'slack:',
      `  bot_token: ${BOT_TOKEN}`,
      `  signing_secret: ${SIGNING_SECRET}`,
      `  channel: ${CHANNEL}`,
      `  api_url: ${options.slack.apiUrl}`,
      ...(options.socket ? [`  app_token: ${APP_TOKEN}`] : []),
      ...(options.approvers ? [`approvals: { approvers: [${options.approvers.join(', ')}] }`] : []),
      ...(options.people ? ['people:', ...options.people.map((p) => `  - ${p}`)] : []),
      options.config ?? '',
      '',
    ].join('\n'),
    files: {
      ...Object.fromEntries(names.map((name) => [`policies/${name}.json`, JSON.stringify(options.servers[name])])),
      'sandbox/.keep': '',
    },
  };
}

/** `airlock start` (a child process, see `startGateway`) with `slackGatewayConfig(options)`. */
export async function startSlackGateway(options: SlackGatewayOptions & { redis?: TestRedis }): Promise<SlackGateway> {
  const gateway = await startGateway({ ...slackGatewayConfig(options), ...(options.redis && { redis: options.redis }) });
  const sandbox = join(gateway.dir, 'sandbox');
  mkdirSync(sandbox, { recursive: true });
  return { ...gateway, sandbox };
}

/** A policy holding `write_file` for approval (with `approval` settings), allowing directory listing. */
export function writeFilePolicy(approval?: Record<string, unknown>, reason = 'Writing files needs a person'): unknown {
  return {
    version: '1',
    default: 'deny',
    tools: {
      list_allowed_directories: {},
      write_file: { action: 'require_approval', reason, ...(approval && { approval }) },
    },
  };
}

/** The approval id a posted message's Approve button carries. */
export function approvalIdIn(call: SlackCall): string {
  const blocks = call.body.blocks as { type: string; elements?: { action_id?: string; value?: string }[] }[];
  const value = blocks.find((b) => b.type === 'actions')?.elements?.find((e) => e.action_id === 'airlock_approve')?.value;
  if (value === undefined) throw new Error(`no Approve button in ${JSON.stringify(blocks)}`);
  return value;
}

/** Everything a message shows, as one string to match against. */
export function shown(call: SlackCall): string {
  return `${String(call.body.text)}\n${JSON.stringify(call.body.blocks)}`;
}
