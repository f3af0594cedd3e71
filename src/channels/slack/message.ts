import type { types } from '@slack/bolt';
import type { ApprovalRequest, ApprovalState, ApprovalStatus, Execution, Vote } from '../../approvals/index.js';
import { escapeInvisible, INVISIBLE_NOTE } from '../../invisible-characters.js';
import type { Redactor } from '../../redact.js';
import { fieldsWithInvisible, type UntrustedField } from '../invisible-fields.js';
import { argumentsText } from './arguments-text.js';
import { cutEscaped, cutPlain, escapeText, inlineCode, mention, slackDate } from './mrkdwn.js';
import { APPROVE_ACTION, REJECT_ACTION, SHOW_ARGUMENTS_ACTION } from './payloads.js';

type KnownBlock = types.KnownBlock;

/** Block Kit's limits (characters): header text, section text, one field of a section. */
export const SLACK_LIMITS = { header: 150, section: 3000, field: 2000 } as const;
/** Longest string argument shown whole. */
const VALUE_CHARS = 300;
const ARGUMENTS_OPENING = '*Arguments*\n```\n';
const ARGUMENTS_CLOSING = '\n```';
const DETAIL_CHARS = 300;
/** Hex digits of the arguments digest shown: enough for a reviewer and an auditor to match a request by eye; the agent cannot aim at them without the digest key. */
const SHORT_DIGEST = 12;

export interface MessageOptions {
  redactor: Redactor;
  /** `public_url`: links to the whole request when the message had to cut it. */
  publicUrl?: string;
}

/** What the message shows of a request's state (a new request has no status in Redis yet). */
export type MessageState = Pick<ApprovalStatus, 'state' | 'votes' | 'min_approvals' | 'decided_at' | 'decided_by' | 'reason' | 'execution'>;

export interface SlackMessage {
  /** The notification text (no arguments in it: it shows on lock screens). */
  text: string;
  blocks: KnownBlock[];
}

const HEADLINE: Record<ApprovalState, string> = {
  pending: 'Approval needed',
  approved: 'Approved',
  rejected: 'Rejected',
  expired: 'Expired',
  withdrawn: 'Withdrawn',
};

/**
 * The message reviewers decide from, for any state of the request: what
 * will run (server, tool, arguments), why the policy asked, who is asking,
 * until when; the buttons while it is pending, and how it ended after.
 * Everything the agent, its client or an upstream chose is escaped, with a
 * warning on top when any of it holds invisible characters.
 */
export function approvalMessage(request: ApprovalRequest, status: MessageState, options: MessageOptions): SlackMessage {
  const call = `${request.server}/${request.tool}`;
  const hide = options.redactor.textHider(request.arguments);
  const reason = hide(request.reason);
  const risk = riskOf(request);
  const headline = `${HEADLINE[status.state]}: ${call}`;
  const blocks: KnownBlock[] = [
    {
      type: 'header',
      text: {
        type: 'plain_text',
        text: cutPlain(escapeInvisible(`${headline}${risk ? ` (${risk})` : ''}`), SLACK_LIMITS.header),
        emoji: false,
      },
    },
    ...invisibleWarning(fieldsWithInvisible(request)),
    markdown(`*Why:* ${escapeText(reason)}`),
    {
      type: 'section',
      fields: detailFields(request, status, risk).map((text) => ({ type: 'mrkdwn', text: cutEscaped(text, SLACK_LIMITS.field) })),
    },
    ...argumentsBlocks(request, options),
    ...(status.state === 'pending' ? [decisionButtons(request.id)] : outcomeBlocks(status, hide)),
    {
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: cutEscaped(
            `approval ${inlineCode(request.id)} · arguments digest ${inlineCode(shortDigest(request.digest))} · rule ${inlineCode(request.rule)}`,
            SLACK_LIMITS.section,
          ),
        },
      ],
    },
  ];
  return { text: cutEscaped(`${escapeText(headline)} — ${escapeText(reason)}`, SLACK_LIMITS.section), blocks };
}

const FIELD_NAMES: Record<UntrustedField, string> = {
  server: 'the server name',
  tool: 'the tool name',
  arguments: 'the arguments',
  grant: 'the grant name',
  client: 'the MCP client name',
  rule: 'the rule',
  reason: 'the reason',
};

/** Said before anything else: a reviewer who skims still learns that what they read is not all there is to see. */
function invisibleWarning(fields: UntrustedField[]): KnownBlock[] {
  if (fields.length === 0) return [];
  return [
    markdown(
      `:warning: *${INVISIBLE_NOTE}* (in ${fields.map((f) => FIELD_NAMES[f]).join(', ')}). Such characters can hide text or make it read in another order.`,
    ),
  ];
}

/** The start of the arguments digest (HMAC-SHA256 of the full arguments), as the message and the modal show it. */
export function shortDigest(digest: string): string {
  return digest.slice(0, SHORT_DIGEST);
}

/** `execute, high risk` from the inventory; a request an older Airlock wrote has only its rule (`risk.write`) to go by. */
function riskOf(request: ApprovalRequest): string | undefined {
  if (request.risk) return `${request.risk.class}, ${request.risk.level} risk`;
  return /^risk\.([a-z]+)$/.exec(request.rule)?.[1];
}

function detailFields(request: ApprovalRequest, status: MessageState, risk: string | undefined): string[] {
  const fields = [
    `*Server*\n${inlineCode(request.server)}`,
    `*Tool*\n${inlineCode(request.tool)}`,
    `*Agent (grant)*\n${request.grant === null ? 'none (open gateway)' : inlineCode(request.grant)}`,
    `*MCP client*\n${request.client === null ? 'unknown' : inlineCode(request.client)}`,
  ];
  if (risk) fields.push(`*Risk class*\n${risk}`);
  fields.push(status.state === 'pending' ? `*Expires*\n${slackDate(request.expires_at)}` : `*Requested*\n${slackDate(request.created_at)}`);
  // Reviewers still hear of a request no Slack user may decide, and why their click would change nothing.
  fields.push(
    request.approvers.length > 0
      ? `*Approvers*\n${request.approvers.map(mention).join(', ')}`
      : '*Approvers*\nconsole admins only (no approvers list applies; see `approvals.approvers`)',
  );
  if (request.min_approvals > 1) fields.push(`*Approvals*\n${progress(status)}`);
  return fields;
}

/** "1 of 2 approvals: @alice". */
export function progress(status: MessageState): string {
  const approvals = status.votes.filter((v) => v.verdict === 'approve');
  const who = approvals.length > 0 ? `: ${approvals.map(voter).join(', ')}` : '';
  return `${approvals.length} of ${status.min_approvals} approvals${who}`;
}

function argumentsBlocks(request: ApprovalRequest, options: MessageOptions): KnownBlock[] {
  const room = SLACK_LIMITS.section - ARGUMENTS_OPENING.length - ARGUMENTS_CLOSING.length;
  const shown = argumentsText(request.arguments, options.redactor, { valueChars: VALUE_CHARS, blockChars: room });
  const notes: string[] = [];
  if (shown.redacted) notes.push('Values that look secret are shown as `[redacted]`.');
  if (shown.cutValues > 0) notes.push(`${shown.cutValues} long ${shown.cutValues === 1 ? 'value is' : 'values are'} shortened.`);
  if (shown.truncated) notes.push(`The arguments are cut to fit Slack (${shown.totalChars.toLocaleString('en-US')} characters in all).`);
  const cut = shown.truncated || shown.cutValues > 0;
  const link = fullRequestLink(request.id, options.publicUrl);
  if (cut && link) notes.push(`Whole request: <${link}|GET /api/approvals/${request.id}> (admin token).`);
  const code = markdown(`${ARGUMENTS_OPENING}${shown.code}${ARGUMENTS_CLOSING}`);
  if (cut) return [code, { type: 'section', text: { type: 'mrkdwn', text: notes.join(' ') }, accessory: showArgumentsButton(request.id) }];
  return [
    code,
    ...(notes.length > 0 ? [{ type: 'context' as const, elements: [{ type: 'mrkdwn' as const, text: notes.join(' ') }] }] : []),
  ];
}

/** Beside every cut: the whole arguments, in a modal only the clicking reviewer sees (see SlackArgumentsViewer). */
function showArgumentsButton(id: string): types.Button {
  return { type: 'button', action_id: SHOW_ARGUMENTS_ACTION, text: { type: 'plain_text', text: 'Show all arguments' }, value: id };
}

export function fullRequestLink(id: string, publicUrl: string | undefined): string | undefined {
  if (publicUrl === undefined) return undefined;
  const base = publicUrl.endsWith('/') ? publicUrl : `${publicUrl}/`;
  return new URL(`api/approvals/${id}`, base).toString();
}

function decisionButtons(id: string): KnownBlock {
  return {
    type: 'actions',
    elements: [
      { type: 'button', action_id: APPROVE_ACTION, style: 'primary', text: { type: 'plain_text', text: 'Approve' }, value: id },
      { type: 'button', action_id: REJECT_ACTION, style: 'danger', text: { type: 'plain_text', text: 'Reject…' }, value: id },
    ],
  };
}

function outcomeBlocks(status: MessageState, hide: (text: string) => string): KnownBlock[] {
  const when = status.decided_at === undefined ? '' : ` ${slackDate(status.decided_at)}`;
  const reason = status.reason === undefined ? '' : escapeText(status.reason);
  switch (status.state) {
    case 'approved': {
      const lines = [`*Approved* by ${deciders(status, 'approve')}${when}`, executionLine(status.execution, hide)];
      return [markdown(lines.join('\n'))];
    }
    case 'rejected':
      return [
        markdown(
          `*Rejected* by ${deciders(status, 'reject')}${when}\n${reason === '' ? '_no reason given_' : `> ${reason.replace(/\n/g, '\n> ')}`}`,
        ),
      ];
    case 'expired':
      return [markdown(`*Expired*${when}: ${reason === '' ? 'nobody decided in time' : reason}. The call was not sent.`)];
    default:
      return [markdown(`*Withdrawn*${when}: ${reason === '' ? 'no reason recorded' : reason}. The call was not sent.`)];
  }
}

function deciders(status: MessageState, verdict: Vote['verdict']): string {
  const votes = status.votes.filter((v) => v.verdict === verdict);
  if (votes.length > 0) return votes.map(voter).join(', ');
  return status.decided_by === undefined ? 'a reviewer' : status.decided_by.split(', ').map(mention).join(', ');
}

/** `@alice (Alice Smith)` for a Slack vote; an admin's name and channel for a console one. */
function voter(vote: Vote): string {
  if (vote.via !== 'slack') return `${inlineCode(vote.by)} (${escapeText(vote.via)})`;
  return vote.name === undefined ? mention(vote.by) : `${mention(vote.by)} (${escapeText(vote.name)})`;
}

function executionLine(execution: Execution | undefined, hide: (text: string) => string): string {
  if (execution === undefined) return 'The call is being sent to the server.';
  const detail = execution.detail === undefined ? '' : `: ${cutEscaped(escapeText(hide(execution.detail)), DETAIL_CHARS)}`;
  const ms = `${Math.round(execution.ms)} ms`;
  switch (execution.result) {
    case 'ok':
      return `:white_check_mark: The server ran the call (${ms}).`;
    case 'error':
      return `:warning: The server answered with an error (${ms})${detail}`;
    case 'unavailable':
      return `:x: The server could not be reached${detail}`;
    default:
      return `:no_entry: Airlock did not send the call${detail}`;
  }
}

function markdown(text: string): KnownBlock {
  return { type: 'section', text: { type: 'mrkdwn', text: cutEscaped(text, SLACK_LIMITS.section) } };
}
