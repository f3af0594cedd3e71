import type { CallToolResult, InputRequiredResult } from '@modelcontextprotocol/server';
import { approversOf, type ApprovalRequest, type ApprovalStatus } from '../approvals/index.js';
import type { AuditEventName } from '../audit/index.js';
import { capText } from '../cap-text.js';
import { describeDuration, describePer } from '../config/index.js';
import type { Charge } from '../limits/index.js';
import type { CallOutcome, CallTrace, GatewayMetrics } from '../metrics/index.js';
import type { Decision } from '../policy/index.js';
import type { CallAudit, StepFacts } from './call-audit.js';
import type { CallLog } from './call-log.js';
import { UpstreamUnavailableError } from './errors.js';
import { invalidState } from './input-rounds.js';
import { refusal, unknownTool, type DecisionMeta, type RefusalKind } from './refusal.js';
import { createTaskResult, type TaskRecord } from '../tasks/index.js';
import type { RefusalEvent } from './sampled-refusals.js';
import { errorMessage } from '../errors.js';

type Refused = Extract<Charge, { admitted: false }>;

/** The answer to a call the server will finish later: a task (the tasks extension), flat, as tasks/get's is. */
export type CreateTaskResult = Record<string, unknown> & { resultType: 'task'; taskId: string };

/** A held call's request, as the ends after it was opened name it. */
export interface HeldFacts {
  id: string;
  /** The channel its reviewers see it in. */
  channel: string;
}

/** The approval a released call ran under. */
export interface ReleasedUnder {
  held: HeldFacts;
  status: ApprovalStatus;
}

/**
 * Every way a `tools/call` ends. The pipeline and the hold decide which one
 * it is; `endCall` alone says what each means to the agent, the log, the
 * audit trail and the metrics.
 */
export type CallEnd =
  // Refused before the policy reads the call.
  | { kind: 'name_too_long' }
  | { kind: 'nested_too_deep'; depth: number }
  | { kind: 'unknown_tool' }
  | { kind: 'shutting_down' }
  // The policy's answer, and the rate limits it names.
  | { kind: 'hidden'; decision: Decision }
  | { kind: 'denied'; decision: Decision }
  | { kind: 'limits_unavailable'; decision: Decision; error: string }
  | { kind: 'rate_limited'; decision: Decision; charge: Refused }
  // Held for a person.
  | { kind: 'too_large_to_hold'; decision: Decision; bytes: number; maxBytes: number }
  | { kind: 'hold_unavailable'; decision: Decision; error: string }
  | { kind: 'post_failed'; decision: Decision; held: HeldFacts; error: string }
  | { kind: 'lost_track'; decision: Decision; held: HeldFacts; error: string }
  | { kind: 'rejected'; decision: Decision; held: HeldFacts; status: ApprovalStatus }
  | { kind: 'expired'; decision: Decision; held: HeldFacts; status: ApprovalStatus; timeoutMs: number }
  /** `reason`: why an approved call was not sent after all (the agent went away). */
  | { kind: 'withdrawn'; decision: Decision; held: HeldFacts; status: ApprovalStatus; reason?: string }
  | { kind: 'approval_unrecorded'; decision: Decision; held: HeldFacts; status: ApprovalStatus; error: string }
  | { kind: 'tampered'; decision: Decision; held: HeldFacts; status: ApprovalStatus; error: string }
  | { kind: 'approval_unusable'; decision: Decision; held: HeldFacts; status: ApprovalStatus; error: string }
  // Approval pending mode: answered at once, the request left open; a repeat runs under the approval once (see pending.ts).
  | {
      kind: 'approval_pending';
      decision: Decision;
      held: HeldFacts;
      request: ApprovalRequest;
      waiting: string;
      windowMs: number;
      repeat: boolean;
    }
  | { kind: 'pending_used'; decision: Decision; held: HeldFacts; status: ApprovalStatus; windowMs: number }
  | { kind: 'pending_lapsed'; decision: Decision; held: HeldFacts; status: ApprovalStatus; windowMs: number }
  // Sent to the server.
  | { kind: 'executed'; decision: Decision; result: CallToolResult; ms: number; released?: ReleasedUnder }
  | { kind: 'cancelled'; decision: Decision; ms: number; cutOff: boolean; error: unknown; released?: ReleasedUnder }
  | { kind: 'upstream_failed'; decision: Decision; ms: number; error: unknown; released?: ReleasedUnder }
  // A 2026 server's questions, passed to a 2026 client for it to answer and call again (see input-rounds.ts).
  | { kind: 'input_required'; decision: Decision; result: InputRequiredResult; asked: string; round: number; ms: number }
  // A 2026 client's retry whose requestState cannot be used: nothing is sent.
  | { kind: 'state_refused'; reason: string }
  // Answered with a task (the tasks extension), stored before the client hears of it: held, run later, or its server's own.
  | { kind: 'task_created'; decision: Decision; task: TaskRecord; ms?: number };

export type CallEndKind = CallEnd['kind'];

/** One call's facts and sinks, as every end of it needs them. */
export interface EndContext {
  requestId: string;
  server: string;
  tool: string;
  /** The name the agent called, for "unknown tool" answers. */
  calledAs: string;
  args: Record<string, unknown>;
  log: CallLog;
  audit: CallAudit;
  trace: CallTrace;
  metrics: Pick<GatewayMetrics, 'rateLimited' | 'upstreamFault'>;
}

type Fields = Record<string, unknown>;

/** What one end means, for each place that hears of it. */
interface Meaning {
  /** The label of `airlock_calls_total`. */
  outcome: CallOutcome;
  /** Absent: the end is not logged here (a protocol error passed on is logged by the session). */
  log?: { level: 'info' | 'warn' | 'error'; fields: Fields; message: string };
  /** `sampled`: a refusal an agent can repeat at will, audited (and logged) in full only as the first of its kind each minute. */
  audit: { event: AuditEventName; step: StepFacts; sampled?: RefusalEvent };
  /** The agent's answer: a tool result, a round of the server's questions, a task to poll, or an error thrown as it is. */
  answer: { result: CallToolResult } | { input: InputRequiredResult } | { task: Record<string, unknown> } | { error: unknown };
  /** Counted beyond the outcome. */
  counted?: (metrics: EndContext['metrics']) => void;
}

const MEANINGS: { [K in CallEndKind]: (end: Extract<CallEnd, { kind: K }>, ctx: EndContext) => Meaning } = {
  name_too_long: (_, ctx) => ({
    outcome: 'unknown',
    log: { level: 'info', fields: { decision: 'unknown', rule: 'tool_name_length' }, message: 'call refused: tool name too long' },
    audit: {
      event: 'denied',
      sampled: 'denied',
      step: {
        decision: 'unknown',
        rule: 'tool_name_length',
        reason: `the tool name is ${ctx.tool.length} characters long; no tool name is longer than ${MAX_TOOL_NAME_CHARS}`,
      },
    },
    answer: { error: unknownTool(capText(ctx.calledAs, MAX_TOOL_NAME_CHARS)) },
  }),
  nested_too_deep: ({ depth }, ctx) => {
    const reason = `The arguments nest more than ${depth} levels deep; Airlock refuses such calls without reading them further`;
    return {
      outcome: 'denied',
      log: { level: 'info', fields: { decision: 'denied', rule: 'arguments_depth' }, message: 'arguments nested too deep' },
      audit: { event: 'denied', sampled: 'denied', step: { decision: 'deny', rule: 'arguments_depth', reason } },
      answer: refused('POLICY DENIED', `${reason}. The call was not sent.`, {
        decision: 'denied',
        rule: 'arguments_depth',
        reason,
        ...callMeta(ctx),
      }),
    };
  },
  unknown_tool: (_, ctx) => ({
    outcome: 'unknown',
    log: { level: 'info', fields: { decision: 'unknown' }, message: 'call to a tool the server does not have' },
    audit: {
      event: 'denied',
      sampled: 'denied',
      step: { decision: 'unknown', rule: 'unknown_tool', reason: `${ctx.server} has no tool ${ctx.tool}`, args: ctx.args },
    },
    answer: { error: unknownTool(ctx.calledAs) },
  }),
  shutting_down: (_, ctx) => {
    const reason = 'Airlock is shutting down and takes no new calls';
    return {
      outcome: 'unavailable',
      log: { level: 'info', fields: { decision: 'unavailable' }, message: 'call refused: shutting down' },
      audit: { event: 'unavailable', step: { detail: reason, args: ctx.args } },
      answer: refused(
        'UNAVAILABLE',
        `${reason}. The call was not sent; retry in a moment (another instance, or this one once restarted, will take it).`,
        { decision: 'unavailable', reason, ...callMeta(ctx) },
      ),
    };
  },
  hidden: ({ decision }, ctx) => ({
    outcome: 'hidden',
    log: { level: 'info', fields: { decision: 'hidden', rule: decision.rule }, message: 'call to a hidden tool answered as unknown' },
    audit: { event: 'hidden', sampled: 'hidden', step: { ...policyFacts(decision), args: ctx.args } },
    answer: { error: unknownTool(ctx.calledAs) },
  }),
  denied: ({ decision }, ctx) => ({
    outcome: 'denied',
    log: { level: 'info', fields: { decision: 'denied', rule: decision.rule }, message: 'call denied by policy' },
    audit: { event: 'denied', sampled: 'denied', step: { ...policyFacts(decision), args: ctx.args } },
    answer: refused('POLICY DENIED', decision.reason, decisionMeta(decision, ctx)),
  }),
  limits_unavailable: ({ decision, error }, ctx) => ({
    outcome: 'unavailable',
    log: { level: 'warn', fields: { decision: 'unavailable', err: error }, message: 'rate limits cannot be checked: Redis is unavailable' },
    audit: {
      event: 'unavailable',
      step: { decision: decision.action, rule: decision.rule, detail: `rate limits could not be checked: ${error}`, args: ctx.args },
    },
    answer: refused(
      'UNAVAILABLE',
      `Airlock cannot reach Redis to check this call's rate limits (${error}). The call was not sent; retry later.`,
      decisionMeta(decision, ctx, { decision: 'unavailable' }),
    ),
  }),
  rate_limited: ({ decision, charge }, ctx) => {
    const { rule, counter } = charge.limit;
    return {
      outcome: 'rate_limited',
      log: {
        level: 'info',
        fields: { decision: 'rate_limited', rule, counter, retry_after_ms: charge.retry_after_ms },
        message: 'call refused by a rate limit',
      },
      audit: {
        event: 'rate_limited',
        sampled: 'rate_limited',
        step: { decision: decision.action, rule, reason: rateLimitText(charge), args: ctx.args },
      },
      answer: refused(
        'RATE LIMITED',
        rateLimitText(charge),
        decisionMeta(decision, ctx, { decision: 'rate_limited', rule, ...limitMeta(charge) }),
      ),
      counted: (metrics) => metrics.rateLimited(ctx.server, counter),
    };
  },
  too_large_to_hold: ({ decision, bytes, maxBytes }, ctx) => {
    const text = `${decision.reason}. This call needs approval, but its arguments are ${kib(bytes)}, more than the ${kib(maxBytes)} a held call may carry (approvals.max_arguments).`;
    return {
      outcome: 'denied',
      log: {
        level: 'info',
        fields: { decision: 'denied', rule: decision.rule, bytes },
        message: 'arguments too large to hold for approval',
      },
      audit: {
        event: 'denied',
        sampled: 'denied',
        step: { ...policyFacts(decision), rule: 'approvals.max_arguments', reason: text, args: ctx.args },
      },
      answer: refused('POLICY DENIED', text, decisionMeta(decision, ctx, { decision: 'denied', rule: 'approvals.max_arguments' })),
    };
  },
  hold_unavailable: ({ decision, error }, ctx) => ({
    outcome: 'unavailable',
    log: { level: 'warn', fields: { decision: 'unavailable', err: error }, message: 'approval request could not be opened' },
    audit: {
      event: 'unavailable',
      step: { ...policyFacts(decision), detail: `the approval request could not be opened: ${error}`, args: ctx.args },
    },
    answer: refused(
      'UNAVAILABLE',
      `This call needs approval and Airlock cannot open the request (${error}). The call was not sent; retry later.`,
      decisionMeta(decision, ctx, { decision: 'unavailable' }),
    ),
  }),
  post_failed: ({ decision, held, error }, ctx) => ({
    outcome: 'unavailable',
    log: {
      level: 'warn',
      fields: { decision: 'unavailable', channel: held.channel, err: error },
      message: 'approval request could not be posted',
    },
    audit: { event: 'unavailable', step: { detail: `the approval request could not be posted to ${held.channel}: ${error}` } },
    answer: refused(
      'UNAVAILABLE',
      `This call needs approval and the request could not be shown to reviewers in ${held.channel} (${error}). The call was not sent; retry later.`,
      decisionMeta(decision, ctx, { decision: 'unavailable', approval_id: held.id }),
    ),
  }),
  lost_track: ({ decision, held, error }, ctx) => ({
    outcome: 'unavailable',
    log: { level: 'warn', fields: { decision: 'unavailable', err: error }, message: 'lost track of a held call' },
    audit: { event: 'unavailable', step: { detail: `lost track of the held call: ${error}` } },
    answer: refused(
      'UNAVAILABLE',
      `${error}. The call was not sent; retry later.`,
      decisionMeta(decision, ctx, { decision: 'unavailable', approval_id: held.id }),
    ),
  }),
  rejected: ({ decision, held, status }, ctx) => ({
    outcome: 'rejected',
    log: { level: 'info', fields: { decision: 'rejected', decided_by: status.decided_by }, message: 'approval rejected' },
    audit: { event: 'rejected', step: decided(status) },
    answer: refused(
      'APPROVAL REJECTED',
      `by ${rejecter(status)}: ${status.reason ?? 'no reason given'}`,
      settledMeta(decision, ctx, held, status, { reason: status.reason ?? '' }),
    ),
  }),
  expired: ({ decision, held, status, timeoutMs }, ctx) => ({
    outcome: 'expired',
    log: { level: 'info', fields: { decision: 'expired' }, message: 'approval expired' },
    audit: { event: 'expired', step: decided(status) },
    answer: refused(
      'APPROVAL EXPIRED',
      `after ${describeDuration(timeoutMs)}: nobody approved ${ctx.server}/${ctx.tool} in time. The call was not sent.`,
      settledMeta(decision, ctx, held, status),
    ),
  }),
  withdrawn: ({ decision, held, status, reason }, ctx) => ({
    outcome: 'withdrawn',
    log: { level: 'info', fields: { decision: 'withdrawn', reason: status.reason }, message: 'held call withdrawn' },
    audit: { event: 'withdrawn', step: reason === undefined ? decided(status) : { ...decided(status), reason } },
    answer: refused(
      'UNAVAILABLE',
      `The approval request was withdrawn: ${status.reason ?? 'no reason recorded'}. The call was not sent.`,
      settledMeta(decision, ctx, held, status),
    ),
  }),
  approval_unrecorded: ({ decision, held, status, error }, ctx) => ({
    outcome: 'unavailable',
    log: {
      level: 'error',
      fields: { decision: 'unavailable', err: error },
      message: 'the approval could not be written to the audit trail: call not released',
    },
    audit: { event: 'unavailable', step: { detail: notRecorded(error) } },
    answer: refused(
      'UNAVAILABLE',
      `${held.id} was approved, but Airlock could not write the approval to its audit trail (${error}), so the call was not sent; retry later.`,
      settledMeta(decision, ctx, held, status, { decision: 'unavailable' }),
    ),
  }),
  tampered: ({ decision, held, status, error }, ctx) => ({
    outcome: 'denied',
    log: { level: 'error', fields: { decision: 'tampered', err: error }, message: 'approved arguments were tampered with: call refused' },
    audit: { event: 'denied', step: { rule: 'approval_binding', detail: error } },
    answer: refused(
      'POLICY DENIED',
      `The approved arguments of ${held.id} do not match this call's; it was not sent.`,
      settledMeta(decision, ctx, held, status, { decision: 'tampered' }),
    ),
  }),
  approval_unusable: ({ decision, held, status, error }, ctx) => ({
    outcome: 'unavailable',
    log: { level: 'warn', fields: { decision: 'unavailable', err: error }, message: 'could not use the approval' },
    audit: { event: 'unavailable', step: { detail: error } },
    answer: refused(
      'UNAVAILABLE',
      `${error}. The call was not sent; retry later.`,
      settledMeta(decision, ctx, held, status, { decision: 'unavailable' }),
    ),
  }),
  approval_pending: ({ decision, held, request, waiting, windowMs, repeat }, ctx) => {
    const step = {
      ...policyFacts(decision),
      detail: repeat ? 'repeated before the decision' : 'answered at once',
      args: ctx.args,
    };
    return {
      outcome: 'pending',
      log: {
        level: 'info',
        fields: { decision: 'approval_pending', rule: decision.rule, repeat },
        message: repeat ? 'pending call repeated before its decision' : 'call answered approval pending',
      },
      // A repeat costs the agent nothing, so repeats are sampled as refusals are; the first answer is the request's own event.
      audit: repeat ? { event: 'approval_pending', sampled: 'approval_pending', step } : { event: 'approval_pending', step },
      answer: refused(
        'APPROVAL PENDING',
        `${waiting}. The call was not sent. Once it is approved, repeat exactly this call (same arguments, same session) within ${describeDuration(windowMs)} of the approval and it runs once; repeating it before then asks nobody again.`,
        decisionMeta(decision, ctx, {
          decision: 'approval_pending',
          approval_id: held.id,
          approvers: request.approvers,
          min_approvals: request.min_approvals,
          expires_at: iso(request.expires_at),
          window_ms: windowMs,
        }),
      ),
    };
  },
  pending_used: ({ decision, held, status, windowMs }, ctx) => {
    const reason = `approval ${held.id} already ran this call once, for an earlier repeat; it covers one run`;
    return {
      outcome: 'denied',
      log: { level: 'info', fields: { decision: 'denied', rule: 'approval_pending' }, message: 'repeat refused: its approval was used' },
      audit: { event: 'denied', sampled: 'denied', step: { decision: decision.action, rule: 'approval_pending', reason, args: ctx.args } },
      answer: refused(
        'APPROVAL USED',
        `${reason}. This repeat was not sent; the same call made after ${iso((status.decided_at ?? 0) + windowMs)} asks for a new approval.`,
        settledMeta(decision, ctx, held, status, { decision: 'used', rule: 'approval_pending', used_at: iso(status.consumed_at) }),
      ),
    };
  },
  pending_lapsed: ({ decision, held, status, windowMs }, ctx) => ({
    outcome: 'expired',
    log: { level: 'info', fields: { decision: 'expired', rule: 'approval_pending' }, message: 'repeat refused: after the pending window' },
    audit: { event: 'expired', step: { ...decided(status), detail: `repeated after the ${describeDuration(windowMs)} window` } },
    answer: refused(
      'APPROVAL EXPIRED',
      `${held.id} was approved, but this call was not repeated within ${describeDuration(windowMs)} of the approval (approvals.pending.window). It was not sent; calling again asks for a new approval.`,
      settledMeta(decision, ctx, held, status, { decision: 'expired', rule: 'approval_pending' }),
    ),
  }),
  executed: ({ decision, result, ms, released }, ctx) => {
    const failed = result.isError === true;
    return {
      outcome: released ? 'approved' : 'allowed',
      log: {
        level: 'info',
        fields: { decision: released ? 'approved' : 'allowed', rule: decision.rule, upstream_ms: ms, is_error: failed },
        message: 'call executed',
      },
      audit: { event: 'executed', step: { result: failed ? 'error' : 'ok', duration_ms: ms } },
      answer: {
        result: released ? { ...result, _meta: { ...result._meta, 'airlock/decision': approvedMeta(decision, ctx, released) } } : result,
      },
    };
  },
  cancelled: ({ decision, ms, cutOff, error }) => ({
    outcome: 'cancelled',
    log: {
      level: 'info',
      fields: { decision: 'cancelled', rule: decision.rule, upstream_ms: ms },
      message: cutOff ? 'call cut off by the shutdown' : 'call cancelled by the client',
    },
    audit: {
      event: 'withdrawn',
      step: {
        reason: cutOff
          ? 'Airlock shut down while the server ran the call (listen.shutdown_timeout)'
          : 'the agent cancelled the call while the server ran it',
        duration_ms: ms,
      },
    },
    // The SDK has told the server, and answers nobody.
    answer: { error },
  }),
  upstream_failed: ({ decision, ms, error, released }, ctx) => {
    const counted = (metrics: EndContext['metrics']) => metrics.upstreamFault(ctx.server, 'call');
    const audit = { event: 'unavailable', step: { duration_ms: ms, detail: errorMessage(error) } } as const;
    // Anything but a lost server is the server's own protocol error, passed on as it sent it.
    if (!(error instanceof UpstreamUnavailableError)) return { outcome: 'error', audit, answer: { error }, counted };
    const outcome = error.sent ? 'The server may or may not have run it: check before retrying.' : 'The call was not sent; retry later.';
    return {
      outcome: 'unavailable',
      log: { level: 'warn', fields: { decision: 'unavailable', err: error.message }, message: 'upstream unavailable' },
      audit,
      answer: refused(
        'UNAVAILABLE',
        `${error.message}. ${outcome}`,
        decisionMeta(decision, ctx, { decision: 'unavailable', ...(released && { approval_id: released.held.id }) }),
      ),
      counted,
    };
  },
  input_required: ({ decision, result, asked, round, ms }) => ({
    outcome: 'input_required',
    log: {
      level: 'info',
      fields: { decision: 'input_required', rule: decision.rule, upstream_ms: ms, round },
      message: 'the server asked the client for input: passed on for another round',
    },
    audit: {
      event: 'input_required',
      step: { decision: decision.action, rule: decision.rule, duration_ms: ms, detail: `round ${round}: ${asked}` },
    },
    answer: { input: result },
  }),
  task_created: ({ decision, task, ms }) => ({
    outcome: 'task',
    log: {
      level: 'info',
      fields: {
        decision: 'task',
        rule: decision.rule,
        task_id: task.id,
        task: task.facts.kind,
        ...(ms !== undefined && { upstream_ms: ms }),
      },
      message:
        task.facts.kind === 'held'
          ? 'answered with a task: it runs once approved'
          : task.facts.kind === 'slow'
            ? 'answered with a task: it runs on whichever instance is free'
            : "answered with the server's own task",
    },
    audit: {
      event: 'task_created',
      step: {
        task_id: task.id,
        decision: decision.action,
        rule: decision.rule,
        detail: `${task.facts.kind} task, readable for ${describeDuration(task.ttl_ms)}`,
      },
    },
    answer: { task: createTaskResult(task) },
  }),
  state_refused: ({ reason }) => ({
    outcome: 'denied',
    log: {
      level: 'info',
      fields: { decision: 'denied', rule: 'request_state', reason },
      message: 'retry refused: its requestState cannot be used',
    },
    audit: { event: 'request_refused', step: { rule: 'request_state', reason } },
    answer: { error: invalidState() },
  }),
};

/**
 * Ends one call: counts it, logs it, audits it, and returns what the agent
 * reads (or throws the protocol error it is answered with). Ends after a
 * hold carry its approval id on the log line and the event, and the channel
 * on the event while the request is still undecided or unused.
 */
export function endCall(ctx: EndContext, end: Extract<CallEnd, { kind: 'input_required' }>): InputRequiredResult;
export function endCall(ctx: EndContext, end: Extract<CallEnd, { kind: 'task_created' }>): CreateTaskResult;
export function endCall(ctx: EndContext, end: Exclude<CallEnd, { kind: 'input_required' | 'task_created' }>): CallToolResult;
export function endCall(ctx: EndContext, end: CallEnd): CallToolResult | InputRequiredResult | CreateTaskResult {
  const meaning = (MEANINGS[end.kind] as (end: CallEnd, ctx: EndContext) => Meaning)(end, ctx);
  ctx.trace.outcome = meaning.outcome;
  const approvalId = 'held' in end ? end.held.id : 'released' in end ? end.released?.held.id : undefined;
  const log = approvalId === undefined ? ctx.log : ctx.log.with({ approval_id: approvalId });
  const audit =
    approvalId === undefined ? ctx.audit : ctx.audit.with({ approval_id: approvalId, ...('held' in end && { channel: end.held.channel }) });
  const { event, step, sampled } = meaning.audit;
  const line = meaning.log;
  if (sampled === undefined) {
    audit.record(event, step);
    if (line) log[line.level](line.fields, line.message);
  } else if (audit.refused(sampled, step)) {
    if (line) log[line.level](line.fields, line.message);
  } else if (line) {
    // Refusals cost the agent nothing: past the first of a kind each minute they are counted, not logged one by one.
    log.debug({ ...line.fields, sampled: true }, line.message);
  }
  meaning.counted?.(ctx.metrics);
  if ('error' in meaning.answer) throw meaning.answer.error;
  if ('task' in meaning.answer) return meaning.answer.task as CreateTaskResult;
  return 'input' in meaning.answer ? meaning.answer.input : meaning.answer.result;
}

/** MCP asks servers for tool names of 1 to 128 characters; twice that is room enough, and a longer name is refused before anything reads it. */
export const MAX_TOOL_NAME_CHARS = 256;

function refused(kind: RefusalKind, text: string, meta: DecisionMeta): { result: CallToolResult } {
  return { result: refusal(kind, text, meta) };
}

function callMeta(ctx: EndContext): Pick<DecisionMeta, 'request_id' | 'server' | 'tool'> {
  return { request_id: ctx.requestId, server: ctx.server, tool: ctx.tool };
}

function decisionMeta(decision: Decision, ctx: EndContext, extra: Partial<DecisionMeta> = {}): DecisionMeta {
  return { decision: decision.action, rule: decision.rule, reason: decision.reason, ...callMeta(ctx), ...extra };
}

/** A held call's refusal names who decided, and when. */
function settledMeta(
  decision: Decision,
  ctx: EndContext,
  held: HeldFacts,
  status: ApprovalStatus,
  extra: Partial<DecisionMeta> = {},
): DecisionMeta {
  return decisionMeta(decision, ctx, {
    decision: status.state,
    approval_id: held.id,
    decided_by: status.decided_by ?? null,
    decided_at: iso(status.decided_at),
    ...extra,
  });
}

function approvedMeta(decision: Decision, ctx: EndContext, { held, status }: ReleasedUnder): DecisionMeta {
  return decisionMeta(decision, ctx, {
    decision: 'approved',
    approval_id: held.id,
    approved_by: status.decided_by ?? null,
    approved_at: iso(status.decided_at),
  });
}

function policyFacts(decision: Decision): StepFacts {
  return { decision: decision.action, rule: decision.rule, reason: decision.reason };
}

/** Who decided a request, and their reason: the audit facts of every event that ends or releases it. */
export function decided(status: ApprovalStatus): StepFacts {
  return { approvers: approversOf(status), ...(status.reason !== undefined && { reason: status.reason }) };
}

/** Why an approved call was not sent, as its request, its channel message and the trail say it. */
export function notRecorded(error: string): string {
  return `the approved event could not be written to the audit trail, so the call was not sent: ${error}`;
}

/** `Bobby (U0BOB)` for a Slack user, whose id alone tells an agent nothing; `alice` for an admin. */
function rejecter(status: ApprovalStatus): string {
  const vote = [...status.votes].reverse().find((v) => v.verdict === 'reject');
  if (!vote) return status.decided_by ?? 'a reviewer';
  return vote.name === undefined ? vote.by : `${vote.name} (${vote.by})`;
}

function rateLimitText(charge: Refused): string {
  const { counter, scope, max, window_ms } = charge.limit;
  if (charge.retry_after_ms === undefined) return `${counter} (scope ${scope}) has max 0: the policy refuses every call it counts.`;
  return `${counter} (scope ${scope}) allows ${max} calls per ${describePer(window_ms)}; retry in ${Math.max(1, Math.ceil(charge.retry_after_ms / 1000))} s.`;
}

function limitMeta(charge: Refused): Record<string, unknown> {
  const { counter, scope, max, window } = charge.limit;
  return { counter, scope, max, window, retry_after_ms: charge.retry_after_ms ?? null };
}

function kib(bytes: number): string {
  return `${Math.ceil(bytes / 1024)} KiB`;
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}
