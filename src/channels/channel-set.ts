import type { Router } from 'express';
import type { Logger } from 'pino';
import type { ApprovalRequest, ApprovalStatus, Approvals } from '../approvals/index.js';
import type { Channel } from './channel.js';
import { formatChannelRefs } from './channel-refs.js';
import { errorMessage } from '../errors.js';

/**
 * The channels a config lists, as the one channel a held call sees. A
 * request is shown in every one of them or held in none: were one left out,
 * the approvers who read only that channel would never see the call, and it
 * would wait for nothing until it expired. Each channel's message is updated
 * as the request ends; decisions from any of them go through
 * `Approvals.decide`, which alone says who may decide. With one channel, the
 * set is that channel: its name, its errors.
 */
export class ChannelSet implements Channel {
  readonly name: string;
  readonly #channels: readonly Channel[];
  readonly #approvals: Pick<Approvals, 'withdraw' | 'get'>;
  readonly #logger: Logger;

  constructor(channels: readonly Channel[], approvals: Pick<Approvals, 'withdraw' | 'get'>, logger: Logger) {
    this.#channels = channels;
    this.#approvals = approvals;
    this.#logger = logger;
    this.name = channelSetName(channels.map((c) => c.name));
  }

  get routers(): Router[] {
    return this.#channels.flatMap((c) => c.routers);
  }

  /** Resolves with every channel's handle (see channelRefOf); should any channel fail, the others' messages say the request was withdrawn. */
  async post(request: ApprovalRequest): Promise<string | undefined> {
    const posted = await Promise.allSettled(this.#channels.map((c) => c.post(request)));
    const refs = new Map<string, string>();
    const shown: Channel[] = [];
    const failed: { name: string; err: unknown }[] = [];
    for (const [i, outcome] of posted.entries()) {
      const channel = this.#channels[i]!;
      if (outcome.status === 'rejected') {
        failed.push({ name: channel.name, err: outcome.reason });
        continue;
      }
      shown.push(channel);
      if (outcome.value !== undefined) refs.set(channel.name, outcome.value);
    }
    if (failed.length === 0) return formatChannelRefs(refs);
    if (this.#channels.length === 1) throw failed[0]!.err;
    await this.#withdrawShown(request, shown, refs, `it could not be posted to ${failed.map((f) => f.name).join(', ')}`);
    throw several(failed);
  }

  /** Tells every channel; one that fails does not keep the news from the others. */
  async update(request: ApprovalRequest, status: ApprovalStatus): Promise<void> {
    const told = await Promise.allSettled(this.#channels.map((c) => c.update(request, status)));
    const failed = told.flatMap((outcome, i) =>
      outcome.status === 'rejected' ? [{ name: this.#channels[i]!.name, err: outcome.reason as unknown }] : [],
    );
    if (failed.length === 0) return;
    if (this.#channels.length === 1) throw failed[0]!.err;
    throw several(failed);
  }

  /** Closes every channel, the last opened first; one that fails to close does not keep the others open. */
  async close(): Promise<void> {
    for (const channel of [...this.#channels].reverse()) {
      await channel
        .close()
        .catch((err: unknown) =>
          this.#logger.warn({ channel: channel.name, err: errorMessage(err) }, 'could not close the approval channel'),
        );
    }
  }

  /**
   * Withdraws a request some channel could not show, so no one decides a
   * call that is refused, and says so in the channels that did show it.
   */
  async #withdrawShown(
    request: ApprovalRequest,
    shown: readonly Channel[],
    refs: ReadonlyMap<string, string>,
    reason: string,
  ): Promise<void> {
    const fields = { approval_id: request.id, request_id: request.request_id };
    try {
      await this.#approvals.withdraw(request.id, reason);
      const { status } = await this.#approvals.get(request.id);
      const ref = formatChannelRefs(refs);
      const withRefs = ref === undefined ? status : { ...status, channel_ref: ref };
      await Promise.all(
        shown.map((c) =>
          c
            .update(request, withRefs)
            .catch((err: unknown) =>
              this.#logger.warn({ ...fields, channel: c.name, err: errorMessage(err) }, 'could not update the approval message'),
            ),
        ),
      );
    } catch (err) {
      this.#logger.warn({ ...fields, err: errorMessage(err) }, 'could not withdraw a request some channel did not show');
    }
  }
}

/** How audit events, logs and refusals name the channels a call was shown in: `slack`, or `slack, console`. */
export function channelSetName(names: readonly string[]): string {
  return names.join(', ');
}

/** One error for the channels that failed, each named: `slack: Slack did not take the message …; web: …`. */
function several(failed: readonly { name: string; err: unknown }[]): AggregateError {
  return new AggregateError(
    failed.map((f) => f.err),
    failed.map((f) => `${f.name}: ${errorMessage(f.err)}`).join('; '),
  );
}
