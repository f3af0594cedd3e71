import { randomBytes } from 'node:crypto';
import { z } from 'zod';

export const APPROVAL_STATES = ['pending', 'approved', 'rejected', 'expired', 'withdrawn'] as const;
export type ApprovalState = (typeof APPROVAL_STATES)[number];

const ID_PATTERN = /^apr_[A-Za-z0-9_-]{22}$/;

/** `apr_` and 128 random bits: not guessable, never all digits and never a `:` (BullMQ refuses both in job ids). */
export function newApprovalId(): string {
  return `apr_${randomBytes(16).toString('base64url')}`;
}

export function isApprovalId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/**
 * What a reviewer is asked to approve: one call, exactly as the agent sent
 * it. Stored as the BullMQ job's data and read back through this schema
 * (an older Airlock may have written it).
 */
export const ApprovalRequestSchema = z.object({
  id: z.string().regex(ID_PATTERN),
  /** The call's request id: the same in its log lines, the agent's `_meta` and the audit trail (absent in requests an older Airlock wrote). */
  request_id: z.string().nullable().default(null),
  grant: z.string().nullable(),
  session: z.string().nullable(),
  /** The MCP client's name from its `initialize` (e.g. `claude-code`). */
  client: z.string().nullable(),
  server: z.string(),
  tool: z.string(),
  /** The tool's risk class and level from the inventory (absent in requests an older Airlock wrote). */
  risk: z.object({ class: z.string(), level: z.string() }).nullable().default(null),
  arguments: z.record(z.string(), z.unknown()),
  digest: z.string(),
  /** The policy rule that asked for approval, and its reason. */
  rule: z.string(),
  reason: z.string(),
  /** Who may decide: the rule's list, else `approvals.approvers`; empty when neither applied (console admins only). */
  approvers: z.array(z.string()),
  /** Where `approvers` came from (null in requests an older Airlock wrote, and when no list applied). */
  approvers_from: z.enum(['rule', 'config']).nullable().default(null),
  min_approvals: z.int().min(1),
  /** A per-rule channel (Slack channel id) instead of the configured one. */
  channel: z.string().nullable(),
  timeout_ms: z.int().positive(),
  /** The MCP task that holds the call (a client of the tasks extension polls it), or null when an instance holds it. */
  task_id: z.string().nullable().default(null),
  created_at: z.int(),
  expires_at: z.int(),
});
export type ApprovalRequest = z.infer<typeof ApprovalRequestSchema>;

export const VoteSchema = z.object({
  by: z.string(),
  /** A display name when `by` is an id (Slack). */
  name: z.string().optional(),
  at: z.number(),
  via: z.string(),
  verdict: z.enum(['approve', 'reject']),
  /** The `people` entry the identity belongs to, when one links it: the person counted once towards `min_approvals`. */
  person: z.string().optional(),
});
export type Vote = z.infer<typeof VoteSchema>;

export const ExecutionSchema = z.object({
  /** `ok`: the server answered; `error`: it answered with isError; `unavailable`: it could not be reached; `refused`: Airlock did not send it. */
  result: z.enum(['ok', 'error', 'unavailable', 'refused']),
  ms: z.number(),
  detail: z.string().optional(),
});
export type Execution = z.infer<typeof ExecutionSchema>;

/** Where a request stands: the state hash, read back from Redis. */
export interface ApprovalStatus {
  state: ApprovalState;
  holder: string;
  digest: string;
  min_approvals: number;
  votes: Vote[];
  created_at: number;
  expires_at: number;
  /** Who ended it (names joined by ", " when several approved); empty when it expired or was withdrawn. */
  decided_by?: string;
  decided_at?: number;
  reason?: string;
  consumed_at?: number;
  execution?: Execution;
  /** What the channels a request was shown in keep to update their messages (each one's handle, e.g. a Slack ts, by channel name), so any instance can update them. */
  channel_ref?: string;
}

export interface ApprovalRecord {
  request: ApprovalRequest;
  status: ApprovalStatus;
}

const StatusFieldsSchema = z.object({
  state: z.enum(APPROVAL_STATES),
  holder: z.string(),
  digest: z.string(),
  min: z.coerce.number().int(),
  votes: z.string().transform((s) => z.array(VoteSchema).parse(JSON.parse(s))),
  created_at: z.coerce.number(),
  expires_at: z.coerce.number(),
  decided_by: z.string().optional(),
  decided_at: z.coerce.number().optional(),
  reason: z.string().optional(),
  consumed_at: z.coerce.number().optional(),
  execution: z
    .string()
    .transform((s) => ExecutionSchema.parse(JSON.parse(s)))
    .optional(),
  channel_ref: z.string().optional(),
});

/** Reads a state hash (a flat field/value list from a script, or an HGETALL object). */
export function parseStatus(fields: Record<string, string> | string[]): ApprovalStatus {
  const object = Array.isArray(fields) ? Object.fromEntries(pairs(fields)) : fields;
  const { min, decided_by, reason, ...rest } = StatusFieldsSchema.parse(object);
  return {
    ...rest,
    min_approvals: min,
    ...(decided_by !== undefined && decided_by !== '' && { decided_by }),
    ...(reason !== undefined && reason !== '' && { reason }),
  };
}

function pairs(flat: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}

/** Everyone who voted, in order (several when `min_approvals` asked for more than one), as the audit trail records approvers. */
export function approversOf(
  status: Pick<ApprovalStatus, 'votes'>,
): { id: string; name?: string; person?: string; via: string; verdict: 'approve' | 'reject'; at: number }[] {
  return status.votes.map((v) => ({
    id: v.by,
    ...(v.name !== undefined && { name: v.name }),
    ...(v.person !== undefined && { person: v.person }),
    via: v.via,
    verdict: v.verdict,
    at: v.at,
  }));
}
