import { App, ExpressReceiver, SocketModeReceiver, type Middleware, type AnyMiddlewareArgs } from '@slack/bolt';
import type { Router } from 'express';
import type { Logger } from 'pino';
import { boltLogger } from './bolt-logger.js';
import type { SlackArgumentsViewer } from './arguments-viewer.js';
import type { SlackDecisions } from './decisions.js';
import {
  APPROVE_ACTION,
  BlockActionsSchema,
  InteractionSchema,
  REASON_VIEW,
  REJECT_ACTION,
  SHOW_ARGUMENTS_ACTION,
  teamOf,
  ViewSubmissionSchema,
} from './payloads.js';
import type { WebClientOptions } from './web-client.js';
import { errorMessage } from '../../errors.js';

/** Who the bot token belongs to (`auth.test`): the workspace every payload must come from. */
export interface SlackIdentity {
  teamId: string;
  botId: string;
  botUserId: string;
}

export type Receiving = { mode: 'http'; signingSecret: string; router: Router } | { mode: 'socket'; appToken: string };

export interface BoltAppOptions {
  receiving: Receiving;
  botToken: string;
  clientOptions: WebClientOptions;
  identity(): Promise<SlackIdentity>;
  decisions: SlackDecisions;
  viewer: SlackArgumentsViewer;
  logger: Logger;
}

/**
 * The Bolt app: HTTP requests on Airlock's own express app (the receiver
 * adds `POST /slack/events` to `router`, after the guard), or a Socket Mode
 * connection. One global middleware refuses anything but Airlock's own
 * interactions from its own workspace; three listeners decide, one shows
 * all of a request's arguments.
 */
export function createBoltApp(options: BoltAppOptions): App {
  const { receiving, decisions, logger } = options;
  const log = boltLogger(logger);
  const receiver =
    receiving.mode === 'http'
      ? // processBeforeResponse stays false: Slack gets its 200 at ack(), within its 3 s, and the decision runs on.
        new ExpressReceiver({
          signingSecret: receiving.signingSecret,
          router: receiving.router,
          endpoints: '/slack/events',
          processBeforeResponse: false,
          logger: log,
        })
      : // Built here rather than by `socketMode: true`, which would not pass the Web API options (slack.api_url) to apps.connections.open.
        new SocketModeReceiver({ appToken: receiving.appToken, logger: log, installerOptions: { clientOptions: options.clientOptions } });
  const app = new App({
    receiver,
    // Our own authorize, so Bolt never calls auth.test per request: the identity is read once.
    authorize: async () => {
      const identity = await options.identity();
      return { botToken: options.botToken, botId: identity.botId, botUserId: identity.botUserId, teamId: identity.teamId };
    },
    clientOptions: options.clientOptions,
    logger: log,
    convoStore: false,
  });

  app.use(onlyOurInteractions(options));
  app.action(APPROVE_ACTION, async ({ ack, body }) => {
    await ack();
    await settle(logger, decisions.approveClicked(BlockActionsSchema.parse(body)));
  });
  app.action(REJECT_ACTION, async ({ ack, body }) => {
    await ack();
    await settle(logger, decisions.rejectClicked(BlockActionsSchema.parse(body)));
  });
  app.action(SHOW_ARGUMENTS_ACTION, async ({ ack, body }) => {
    await ack();
    await settle(logger, options.viewer.showClicked(BlockActionsSchema.parse(body)));
  });
  app.view(REASON_VIEW, async ({ ack, body }) => {
    await ack();
    await settle(logger, decisions.reasonSubmitted(ViewSubmissionSchema.parse(body)));
  });
  app.error(async (err) => {
    logger.error({ err: err.message, code: err.code }, 'Slack request failed');
  });
  return app;
}

/** Validates every payload with zod and checks its workspace against auth.test's, before any listener sees it. */
function onlyOurInteractions(options: BoltAppOptions): Middleware<AnyMiddlewareArgs> {
  return async (args) => {
    const { body, next } = args;
    // Every payload kind Airlock can receive here (actions, views, shortcuts, events) carries an ack; Slack wants it even for a refusal.
    const ack = 'ack' in args ? (args.ack as () => Promise<void>) : async () => undefined;
    const parsed = InteractionSchema.safeParse(body);
    if (!parsed.success) {
      await ack();
      const problems = parsed.error.issues.map((i) => `${['payload', ...i.path.map(String)].join('.')}: ${i.message}`);
      options.decisions.refuseUnknown(body, `not an interaction Airlock handles (${problems.slice(0, 3).join('; ')})`);
      return;
    }
    let ours: string;
    try {
      ours = (await options.identity()).teamId;
    } catch (err) {
      await ack();
      options.decisions.refuseUnknown(body, `the workspace could not be checked: auth.test failed (${errorMessage(err)})`);
      return;
    }
    const team = teamOf(parsed.data);
    if (team !== ours) {
      await ack();
      options.decisions.refuseUnknown(body, `payload from Slack team ${team ?? '(none)'}, not this app's team ${ours}`);
      return;
    }
    await next();
  };
}

/** A listener's work after ack(): its failure is logged, never thrown into Bolt, which would try to answer a request already answered. */
async function settle(logger: Logger, work: Promise<void>): Promise<void> {
  await work.catch((err: unknown) => logger.error({ err: errorMessage(err) }, 'a Slack decision failed'));
}
