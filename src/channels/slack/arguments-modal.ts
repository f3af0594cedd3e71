import type { types } from '@slack/bolt';
import type { ApprovalRequest } from '../../approvals/index.js';
import { INVISIBLE_NOTE } from '../../invisible-characters.js';
import { fieldsWithInvisible } from '../invisible-fields.js';
import { fullArgumentsText } from './arguments-text.js';
import { fullRequestLink, shortDigest, SLACK_LIMITS, type MessageOptions } from './message.js';
import { cutEscaped, inlineCode, splitEscaped } from './mrkdwn.js';

/** Slack's limits on a modal: a 24-character title and close button, 100 blocks. */
export const MODAL_LIMITS = { title: 24, blocks: 100 } as const;
const OPENING = '```\n';
const CLOSING = '\n```';

/**
 * The "Show all arguments" modal: every argument, redacted and escaped as
 * in the message but none shortened, in as many code blocks as Slack's
 * 3,000-character sections need. Beyond 100 blocks (about 290,000
 * characters) it ends with how much is missing and where the whole request
 * is. It carries no private_metadata: nothing comes back from it.
 */
export function argumentsModal(request: ApprovalRequest, options: MessageOptions): types.ModalView {
  const shown = fullArgumentsText(request.arguments, options.redactor);
  const pieces = splitEscaped(shown.code, SLACK_LIMITS.section - OPENING.length - CLOSING.length);
  // One block for the heading; when the pieces do not all fit, one for what is missing.
  const fits = pieces.length <= MODAL_LIMITS.blocks - 1;
  const kept = fits ? pieces : pieces.slice(0, MODAL_LIMITS.blocks - 2);
  const missing = pieces.slice(kept.length).reduce((sum, piece) => sum + piece.length, 0);
  return {
    type: 'modal',
    title: { type: 'plain_text', text: 'All arguments' },
    close: { type: 'plain_text', text: 'Close' },
    blocks: [
      section(heading(request, shown.redacted)),
      ...kept.map((piece) => section(`${OPENING}${piece}${CLOSING}`)),
      ...(fits ? [] : [section(rest(request, missing, options.publicUrl))]),
    ],
  };
}

function heading(request: ApprovalRequest, redacted: boolean): string {
  const lines = [
    `Every argument of ${inlineCode(`${request.server}/${request.tool}`)} (approval ${inlineCode(request.id)}), none shortened. Arguments digest ${inlineCode(shortDigest(request.digest))}, as in the message: an approval releases exactly these arguments.`,
  ];
  if (redacted) lines.push('Values that look secret are shown as `[redacted]`.');
  const invisible = fieldsWithInvisible(request);
  if (invisible.length > 0) lines.push(`:warning: *${INVISIBLE_NOTE}.*`);
  return lines.join('\n');
}

function rest(request: ApprovalRequest, missing: number, publicUrl: string | undefined): string {
  const link = fullRequestLink(request.id, publicUrl);
  const where = link ? `<${link}|GET /api/approvals/${request.id}> (admin token)` : `\`airlock approvals show ${request.id}\` (an admin)`;
  return `… and ${missing.toLocaleString('en-US')} more characters, more than a Slack modal holds (${MODAL_LIMITS.blocks} blocks). The whole request: ${where}.`;
}

function section(text: string): types.KnownBlock {
  return { type: 'section', text: { type: 'mrkdwn', text: cutEscaped(text, SLACK_LIMITS.section) } };
}
