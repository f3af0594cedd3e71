import type { Logger } from 'pino';
import type { ApprovalRecord, Approvals, DecideResult } from '../../approvals/index.js';
import type { AuditRecorder } from '../../audit/index.js';
import { AirlockError, ErrorCode, errorMessage } from '../../errors.js';
import type { SlackDirectory } from './directory.js';
import { slackEntitlement } from './entitlement.js';
import { claimOf, type BlockActions, type ViewSubmission } from './payloads.js';
import { rejectModal, reply } from './replies.js';
import { describeSlackError, type WebClient } from './web-client.js';

export interface DecisionsOptions {
  approvals: Approvals;
  directory: SlackDirectory;
  client: WebClient;
  audit: AuditRecorder;
  logger: Logger;
  /** Re-renders a request's message from its current state. */
  refresh(record: ApprovalRecord): Promise<void>;
}

interface Voter {
  user: string;
  name: string | undefined;
  /** The `people` entry the user belongs to, if one links them. */
  person: string | undefined;
}

/** A decision that changed nothing: what goes to the audit trail, and what the reviewer is told. */
interface Refusal {
  reason: string;
  text: string;
  approvalId?: string;
  detail?: string;
}

/**
 * What a reviewer's click does: Approve decides at once, Reject opens a modal
 * for a reason and its submission decides. Slack has had its answer (ack)
 * before any of this runs, so a slow Redis or Slack never fails the click.
 * `Approvals.decide` is the one authority on who may decide and whether it
 * is still time; anything it refuses, and anything refused before it,
 * changes nothing, is audited as `decision_refused`, and is explained to
 * that reviewer alone.
 */
export class SlackDecisions {
  readonly #options: DecisionsOptions;

  constructor(options: DecisionsOptions) {
    this.#options = options;
  }

  async approveClicked(payload: BlockActions): Promise<void> {
    await this.#decide('approve', payload.actions[0].value, payload.user.id, payload.channel.id, '');
  }

  /** Opens the reason modal, unless the click could change nothing anyway (then the reviewer is told at once). */
  async rejectClicked(payload: BlockActions): Promise<void> {
    const id = payload.actions[0].value;
    const user = payload.user.id;
    // Slack's trigger_id lapses 3 s after the click: the name, only needed for a refusal, is not looked up first.
    const tell = async (refusal: Refusal) => this.#refuse(refusal, await this.#voter(user), payload.channel.id);
    const record = await this.#read(id);
    if ('refusal' in record) return tell(record.refusal);
    const allowed = await this.#mayDecide(record, user);
    if ('refusal' in allowed) return tell(allowed.refusal);
    if (record.status.state !== 'pending') {
      await this.#refresh(record);
      return tell(tooLate(record));
    }
    try {
      await this.#options.client.views.open({
        trigger_id: payload.trigger_id,
        view: rejectModal(record.request, { id, channel: payload.channel.id }),
      });
    } catch (err) {
      this.#options.logger.warn(
        { approval_id: id, request_id: record.request.request_id, user, err: describeSlackError(err) },
        'could not open the reject modal (views.open)',
      );
      await this.#ephemeral(
        payload.channel.id,
        user,
        reply.unavailable(`Slack would not open the reason form: ${describeSlackError(err)}`),
      );
    }
  }

  /** The reject modal submitted (and already closed): a refusal is told in the channel the click came from. */
  async reasonSubmitted(payload: ViewSubmission): Promise<void> {
    const { id, channel } = payload.view.private_metadata;
    await this.#decide('reject', id, payload.user.id, channel, payload.view.state.values.reason.reason.value ?? '');
  }

  /** A payload Airlock does not act on (another workspace's, or not one of its own interactions): audited, nothing else. */
  refuseUnknown(body: unknown, reason: string): void {
    const claim = claimOf(body);
    this.#audit(
      { reason, text: '', ...(claim.approvalId && { approvalId: claim.approvalId }) },
      claim.user === undefined ? undefined : { user: claim.user, name: undefined, person: undefined },
    );
  }

  async #decide(verdict: 'approve' | 'reject', id: string, user: string, channel: string, reason: string): Promise<void> {
    const voter = await this.#voter(user);
    const tell = (refusal: Refusal) => this.#refuse(refusal, voter, channel);
    const record = await this.#read(id);
    if ('refusal' in record) return tell(record.refusal);
    const allowed = await this.#mayDecide(record, voter.user);
    if ('refusal' in allowed) return tell(allowed.refusal);
    let result: DecideResult;
    try {
      result = await this.#options.approvals.decide(id, {
        verdict,
        by: voter.user,
        ...(voter.name !== undefined && { name: voter.name }),
        reason,
        via: 'slack',
        memberOf: allowed.memberOf,
      });
    } catch (err) {
      return tell(this.#refusalFor(err, id, record));
    }
    await this.#refresh(result.record);
    if (result.outcome === 'too_late') return tell(tooLate(result.record));
    this.#options.logger.info(
      { approval_id: id, request_id: record.request.request_id, user: voter.user, verdict, outcome: result.outcome },
      `Slack decision ${result.outcome}`,
    );
    if (result.outcome === 'counted') await this.#ephemeral(channel, voter.user, reply.counted(result.record));
  }

  async #voter(user: string): Promise<Voter> {
    return { user, name: await this.#options.directory.nameOf(user), person: this.#options.approvals.personOf({ via: 'slack', id: user }) };
  }

  async #read(id: string): Promise<ApprovalRecord | { refusal: Refusal }> {
    try {
      return await this.#options.approvals.get(id);
    } catch (err) {
      return { refusal: this.#refusalFor(err, id) };
    }
  }

  async #mayDecide(record: ApprovalRecord, user: string): Promise<{ memberOf: string[] } | { refusal: Refusal }> {
    const { request } = record;
    const approvalId = request.id;
    const entitled = await slackEntitlement(this.#options.approvals, this.#options.directory, request, user);
    if (entitled.ok) return { memberOf: entitled.memberOf };
    switch (entitled.why) {
      case 'console_only':
        return {
          refusal: {
            reason: 'no approvers list applies to this call: only console admins decide it',
            text: reply.consoleOnly(request),
            approvalId,
            detail: entitled.message,
          },
        };
      case 'membership_unknown':
        return {
          refusal: {
            reason: `could not read the members of ${entitled.groups.join(', ')} from Slack`,
            text: reply.membershipUnknown(request, entitled.groups),
            approvalId,
          },
        };
      default:
        return {
          refusal: { reason: 'not an approver for this tool', text: reply.notApprover(request), approvalId, detail: entitled.message },
        };
    }
  }

  #refusalFor(err: unknown, id: string, record?: ApprovalRecord): Refusal {
    const code = err instanceof AirlockError ? err.code : undefined;
    const message = errorMessage(err);
    if (code === ErrorCode.NotApprover && record)
      return { reason: 'not an approver for this tool', text: reply.notApprover(record.request), approvalId: id, detail: message };
    if (code === ErrorCode.ApprovalDecided && record)
      return { reason: 'already approved by this person', text: reply.alreadyVoted(record, message), approvalId: id, detail: message };
    if (code === ErrorCode.ApprovalNotFound || code === ErrorCode.BadArguments)
      return { reason: 'unknown approval request', text: reply.notFound(id), approvalId: id, detail: message };
    if (code !== ErrorCode.RedisUnavailable)
      this.#options.logger.error({ approval_id: id, request_id: record?.request.request_id, err: message }, 'a Slack decision failed');
    return { reason: 'the decision could not be recorded', text: reply.unavailable(message), approvalId: id, detail: message };
  }

  async #refuse(refusal: Refusal, voter: Voter, channel: string): Promise<void> {
    this.#audit(refusal, voter);
    await this.#ephemeral(channel, voter.user, refusal.text);
  }

  #audit(refusal: Refusal, voter: Voter | undefined): void {
    this.#options.logger.info({ approval_id: refusal.approvalId, user: voter?.user, reason: refusal.reason }, 'Slack decision refused');
    this.#options.audit.record({
      event: 'decision_refused',
      channel: 'slack',
      reason: refusal.reason,
      ...(refusal.approvalId !== undefined && { approval_id: refusal.approvalId }),
      ...(voter && {
        approvers: [
          {
            id: voter.user,
            ...(voter.name !== undefined && { name: voter.name }),
            ...(voter.person !== undefined && { person: voter.person }),
            via: 'slack',
          },
        ],
      }),
      ...(refusal.detail !== undefined && { detail: refusal.detail }),
    });
  }

  async #ephemeral(channel: string, user: string, text: string): Promise<void> {
    try {
      await this.#options.client.chat.postEphemeral({ channel, user, text });
    } catch (err) {
      this.#options.logger.warn({ user, err: describeSlackError(err) }, 'could not answer a reviewer (chat.postEphemeral)');
    }
  }

  async #refresh(record: ApprovalRecord): Promise<void> {
    await this.#options
      .refresh(record)
      .catch((err: unknown) =>
        this.#options.logger.warn(
          { approval_id: record.request.id, request_id: record.request.request_id, err: describeSlackError(err) },
          'could not update the approval message',
        ),
      );
  }
}

function tooLate(record: ApprovalRecord): Refusal {
  return {
    reason: `too late: the request was already ${record.status.state}`,
    text: reply.tooLate(record),
    approvalId: record.request.id,
    ...(record.status.decided_by && { detail: `decided by ${record.status.decided_by}` }),
  };
}
