import { z } from 'zod';
import { isApprovalId, type ApprovalStatus } from '../../approvals/index.js';
import { channelRefOf } from '../channel-refs.js';

/** The Slack channel's name: what `approvals.channels` lists, the `channel` of its audit events, the key of its message handles. */
export const SLACK_CHANNEL = 'slack';

/** The ids Airlock's messages and modal carry, and that its listeners answer to. */
export const APPROVE_ACTION = 'airlock_approve';
export const REJECT_ACTION = 'airlock_reject';
export const SHOW_ARGUMENTS_ACTION = 'airlock_show_arguments';
export const REASON_VIEW = 'airlock_reject_reason';
export const REASON_BLOCK = 'reason';
export const REASON_INPUT = 'reason';

const userId = z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'expected a Slack user id');
const approvalId = z.string().refine(isApprovalId, 'expected an approval id');
const team = z
  .object({ id: z.string().min(1) })
  .nullable()
  .optional();

/**
 * A click on Approve, Reject or Show all arguments, as Slack posts it (only
 * the fields Airlock reads; Slack sends many more). Exactly one action per
 * payload.
 */
export const BlockActionsSchema = z.object({
  type: z.literal('block_actions'),
  team,
  user: z.object({ id: userId, team_id: z.string().optional() }),
  channel: z.object({ id: z.string().min(1) }),
  trigger_id: z.string().min(1),
  actions: z.tuple([z.object({ action_id: z.enum([APPROVE_ACTION, REJECT_ACTION, SHOW_ARGUMENTS_ACTION]), value: approvalId })]),
});
export type BlockActions = z.infer<typeof BlockActionsSchema>;

/** What the reject modal carries from the click to its submission: Slack hands `private_metadata` back as it was given. */
export const ModalMetadataSchema = z.object({ id: approvalId, channel: z.string().min(1) });
export type ModalMetadata = z.infer<typeof ModalMetadataSchema>;

/** The reject modal submitted, with its optional reason. */
export const ViewSubmissionSchema = z.object({
  type: z.literal('view_submission'),
  team,
  user: z.object({ id: userId, team_id: z.string().optional() }),
  view: z.object({
    callback_id: z.literal(REASON_VIEW),
    private_metadata: z.string().transform((text, ctx) => {
      try {
        return ModalMetadataSchema.parse(JSON.parse(text));
      } catch {
        ctx.issues.push({ code: 'custom', message: 'private_metadata is not the metadata Airlock set', input: text });
        return z.NEVER;
      }
    }),
    state: z.object({
      values: z.object({
        [REASON_BLOCK]: z.object({ [REASON_INPUT]: z.object({ value: z.string().max(3000).nullable().optional() }) }),
      }),
    }),
  }),
});
export type ViewSubmission = z.infer<typeof ViewSubmissionSchema>;

/** Every payload Airlock acts on; anything else is refused. */
export const InteractionSchema = z.discriminatedUnion('type', [BlockActionsSchema, ViewSubmissionSchema]);
export type Interaction = z.infer<typeof InteractionSchema>;

/** The workspace a payload came from (`team` is null for org-wide apps on Enterprise Grid, where the user's team is the one to check). */
export function teamOf(interaction: Interaction): string | undefined {
  return interaction.team?.id ?? interaction.user.team_id;
}

/**
 * Who and what a payload claims, read without trusting its shape: for the
 * audit trail of a refused request (a forged one names whoever it likes, and
 * is recorded as a claim).
 */
export function claimOf(body: unknown): { user?: string; approvalId?: string } {
  const loose = z
    .object({
      user: z.object({ id: z.string() }).optional(),
      actions: z.array(z.object({ value: z.string() })).optional(),
      view: z.object({ private_metadata: z.string() }).optional(),
    })
    .safeParse(body);
  if (!loose.success) return {};
  const fromView = loose.data.view ? ModalMetadataSchema.safeParse(safeJson(loose.data.view.private_metadata)) : undefined;
  const candidate = loose.data.actions?.[0]?.value ?? (fromView?.success ? fromView.data.id : undefined);
  return {
    ...(loose.data.user && userId.safeParse(loose.data.user.id).success && { user: loose.data.user.id }),
    ...(candidate !== undefined && isApprovalId(candidate) && { approvalId: candidate }),
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The handle `post` returns and `update` reads back from Redis: the channel id and the message's ts. */
export function formatMessageRef(channel: string, ts: string): string {
  return `${channel}/${ts}`;
}

const MessageRefSchema = z.string().regex(/^[A-Z0-9]+\/\d+\.\d+$/);

/** The Slack message a request was posted as, when it was posted. */
export function messageRefOf(status: Pick<ApprovalStatus, 'channel_ref'>): { channel: string; ts: string } | undefined {
  return parseMessageRef(channelRefOf(status, SLACK_CHANNEL));
}

export function parseMessageRef(ref: string | undefined): { channel: string; ts: string } | undefined {
  if (ref === undefined || !MessageRefSchema.safeParse(ref).success) return undefined;
  const [channel = '', ts = ''] = ref.split('/');
  return { channel, ts };
}
