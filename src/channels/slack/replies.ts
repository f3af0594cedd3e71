import type { types } from '@slack/bolt';
import type { ApprovalRecord, ApprovalRequest } from '../../approvals/index.js';
import { cutPlain, escapeText, inlineCode, mention, slackDate } from './mrkdwn.js';
import type { SlackEntitlement } from './entitlement.js';
import { REASON_BLOCK, REASON_INPUT, REASON_VIEW, type ModalMetadata } from './payloads.js';
import { progress } from './message.js';

/**
 * What one reviewer is told privately (ephemeral messages, modal errors)
 * when a click changed nothing or needs more: each says why, and what
 * happened instead.
 */
export const reply = {
  notApprover(request: ApprovalRequest): string {
    return `You are not an approver for this tool (${callOf(request)}): nothing changed. Approvers: ${request.approvers.map(mention).join(', ')}.`;
  },

  /** No approvers list applied when the call was held: Slack users cannot decide it, and the reviewer learns which key would let them. */
  consoleOnly(request: ApprovalRequest): string {
    return `Only console admins can decide ${callOf(request)}: no approvers list applies to it, so a click in Slack changes nothing. To let Slack users decide such calls, list them in \`approvals.approvers\` (Airlock's config) or the rule's \`approval.approvers\` (its policy). An admin can decide this one with \`airlock approvals approve ${request.id}\`.`;
  },

  membershipUnknown(request: ApprovalRequest, groups: readonly string[]): string {
    return `Airlock could not read the members of ${groups.map(mention).join(', ')} from Slack, so it cannot tell whether you may decide ${callOf(request)}: nothing changed. Try again in a moment.`;
  },

  /** Who was first, and when: a late click learns what it lost to. */
  tooLate(record: ApprovalRecord): string {
    const { status } = record;
    const when = status.decided_at === undefined ? '' : ` ${slackDate(status.decided_at)}`;
    const first = status.votes.find((v) => v.verdict === (status.state === 'rejected' ? 'reject' : 'approve'));
    const by = first
      ? ` by ${mention(first.by)}${first.via === 'slack' ? '' : ` (${escapeText(first.via)})`}`
      : status.decided_by
        ? ` by ${escapeText(status.decided_by)}`
        : '';
    const why = status.reason && (status.state === 'expired' || status.state === 'withdrawn') ? `: ${escapeText(status.reason)}` : '';
    return `Too late: ${callOf(record.request)} was already ${status.state}${by}${when}${why}. Your click changed nothing.`;
  },

  /** `detail` says by whom, in case the earlier vote came through another of the person's identities. */
  alreadyVoted(record: ApprovalRecord, detail: string): string {
    return `Nothing changed: ${escapeText(detail)}. ${callOf(record.request)} needs ${record.request.min_approvals} different people (${progress(record.status)}).`;
  },

  counted(record: ApprovalRecord): string {
    return `Your approval of ${callOf(record.request)} is recorded: ${progress(record.status)}. It runs once enough approvers agree.`;
  },

  notFound(id: string): string {
    return `Airlock has no approval request ${inlineCode(id)} (it may have been decided longer ago than approvals.retention): nothing changed.`;
  },

  unavailable(detail: string): string {
    return `Airlock cannot record decisions right now (${escapeText(detail)}): nothing changed. Try again in a moment.`;
  },

  nothingToShow(id: string): string {
    return `Airlock has no approval request ${inlineCode(id)} (it may have ended longer ago than approvals.retention): there are no arguments to show.`;
  },

  notPostedHere(id: string): string {
    return `Approval request ${inlineCode(id)} was not posted in this channel: Airlock shows its arguments only to the channel its message is in.`;
  },

  /** Why the modal stays shut: only those who may decide a request see all of it. */
  argumentsForApprovers(request: ApprovalRequest, refused: Exclude<SlackEntitlement, { ok: true }>): string {
    switch (refused.why) {
      case 'console_only':
        return `Only console admins decide ${callOf(request)}, so its arguments are shown in the console: \`airlock approvals show ${request.id}\`.`;
      case 'membership_unknown':
        return `Airlock could not read the members of ${refused.groups.map(mention).join(', ')} from Slack, so it cannot tell whether you may see all the arguments of ${callOf(request)}. Try again in a moment.`;
      default:
        return `Only approvers of ${callOf(request)} can open all its arguments; the message shows what everyone in the channel may read. Approvers: ${request.approvers.map(mention).join(', ')}.`;
    }
  },

  argumentsUnavailable(detail: string): string {
    return `Airlock cannot show the arguments right now (${escapeText(detail)}). Try again in a moment.`;
  },
};

function callOf(request: ApprovalRequest): string {
  return inlineCode(`${request.server}/${request.tool}`);
}

/** Slack's limits on a modal: a 24-character title, 3,000 characters of private_metadata. */
const MODAL_TITLE = 24;

/** The modal a Reject click opens: an optional reason, which the agent reads in `[APPROVAL REJECTED]`. */
export function rejectModal(request: ApprovalRequest, metadata: ModalMetadata): types.ModalView {
  return {
    type: 'modal',
    callback_id: REASON_VIEW,
    private_metadata: JSON.stringify(metadata),
    title: { type: 'plain_text', text: cutPlain('Reject this call', MODAL_TITLE) },
    submit: { type: 'plain_text', text: 'Reject' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      {
        type: 'section',
        text: { type: 'mrkdwn', text: `Reject ${callOf(request)}? The agent is told who rejected it and the reason below.` },
      },
      {
        type: 'input',
        block_id: REASON_BLOCK,
        optional: true,
        label: { type: 'plain_text', text: 'Reason' },
        element: { type: 'plain_text_input', action_id: REASON_INPUT, multiline: true, max_length: 2000 },
      },
    ],
  };
}
