import { z } from 'zod';
import { parseDuration } from '../config/index.js';
import { AirlockError, ErrorCode } from '../errors.js';
import { AUDIT_EVENTS, type AuditEvent } from './event.js';

const STREAM_ID = /^\d{1,16}-\d{1,16}$/;

/**
 * A point in time as people type it: an ISO date or date-time
 * (`2026-11-25`, `2026-11-25T17:00:00Z`), or how long ago (`15m`, `2h`, `7d`).
 */
function pointInTime(now: () => number) {
  return z.string().transform((text, ctx) => {
    const ago = /^\d/.test(text) && !/^\d{4}-/.test(text) ? parseDuration(text) : undefined;
    if (typeof ago === 'number') return now() - ago;
    const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
    if (Number.isNaN(ms)) {
      ctx.addIssue({
        code: 'custom',
        message: `${JSON.stringify(text)} is not a date: use an ISO date or date-time (2026-11-25, 2026-11-25T17:00:00Z) or a time ago (15m, 2h, 7d)`,
      });
      return z.NEVER;
    }
    return ms;
  });
}

const DECISIONS = [...AUDIT_EVENTS, 'allow', 'deny', 'hide', 'require_approval'] as const;

export function auditQuerySchema(now: () => number = Date.now) {
  const text = z.string().min(1);
  return z
    .object({
      since: pointInTime(now).optional(),
      until: pointInTime(now).optional(),
      server: text.optional(),
      tool: text.optional(),
      /** A resource URI or a prompt name (as stored: cut at 1,024 characters, controls escaped). */
      resource: text.optional(),
      prompt: text.optional(),
      grant: text.optional(),
      /** A Slack user id or name, or an admin name: events they decided, tried to decide, or did. */
      approver: text.optional(),
      /** An event name (`approved`, `denied`, …) or a policy action (`require_approval`). */
      decision: z.enum(DECISIONS, { error: () => `expected one of ${DECISIONS.join(', ')}` }).optional(),
      approval_id: text.optional(),
      request_id: text.optional(),
      task_id: text.optional(),
      /** The `id` of the last event of the page before: the next page starts after it. */
      cursor: z.string().regex(STREAM_ID, 'a cursor is the id of an event (like 1764090000000-0)').optional(),
      limit: z.coerce.number().int().min(1).max(1_000).default(100),
    })
    .strict()
    .refine((q) => q.since === undefined || q.until === undefined || q.since <= q.until, {
      message: 'since is after until',
      path: ['since'],
    });
}

export type AuditQuery = z.infer<ReturnType<typeof auditQuerySchema>>;

/** Reads query parameters (HTTP query strings, CLI options): unknown fields and bad values throw AIRLOCK_BAD_ARGUMENTS naming them. */
export function parseAuditQuery(input: Record<string, unknown>, now: () => number = Date.now): AuditQuery {
  const parsed = auditQuerySchema(now).safeParse(input);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys')
      return `unknown filter${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')} (known: ${Object.keys(auditQuerySchema(now).shape).join(', ')})`;
    return `${issue.path.join('.') || 'query'}: ${issue.message}`;
  });
  throw new AirlockError(ErrorCode.BadArguments, `bad audit query: ${problems.join('; ')}`);
}

/** A point in time as `--since` reads it, for another option (`--as-of`); a bad one throws AIRLOCK_BAD_ARGUMENTS naming the option. */
export function parsePointInTime(option: string, text: string, now: () => number = Date.now): number {
  const parsed = pointInTime(now).safeParse(text);
  if (parsed.success) return parsed.data;
  throw new AirlockError(ErrorCode.BadArguments, `${option}: ${parsed.error.issues[0]?.message ?? 'not a point in time'}`);
}

/** Whether an event passes the query's field filters (the time range and cursor are applied by the scan). */
export function matchesQuery(event: AuditEvent, query: AuditQuery): boolean {
  if (query.server !== undefined && event.server !== query.server) return false;
  if (query.tool !== undefined && event.tool !== query.tool) return false;
  if (query.resource !== undefined && event.resource !== query.resource) return false;
  if (query.prompt !== undefined && event.prompt !== query.prompt) return false;
  if (query.grant !== undefined && event.grant !== query.grant) return false;
  if (query.approval_id !== undefined && event.approval_id !== query.approval_id) return false;
  if (query.request_id !== undefined && event.request_id !== query.request_id) return false;
  if (query.task_id !== undefined && event.task_id !== query.task_id) return false;
  if (query.decision !== undefined && event.event !== query.decision && event.decision !== query.decision) return false;
  if (query.approver !== undefined) {
    const who = query.approver;
    const theirs = event.admin === who || (event.approvers ?? []).some((a) => a.id === who || a.name === who || a.person === who);
    if (!theirs) return false;
  }
  return true;
}
