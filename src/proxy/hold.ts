import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { approverList, approversOf, type Approvals, type ApprovalRequest, type ApprovalStatus, type Execution } from '../approvals/index.js';
import type { ApprovalChannel } from '../channels/index.js';
import { describeDuration } from '../config/index.js';
import { AirlockError, ErrorCode } from '../errors.js';
import type { CallTrace } from '../metrics/index.js';
import type { Decision } from '../policy/index.js';
import type { CallAudit } from './call-audit.js';
import type { CallLog } from './call-log.js';
import type { Progress } from './progress.js';
import { refusal, type DecisionMeta } from './refusal.js';

export interface ApprovalDeps {
  approvals: Approvals;
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
      request: ApprovalRequest;
      status: ApprovalStatus;
      /** Records what the server answered and tells the channel. */
      executed(execution: Execution): Promise<void>;
    };

/**
 * Holds one call until a person decides: opens the request, shows it in the
 * channel, sends heartbeats, and either refuses the call with who decided
 * and why, or hands back an approval already bound to this call and these
 * arguments (used once, checked right before the call is sent).
 */
export async function holdForApproval(
  deps: ApprovalDeps,
  call: HeldCall,
  decision: Decision,
  { log, audit, trace }: { log: CallLog; audit: CallAudit; trace: CallTrace },
  meta: (extra?: Partial<DecisionMeta>) => DecisionMeta,
): Promise<HoldResult> {
  const { approvals, channel } = deps;
  const args = call.args ?? {};
  const policy = { decision: decision.action, rule: decision.rule, reason: decision.reason };
  const size = Buffer.byteLength(JSON.stringify(args));
  if (size > deps.maxArgumentsBytes) {
    const text = `${decision.reason}. This call needs approval, but its arguments are ${kib(size)}, more than the ${kib(deps.maxArgumentsBytes)} a held call may carry (approvals.max_arguments).`;
    const fields = { decision: 'denied', rule: decision.rule, bytes: size };
    if (audit.refused('denied', { ...policy, rule: 'approvals.max_arguments', reason: text, args })) log.info(fields, 'arguments too large to hold for approval');
    else log.debug({ ...fields, sampled: true }, 'arguments too large to hold for approval');
    return refused('POLICY DENIED', text, meta({ decision: 'denied', rule: 'approvals.max_arguments' }));
  }

  const approval = decision.approval;
  const timeoutMs = approval?.timeout_ms ?? deps.defaultTimeoutMs;
  const list = approverList(approval?.approvers, deps.defaultApprovers);
  let held;
  try {
    held = await approvals.hold(
      {
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
      },
      call.signal,
      () => withdrawReason(call.signal),
    );
  } catch (err) {
    log.warn({ decision: 'unavailable', err: (err as Error).message }, 'approval request could not be opened');
    audit.record('unavailable', { ...policy, detail: `the approval request could not be opened: ${(err as Error).message}`, args });
    return refused('UNAVAILABLE', `This call needs approval and Airlock cannot open the request (${(err as Error).message}). The call was not sent; retry later.`, meta({ decision: 'unavailable' }));
  }
  const { request } = held;
  const hlog = log.with({ approval_id: request.id });
  const haudit = audit.with({ approval_id: request.id, channel: channel.name });
  hlog.info({ decision: 'approval_requested', rule: decision.rule, digest: request.digest, timeout_ms: timeoutMs }, 'call held for approval');
  haudit.record('approval_requested', { ...policy, args });

  try {
    const ref = await channel.post(request);
    if (ref !== undefined) await approvals.setChannelRef(request.id, ref);
  } catch (err) {
    hlog.warn({ decision: 'unavailable', channel: channel.name, err: (err as Error).message }, 'approval request could not be posted');
    haudit.record('unavailable', { detail: `the approval request could not be posted to ${channel.name}: ${(err as Error).message}` });
    await approvals.withdraw(request.id, `it could not be posted to ${channel.name}`).catch(() => undefined);
    return refused('UNAVAILABLE', `This call needs approval and the request could not be shown to reviewers in ${channel.name} (${(err as Error).message}). The call was not sent; retry later.`, meta({ decision: 'unavailable', approval_id: request.id }));
  }

  const heartbeat = call.progress && startHeartbeat(call.progress, request, channel.name, deps.heartbeatMs);
  let status: ApprovalStatus;
  const waitStarted = performance.now();
  try {
    status = await held.outcome;
    trace.approval = status.state;
  } catch (err) {
    trace.approval = 'unavailable';
    hlog.warn({ decision: 'unavailable', err: (err as Error).message }, 'lost track of a held call');
    haudit.record('unavailable', { detail: `lost track of the held call: ${(err as Error).message}` });
    return refused('UNAVAILABLE', `${(err as Error).message}. The call was not sent; retry later.`, meta({ decision: 'unavailable', approval_id: request.id }));
  } finally {
    trace.heldMs = performance.now() - waitStarted;
    clearInterval(heartbeat);
  }
  const tell = (s: ApprovalStatus) => channel.update(request, s).catch((err: unknown) => hlog.warn({ channel: channel.name, err: (err as Error).message }, 'could not update the approval message'));
  const outcomeMeta = (extra: Partial<DecisionMeta> = {}) => meta({ decision: status.state, approval_id: request.id, decided_by: status.decided_by ?? null, decided_at: iso(status.decided_at), ...extra });

  const decided = { approvers: approversOf(status), ...(status.reason !== undefined && { reason: status.reason }) };
  if (status.state === 'rejected') {
    hlog.info({ decision: 'rejected', decided_by: status.decided_by }, 'approval rejected');
    haudit.record('rejected', decided);
    void tell(status);
    return refused('APPROVAL REJECTED', `by ${rejecter(status)}: ${status.reason ?? 'no reason given'}`, outcomeMeta({ reason: status.reason ?? '' }));
  }
  if (status.state === 'expired') {
    hlog.info({ decision: 'expired' }, 'approval expired');
    haudit.record('expired', decided);
    void tell(status);
    return refused('APPROVAL EXPIRED', `after ${describeDuration(timeoutMs)}: nobody approved ${call.server}/${call.tool} in time. The call was not sent.`, outcomeMeta());
  }
  if (status.state !== 'approved' || call.signal.aborted) {
    hlog.info({ decision: 'withdrawn', reason: status.reason }, 'held call withdrawn');
    // An approval nobody will use says so, or the worker would keep checking on it.
    if (status.state === 'approved') await approvals.recordExecution(request.id, { result: 'refused', ms: 0, detail: withdrawReason(call.signal) }).catch(() => undefined);
    haudit.record('withdrawn', status.state === 'approved' ? { ...decided, reason: withdrawReason(call.signal) } : decided);
    void tell(status);
    return refused('UNAVAILABLE', `The approval request was withdrawn: ${status.reason ?? 'no reason recorded'}. The call was not sent.`, outcomeMeta());
  }

  // Approved, and still not sent: the request, the channel and the trail say why.
  const notSent = async (event: 'denied' | 'unavailable', detail: string, rule?: string) => {
    const execution = { result: 'refused', ms: 0, detail } as const;
    await approvals.recordExecution(request.id, execution).catch(() => undefined);
    void tell({ ...status, execution });
    haudit.record(event, { ...(rule !== undefined && { rule }), detail });
  };
  // Fail closed: a call is not released unless its approval is on record.
  try {
    await haudit.commit('approved', { ...decided, args });
  } catch (err) {
    hlog.error({ decision: 'unavailable', err: (err as Error).message }, 'the approval could not be written to the audit trail: call not released');
    await notSent('unavailable', `the approved event could not be written to the audit trail, so the call was not sent: ${(err as Error).message}`);
    return refused('UNAVAILABLE', `${request.id} was approved, but Airlock could not write the approval to its audit trail (${(err as Error).message}), so the call was not sent; retry later.`, outcomeMeta({ decision: 'unavailable' }));
  }
  try {
    await approvals.consume(request, args);
  } catch (err) {
    const tampered = err instanceof AirlockError && err.code === ErrorCode.ApprovalTampered;
    (tampered ? hlog.error : hlog.warn)({ decision: tampered ? 'tampered' : 'unavailable', err: (err as Error).message }, tampered ? 'approved arguments were tampered with: call refused' : 'could not use the approval');
    await notSent(tampered ? 'denied' : 'unavailable', (err as Error).message, tampered ? 'approval_binding' : undefined);
    return tampered
      ? refused('POLICY DENIED', `The approved arguments of ${request.id} do not match this call's; it was not sent.`, outcomeMeta({ decision: 'tampered' }))
      : refused('UNAVAILABLE', `${(err as Error).message}. The call was not sent; retry later.`, outcomeMeta({ decision: 'unavailable' }));
  }
  hlog.info({ decision: 'approved', decided_by: status.decided_by }, 'approval granted: releasing the call');
  return {
    approved: true,
    request,
    status,
    executed: async (execution) => {
      await approvals.recordExecution(request.id, execution).catch((err: unknown) => hlog.warn({ err: (err as Error).message }, 'could not record the execution'));
      await tell({ ...status, execution });
    },
  };
}

/** `Bobby (U0BOB)` for a Slack user, whose id alone tells an agent nothing; `alice` for an admin. */
function rejecter(status: ApprovalStatus): string {
  const vote = [...status.votes].reverse().find((v) => v.verdict === 'reject');
  if (!vote) return status.decided_by ?? 'a reviewer';
  return vote.name === undefined ? vote.by : `${vote.name} (${vote.by})`;
}

function refused(...args: Parameters<typeof refusal>): HoldResult {
  return { approved: false, result: refusal(...args) };
}

function startHeartbeat(progress: Progress, request: ApprovalRequest, channel: string, everyMs: number): NodeJS.Timeout {
  const who = request.approvers.length > 0 ? request.approvers.join(', ') : 'a console admin';
  const needed = request.min_approvals > 1 ? `${request.min_approvals} approvals from ` : '';
  const where = request.approvers.length > 0 ? channel : 'console';
  const message = `Waiting for ${needed}${who} to approve ${request.server}/${request.tool} in ${where} (approval ${request.id}, expires ${new Date(request.expires_at).toISOString()})`;
  progress.beat(message);
  const timer = setInterval(() => progress.beat(message), everyMs);
  timer.unref();
  return timer;
}

/** The SDK aborts with the client's reason on notifications/cancelled and with a bare AbortError when the session closes. */
function withdrawReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (typeof reason === 'string' && reason !== '') return `the agent cancelled the call: ${reason}`;
  if (reason instanceof Error && reason.name !== 'AbortError') return reason.message;
  return 'the agent cancelled the call or its session closed';
}

function kib(bytes: number): string {
  return `${Math.ceil(bytes / 1024)} KiB`;
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}
