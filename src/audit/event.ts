import { z } from 'zod';

/**
 * What an audit event says happened. A tools/call yields one or more, in
 * order: its policy outcome (`allowed`, `denied`, `hidden`, `rate_limited`,
 * `approval_requested`; `approval_pending` when it was answered at once
 * in approval pending mode, and for each repeat before the decision), for a held call its end (`approved`, `rejected`,
 * `expired`, `withdrawn`; `approved` lists every approver when
 * `min_approvals` asked for several), and for a call that was sent,
 * `executed` or `unavailable`, and for each question its server asked of the
 * agent mid-call (sampling, elicitation, roots) `question_relayed` with how
 * the agent answered, or `question_refused` with why it was not passed on
 * (never the question's or the answer's content). A 2026 server's questions
 * passed to a 2026 client end a round with `input_required` (which kinds were
 * asked); the client's retry is the same call, its events under the same
 * `request_id`: `question_relayed` for each answer, then the next round's end.
 * A retry whose state cannot be used is `request_refused`. A call answered
 * with a task (the tasks extension) adds `task_created` once it is stored,
 * and its later events carry its `task_id`; `task_cancelled` when its client
 * cancels it. A resources/read, resources/subscribe or
 * prompts/get yields one, its policy outcome (`allowed`, `denied`, `hidden`);
 * a completion/complete only when refused. The rest are not calls: a decision that changed nothing
 * (`decision_refused`: not an approver, too late, a forged or replayed Slack
 * request), a request refused for its Host or Origin (`request_refused`,
 * DNS rebinding protection), a tool whose definition changed, admin actions,
 * and `audit_checkpoint`: a gateway's signature over the chain so far.
 */
export const AUDIT_EVENTS = [
  'allowed',
  'denied',
  'hidden',
  'rate_limited',
  'approval_requested',
  'approval_pending',
  'approved',
  'rejected',
  'expired',
  'withdrawn',
  'executed',
  'unavailable',
  'question_relayed',
  'question_refused',
  'decision_refused',
  'request_refused',
  'tool_changed',
  'tools_accepted',
  'policy_reloaded',
  'policy_reload_failed',
  'audit_checkpoint',
  'input_required',
  'task_created',
  'task_cancelled',
] as const;
export type AuditEventName = (typeof AUDIT_EVENTS)[number];

export const QUESTION_ANSWERS = ['accept', 'decline', 'cancel', 'answered', 'error'] as const;
export type QuestionAnswer = (typeof QUESTION_ANSWERS)[number];

export const ApproverSchema = z.object({
  /** A Slack user id, or an admin's name. */
  id: z.string(),
  /** The Slack user's name, when known. */
  name: z.string().optional(),
  /** The person (a `people` entry) the identity belongs to, when one links it. */
  person: z.string().optional(),
  /** The channel they acted through: `slack`, `console`. */
  via: z.string(),
  verdict: z.enum(['approve', 'reject']).optional(),
  /** When they acted (ms since the epoch, Redis clock). */
  at: z.number().optional(),
});
export type Approver = z.infer<typeof ApproverSchema>;

/**
 * One event as callers hand it over. `args` are the call's arguments as
 * sent: the trail stores their digest and a redacted, size-capped copy,
 * never the secrets in them.
 */
export interface AuditInput {
  event: AuditEventName;
  /** Airlock's id of one tools/call (`request_id` in `_meta["airlock/decision"]`). */
  request_id?: string;
  approval_id?: string;
  /** The MCP task a call was answered with (see the tasks extension): its client polls it by this id. */
  task_id?: string;
  grant?: string | null;
  /** The MCP session id and the client's name from `initialize`. */
  session?: string | null;
  client?: string | null;
  /** The MCP protocol version the client spoke (`2025-11-25`, `2026-07-28`): which generation, since a 2026 client has no session. */
  protocol?: string | null;
  server?: string;
  tool?: string;
  /** For a resource or prompt (not a tool call): the request's method, and its URI or prompt name, cut at 1,024 characters. */
  method?: string;
  resource?: string;
  prompt?: string;
  args?: Record<string, unknown>;
  /** The policy's action (`allow`, `deny`, `require_approval`, …) and the rule that decided. */
  decision?: string;
  rule?: string;
  reason?: string;
  /** Who decided (approved, rejected) or tried to (`decision_refused`). */
  approvers?: Approver[];
  /** The approval channel: `slack`, `console`. */
  channel?: string;
  /** For `executed`: what the server answered, and how long it took. */
  result?: 'ok' | 'error';
  /** For `question_relayed`: how the agent answered (an elicitation's action; `answered` for sampling and roots). */
  answer?: QuestionAnswer;
  duration_ms?: number;
  /** Anything else worth keeping, as text (an error message, a tool change). */
  detail?: string;
  /** For admin actions: who did it. */
  admin?: string;
}

/**
 * A signed checkpoint: event `seq` had hash `hash`, and the checkpoint before
 * this one is the event at seq `previous` (0: none known), as of the event's
 * `time`. `reached`, when present, is the seq the trail had reached before it
 * went back to `seq`: events were cut from its end. `mac` is HMAC-SHA256
 * over all of them under `audit.anchor_key`.
 */
export const CheckpointSchema = z
  .object({
    seq: z.int().positive(),
    hash: z.string(),
    previous: z.int().nonnegative(),
    reached: z.int().positive().optional(),
    mac: z.string(),
  })
  .strict();
export type Checkpoint = z.infer<typeof CheckpointSchema>;

/** The stored event: the input's fields, the call's digest and redacted arguments, and its place in the chain. */
export const AuditEventSchema = z.object({
  /** The Redis stream entry id (`<ms>-<n>`): where the event is, not part of what is hashed. */
  id: z.string().optional(),
  /** Position in the chain, from 1, with no gaps. */
  seq: z.int().positive(),
  time: z.string(),
  event: z.enum(AUDIT_EVENTS),
  instance: z.string(),
  request_id: z.string().optional(),
  approval_id: z.string().optional(),
  task_id: z.string().optional(),
  grant: z.string().nullable().optional(),
  session: z.string().nullable().optional(),
  client: z.string().nullable().optional(),
  protocol: z.string().nullable().optional(),
  server: z.string().optional(),
  tool: z.string().optional(),
  method: z.string().optional(),
  resource: z.string().optional(),
  prompt: z.string().optional(),
  /** The deployment's keyed digest (HMAC-SHA256) of the canonical JSON of the arguments as sent (as approvals use). */
  digest: z.string().optional(),
  arguments: z.unknown().optional(),
  /** The stored `arguments` are a cut JSON text, not the whole value. */
  arguments_truncated: z.boolean().optional(),
  decision: z.string().optional(),
  rule: z.string().optional(),
  reason: z.string().optional(),
  approvers: z.array(ApproverSchema).optional(),
  channel: z.string().optional(),
  result: z.enum(['ok', 'error']).optional(),
  answer: z.enum(QUESTION_ANSWERS).optional(),
  duration_ms: z.number().optional(),
  detail: z.string().optional(),
  admin: z.string().optional(),
  /** For `audit_checkpoint`: what it signs (see checkpoint.ts). */
  checkpoint: CheckpointSchema.optional(),
  /** `hash` of the event before (64 zeros for the first), and this event's SHA-256 over the canonical JSON of its other fields but `id`. */
  prev: z.string(),
  hash: z.string(),
});
export type AuditEvent = z.infer<typeof AuditEventSchema>;

/** Where events go. The pipeline, channels and admin commands depend on this, not on Redis. */
export interface AuditRecorder {
  /** Queues an event in order; never throws (a write that fails is logged and retried). */
  record(input: AuditInput): void;
  /** Stores an event (and every one queued before it); rejects when that cannot be done, and the caller must not go on. */
  commit(input: AuditInput): Promise<void>;
}
