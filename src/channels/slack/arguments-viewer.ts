import type { Logger } from 'pino';
import type { ApprovalRecord, Approvals } from '../../approvals/index.js';
import { AirlockError, ErrorCode, errorMessage } from '../../errors.js';
import { argumentsModal } from './arguments-modal.js';
import type { SlackDirectory } from './directory.js';
import { slackEntitlement } from './entitlement.js';
import type { MessageOptions } from './message.js';
import { messageRefOf, type BlockActions } from './payloads.js';
import { reply } from './replies.js';
import { describeSlackError, type WebClient } from './web-client.js';

export interface ArgumentsViewerOptions {
  approvals: Approvals;
  directory: SlackDirectory;
  client: WebClient;
  logger: Logger;
  message: MessageOptions;
}

/**
 * "Show all arguments": a modal with every argument, for the reviewer who
 * clicked. Only for someone who may decide the request (the arguments can
 * hold far more than the message lets the whole channel read, a file's
 * whole content, say), and only from the channel its message is in.
 * Nothing is audited: a view changes nothing; each refusal is told to the
 * clicker alone.
 */
export class SlackArgumentsViewer {
  readonly #options: ArgumentsViewerOptions;

  constructor(options: ArgumentsViewerOptions) {
    this.#options = options;
  }

  async showClicked(payload: BlockActions): Promise<void> {
    const id = payload.actions[0].value;
    const user = payload.user.id;
    const channel = payload.channel.id;
    const tell = (text: string) => this.#ephemeral(channel, user, text);
    const record = await this.#read(id);
    if (typeof record === 'string') return tell(record);
    const { request } = record;
    // A click from anywhere but the request's own message (another channel, a request never posted) shows nothing.
    if (messageRefOf(record.status)?.channel !== channel) return tell(reply.notPostedHere(id));
    const entitled = await slackEntitlement(this.#options.approvals, this.#options.directory, request, user);
    if (!entitled.ok) return tell(reply.argumentsForApprovers(request, entitled));
    try {
      await this.#options.client.views.open({ trigger_id: payload.trigger_id, view: argumentsModal(request, this.#options.message) });
      this.#options.logger.info({ approval_id: id, request_id: request.request_id, user }, 'all arguments shown in Slack');
    } catch (err) {
      this.#options.logger.warn(
        { approval_id: id, request_id: request.request_id, user, err: describeSlackError(err) },
        'could not open the arguments modal (views.open)',
      );
      await tell(reply.argumentsUnavailable(`Slack would not open them: ${describeSlackError(err)}`));
    }
  }

  /** The record, or what to tell the clicker instead. */
  async #read(id: string): Promise<ApprovalRecord | string> {
    try {
      return await this.#options.approvals.get(id);
    } catch (err) {
      const code = err instanceof AirlockError ? err.code : undefined;
      if (code === ErrorCode.ApprovalNotFound || code === ErrorCode.BadArguments) return reply.nothingToShow(id);
      return reply.argumentsUnavailable(errorMessage(err));
    }
  }

  async #ephemeral(channel: string, user: string, text: string): Promise<void> {
    try {
      await this.#options.client.chat.postEphemeral({ channel, user, text });
    } catch (err) {
      this.#options.logger.warn({ user, err: describeSlackError(err) }, 'could not answer a reviewer (chat.postEphemeral)');
    }
  }
}
