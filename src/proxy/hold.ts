import { SdkError, SdkErrorCode, type CallToolResult } from '@modelcontextprotocol/server';
import {
  approverList,
  type Approvals,
  type ApprovalRequest,
  type ApprovalStatus,
  type Execution,
  type NewApproval,
} from '../approvals/index.js';
import type { ApprovalChannel } from '../channels/index.js';
import { AirlockError, ErrorCode, errorMessage } from '../errors.js';
import type { CallTrace } from '../metrics/index.js';
import type { Decision } from '../policy/index.js';
import type { CallAudit } from './call-audit.js';
import { decided, notRecorded, type CallEnd, type HeldFacts } from './call-ends.js';
import type { CallLog } from './call-log.js';
import type { Progress } from './progress.js';

/** What a held call needs of the shared approval requests. */
export type ApprovalRequests = Pick<Approvals, 'hold' | 'open' | 'get' | 'setChannelRef' | 'withdraw' | 'recordExecution' | 'consume'>;

export interface ApprovalDeps {
  approvals: ApprovalRequests;
  channel: ApprovalChannel;
  /** `approvals.timeout`, for rules that set none. */
  defaultTimeoutMs: number;
  /** `approvals.approvers`, for holds whose rule lists none; absent, only console admins decide those. */
  defaultApprovers?: readonly string[];
  /** How often a held call sends progress, when the agent asked for it. */
  heartbeatMs: number;
  /** Largest arguments (JSON bytes) a held call may carry. */
  maxArgumentsBytes: number;
}

export interface HeldCall {
  requestId: string;
  server: string;
  tool: string;
  /** The tool's class and level, shown to reviewers. */
  risk?: { class: string; level: string };
  args: Record<string, unknown> | undefined;
  grant: string | undefined;
  session: string | undefined;
  client: string | undefined;
  signal: AbortSignal;
  progress?: Progress;
}

export type HoldResult =
  | { approved: false; result: CallToolResult }
  | {
      approved: true;
      held: HeldFacts;
      status: ApprovalStatus;
      /** Records what the server answered, then tells the channel (not waited for). */
      executed(execution: Execution): Promise<void>;
    };

/** The call's log and trail, and how it ends when the hold ends it (see call-ends.ts). */
export interface HoldContext {
  log: CallLog;
  audit: CallAudit;
  trace: CallTrace;
  end(end: CallEnd): CallToolResult;
}

/**
 * Holds one call until a person decides: opens the request, shows it in the
 * channel, sends heartbeats, and either refuses the call with who decided
 * and why, or hands back an approval already bound to this call and these
 * arguments (used once, checked right before the call is sent).
 */
export async function holdForApproval(deps: ApprovalDeps, call: HeldCall, decision: Decision, ctx: HoldContext): Promise<HoldResult> {
  const opened = await openApproval(deps, call, decision, ctx, (input) => deps.approvals.hold(input, call.signal, withdrawReason));
  if (!opened.ok) return opened;
  const { request, outcome } = opened;
  const heartbeat = call.progress && startHeartbeat(call.progress, request, deps.channel.name, deps.heartbeatMs);
  let status: ApprovalStatus;
  const waitStarted = performance.now();
  try {
    status = await outcome;
    ctx.trace.approval = status.state;
  } catch (err) {
    ctx.trace.approval = 'unavailable';
    return { approved: false, result: ctx.end({ kind: 'lost_track', decision, held: opened.held, error: errorMessage(err) }) };
  } finally {
    ctx.trace.heldMs = performance.now() - waitStarted;
    clearInterval(heartbeat);
  }
  return releaseApproval(deps, request, status, decision, ctx, call.signal, call.args ?? {});
}

/** An approval request opened and shown in its channel, with what its call's log and trail add for it. */
export type OpenedApproval<O> =
  { ok: true; request: ApprovalRequest; held: HeldFacts; outcome: O } | { ok: false; approved: false; result: CallToolResult };

/**
 * The first half of a hold: the arguments checked for size, the request
 * opened (by `open`: held here, or by a task), logged, audited and posted to
 * the channel; a request that cannot be shown is withdrawn and the call
 * refused.
 */
export async function openApproval<O>(
  deps: ApprovalDeps,
  call: Omit<HeldCall, 'signal' | 'progress'>,
  decision: Decision,
  { log, audit, end }: HoldContext,
  open: (input: NewApproval) => Promise<{ request: ApprovalRequest; outcome: O }>,
): Promise<OpenedApproval<O>> {
  const { approvals, channel } = deps;
  const args = call.args ?? {};
  const refused = (ending: CallEnd) => ({ ok: false as const, approved: false as const, result: end(ending) });
  const bytes = Buffer.byteLength(JSON.stringify(args));
  if (bytes > deps.maxArgumentsBytes) return refused({ kind: 'too_large_to_hold', decision, bytes, maxBytes: deps.maxArgumentsBytes });

  const approval = decision.approval;
  const timeoutMs = approval?.timeout_ms ?? deps.defaultTimeoutMs;
  const list = approverList(approval?.approvers, deps.defaultApprovers);
  let opened;
  try {
    opened = await open({
      request_id: call.requestId,
      grant: call.grant,
      session: call.session,
      client: call.client,
      server: call.server,
      tool: call.tool,
      risk: call.risk,
      args,
      rule: decision.rule,
      reason: decision.reason,
      approvers: list.approvers,
      ...(list.from !== null && { approvers_from: list.from }),
      min_approvals: approval?.min_approvals ?? 1,
      channel: approval?.channel,
      timeout_ms: timeoutMs,
    });
  } catch (err) {
    return refused({ kind: 'hold_unavailable', decision, error: errorMessage(err) });
  }
  const { request } = opened;
  const held: HeldFacts = { id: request.id, channel: channel.name };
  log.with({ approval_id: request.id }).info(
    {
      decision: 'approval_requested',
      rule: decision.rule,
      digest: request.digest,
      timeout_ms: timeoutMs,
      ...(request.task_id && { task_id: request.task_id }),
    },
    'call held for approval',
  );
  audit
    .with({ approval_id: request.id, channel: channel.name })
    .record('approval_requested', { decision: decision.action, rule: decision.rule, reason: decision.reason, args });

  try {
    const ref = await channel.post(request);
    if (ref !== undefined) await approvals.setChannelRef(request.id, ref);
  } catch (err) {
    const answer = refused({ kind: 'post_failed', decision, held, error: errorMessage(err) });
    await approvals.withdraw(request.id, `it could not be posted to ${channel.name}`).catch(() => undefined);
    return answer;
  }
  return { ok: true, request, held, outcome: opened.outcome };
}

/**
 * The second half of a hold, once its request has ended: a refusal with who
 * decided and why (the channel told), or the approval recorded in the trail
 * and used for exactly these arguments, and the call released. `signal`
 * aborted (the agent withdrew the call meanwhile) refuses it too.
 */
export async function releaseApproval(
  deps: ApprovalDeps,
  request: ApprovalRequest,
  status: ApprovalStatus,
  decision: Decision,
  { log, audit, end }: HoldContext,
  signal: AbortSignal,
  /** What is about to be sent: it must be what was approved. */
  args: Record<string, unknown>,
): Promise<HoldResult> {
  const { approvals, channel } = deps;
  const held: HeldFacts = { id: request.id, channel: channel.name };
  const hlog = log.with({ approval_id: request.id });
  const haudit = audit.with({ approval_id: request.id, channel: channel.name });
  const refused = (ending: CallEnd): HoldResult => ({ approved: false, result: end(ending) });
  const tell = channelTeller(channel, request, hlog);
  const settled = (ending: CallEnd): HoldResult => {
    const answer = refused(ending);
    void tell(status);
    return answer;
  };
  if (status.state === 'rejected') return settled({ kind: 'rejected', decision, held, status });
  if (status.state === 'expired') return settled({ kind: 'expired', decision, held, status, timeoutMs: request.timeout_ms });
  if (status.state !== 'approved') return settled({ kind: 'withdrawn', decision, held, status });
  if (signal.aborted) {
    // An approval nobody will use says so, or the worker would keep checking on it.
    const reason = withdrawReason(signal);
    await approvals.recordExecution(request.id, { result: 'refused', ms: 0, detail: reason }).catch(() => undefined);
    return settled({ kind: 'withdrawn', decision, held, status, reason });
  }

  // Approved, and still not sent: the request and the channel say why, then the trail.
  const notSent = async (detail: string, ending: CallEnd): Promise<HoldResult> => {
    await recordNotSent(approvals, request, status, detail, tell);
    return refused(ending);
  };
  // Fail closed: a call is not released unless its approval is on record and used by this call alone.
  // The two are written at once (each is a round trip the call waits for); either failing keeps the call unsent.
  const [recorded, consumed] = await Promise.allSettled([
    haudit.commit('approved', { ...decided(status), args }),
    approvals.consume(request, args),
  ]);
  if (recorded.status === 'rejected') {
    const error = errorMessage(recorded.reason);
    return notSent(notRecorded(error), { kind: 'approval_unrecorded', decision, held, status, error });
  }
  if (consumed.status === 'rejected') {
    const err: unknown = consumed.reason;
    const error = errorMessage(err);
    const tampered = err instanceof AirlockError && err.code === ErrorCode.ApprovalTampered;
    return notSent(error, { kind: tampered ? 'tampered' : 'approval_unusable', decision, held, status, error });
  }
  hlog.info({ decision: 'approved', decided_by: status.decided_by }, 'approval granted: releasing the call');
  return releasedUnder(approvals, request, status, held, hlog, tell);
}

/** How a request's channel is told of its status: a failure is logged, never thrown at the call. */
export function channelTeller(channel: ApprovalChannel, request: ApprovalRequest, log: CallLog): (status: ApprovalStatus) => Promise<void> {
  return (status) =>
    channel
      .update(request, status)
      .catch((err: unknown) => log.warn({ channel: channel.name, err: errorMessage(err) }, 'could not update the approval message'));
}

/** An approval spent and its call still not sent: the request records why, then its channel is told. */
export async function recordNotSent(
  approvals: ApprovalDeps['approvals'],
  request: ApprovalRequest,
  status: ApprovalStatus,
  detail: string,
  tell: (status: ApprovalStatus) => Promise<void>,
): Promise<void> {
  const execution = { result: 'refused', ms: 0, detail } as const;
  await approvals.recordExecution(request.id, execution).catch(() => undefined);
  void tell({ ...status, execution });
}

/** A call released under its approval: what it ran is recorded on the request, then its channel is told. */
export function releasedUnder(
  approvals: ApprovalDeps['approvals'],
  request: ApprovalRequest,
  status: ApprovalStatus,
  held: HeldFacts,
  log: CallLog,
  tell: (status: ApprovalStatus) => Promise<void>,
): Extract<HoldResult, { approved: true }> {
  return {
    approved: true,
    held,
    status,
    executed: async (execution) => {
      await approvals
        .recordExecution(request.id, execution)
        .catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'could not record the execution'));
      // The agent's answer does not wait for the channel (a Slack edit is a round trip to Slack, or several).
      void tell({ ...status, execution });
    },
  };
}

function startHeartbeat(progress: Progress, request: ApprovalRequest, channel: string, everyMs: number): NodeJS.Timeout {
  const message = waitingMessage(request, channel);
  progress.beat(message);
  const timer = setInterval(() => progress.beat(message), everyMs);
  timer.unref();
  return timer;
}

/** Who is asked to decide, where, and until when: what the person at the agent is shown while the call waits. */
export function waitingMessage(request: ApprovalRequest, channel: string): string {
  const who = request.approvers.length > 0 ? request.approvers.join(', ') : 'a console admin';
  const needed = request.min_approvals > 1 ? `${request.min_approvals} approvals from ` : '';
  const where = request.approvers.length > 0 ? channel : 'console';
  const expires = `expires ${new Date(request.expires_at).toISOString()}`;
  // Clients show this line to the person at the agent: with the console among the channels, it names the command that decides.
  const how = where.split(', ').includes('console') ? `run: airlock approvals approve ${request.id};` : `approval ${request.id},`;
  return `Waiting for ${needed}${who} to approve ${request.server}/${request.tool} in ${where} (${how} ${expires})`;
}

/** The reason of the cancel the HTTP endpoint hands the SDK for each request of a POST the agent dropped. */
export const AGENT_DISCONNECTED = 'the agent disconnected before the request was answered';

/**
 * The SDK aborts with the client's reason on notifications/cancelled (or the
 * endpoint's, AGENT_DISCONNECTED), and with an AbortError or its "Connection
 * closed" SdkError when the session (2025) or the request (2026) closes.
 */
export function withdrawReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (reason === AGENT_DISCONNECTED) return reason;
  if (typeof reason === 'string' && reason !== '') return `the agent cancelled the call: ${reason}`;
  const closed = reason instanceof SdkError && reason.code === SdkErrorCode.ConnectionClosed;
  if (reason instanceof Error && reason.name !== 'AbortError' && !closed) return reason.message;
  return 'the agent cancelled the call or its session closed';
}
