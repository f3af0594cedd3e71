import { setTimeout as sleep } from 'node:timers/promises';
import type { CallToolResult } from '@modelcontextprotocol/server';
import type { ApprovalRecord, Approvals, PendingClaim } from '../approvals/index.js';
import { errorMessage } from '../errors.js';
import type { RateLimiter } from '../limits/index.js';
import type { Decision } from '../policy/index.js';
import { decided, endCall, notRecorded, type CallEnd, type EndContext, type HeldFacts } from './call-ends.js';
import {
  channelTeller,
  openApproval,
  recordNotSent,
  releasedUnder,
  waitingMessage,
  type ApprovalDeps,
  type HeldCall,
  type HoldResult,
} from './hold.js';

/**
 * Approval pending mode: for clients that give up on a held call (the MCP
 * Inspector and the SDK's default 60 s) and neither poll a task nor reset
 * their timeout on progress.
 */
export interface PendingMode {
  /** `approvals.pending.window`: how long after the approval the same call may be repeated to run under it. */
  windowMs: number;
  /** Whether a grant's held calls are answered pending (`approval_pending`, else `approvals.pending.enabled`); undefined: no grants. */
  enabledFor(grant: string | undefined): boolean;
  /** `approvals.pending.bind: session`: a repeat from another session of the grant is another call. */
  bindSession: boolean;
  approvals: Pick<Approvals, 'claimPending' | 'openPending' | 'redeemPending' | 'dropPending'>;
}

/** What answering pending takes of the pipeline. */
export interface PendingDeps {
  approval: ApprovalDeps;
  limiter: Pick<RateLimiter, 'charge'>;
  pending: PendingMode;
}

/** How long a repeat waits for an identical call's request to be opened, and how often it looks. */
const OPENING_WAIT_MS = 2_000;
const OPENING_POLL_MS = 50;

type Ending = Exclude<CallEnd, { kind: 'input_required' | 'task_created' }>;

/** Whether this held call is answered pending: its rule or its grant says so. */
export function answersPending(
  mode: PendingMode | undefined,
  call: { grant: string | undefined },
  decision: Decision,
): mode is PendingMode {
  if (mode === undefined || decision.action !== 'require_approval') return false;
  return decision.approval?.pending ?? mode.enabledFor(call.grant);
}

/**
 * A held call in approval pending mode. The first of identical calls is
 * charged to its limits and opens a request that stays open, and is answered
 * at once [APPROVAL PENDING]; a repeat before the decision gets the same
 * answer, charged nothing and asking nobody again; once approved, exactly
 * one repeat within the window runs under the approval (`released`), with
 * the policy of that moment (the caller evaluated it: a deny or another rule
 * never gets here with this call's request). Every other repeat is told what
 * became of it.
 */
export async function holdPending(
  deps: PendingDeps,
  call: Omit<HeldCall, 'signal' | 'progress'>,
  decision: Decision,
  ctx: EndContext,
): Promise<{ released: Extract<HoldResult, { approved: true }> } | { result: CallToolResult }> {
  const { approvals } = deps.pending;
  const end = (ending: Ending) => endCall(ctx, ending);
  const args = call.args ?? {};
  const timeoutMs = decision.approval?.timeout_ms ?? deps.approval.defaultTimeoutMs;
  // The call's claim outlives the request by the window, so an approval given at the last moment can still be used.
  const ttlMs = timeoutMs + deps.pending.windowMs;
  const binding = {
    grant: call.grant,
    session: deps.pending.bindSession ? call.session : undefined,
    server: call.server,
    tool: call.tool,
    rule: decision.rule,
    args,
  };
  try {
    // A repeat whose request has just ended is a new call: it claims again (once, so two racing ends cannot loop it).
    for (let attempt = 0; attempt < 2; attempt++) {
      const claim = await approvals.claimPending(binding, ttlMs);
      if (claim.claimed) return { result: await openPending(deps, call, decision, ctx, claim, ttlMs) };
      let redeemed = await approvals.redeemPending(claim, args, deps.pending.windowMs);
      // Identical calls at once: the first is still opening the request the others found (a few round trips).
      for (let waited = 0; redeemed.code === 'missing' && waited < OPENING_WAIT_MS; waited += OPENING_POLL_MS) {
        await sleep(OPENING_POLL_MS);
        redeemed = await approvals.redeemPending(claim, args, deps.pending.windowMs);
      }
      if (redeemed.code === 'moved') continue;
      if (!('record' in redeemed)) return { result: openingAnswer(decision, ctx, claim) };
      return await repeated(deps, decision, ctx, redeemed.record, redeemed);
    }
    return { result: end({ kind: 'hold_unavailable', decision, error: 'its approval request kept ending as it was looked up' }) };
  } catch (err) {
    return { result: end({ kind: 'hold_unavailable', decision, error: errorMessage(err) }) };
  }
}

/** The first call: charged (a call a reviewer later rejects stays counted, as a held one does), its request opened and posted, and answered pending. */
async function openPending(
  deps: PendingDeps,
  call: Omit<HeldCall, 'signal' | 'progress'>,
  decision: Decision,
  ctx: EndContext,
  claim: PendingClaim,
  ttlMs: number,
): Promise<CallToolResult> {
  const { approvals } = deps.pending;
  const end = (ending: Ending) => endCall(ctx, ending);
  const drop = () => approvals.dropPending(claim).catch(() => undefined);
  let charge;
  try {
    charge = await deps.limiter.charge(decision.limits, { grant: call.grant, session: call.session });
  } catch (err) {
    await drop();
    return end({ kind: 'limits_unavailable', decision, error: errorMessage(err) });
  }
  if (!charge.admitted) {
    await drop();
    return end({ kind: 'rate_limited', decision, charge });
  }
  const opened = await openApproval(deps.approval, call, decision, { log: ctx.log, audit: ctx.audit, trace: ctx.trace, end }, (input) =>
    approvals.openPending(input, claim.id, ttlMs),
  );
  if (!opened.ok) {
    await drop();
    return opened.result;
  }
  return end({
    kind: 'approval_pending',
    decision,
    held: opened.held,
    request: opened.request,
    waiting: waitingMessage(opened.request, deps.approval.channel.name),
    windowMs: deps.pending.windowMs,
    repeat: false,
  });
}

/** A repeat that raced the first call's opening of the request (or outlived its record): nothing to show of it yet, and nothing is sent. */
function openingAnswer(decision: Decision, ctx: EndContext, claim: PendingClaim): CallToolResult {
  return endCall(ctx, {
    kind: 'hold_unavailable',
    decision,
    error: `its approval request ${claim.id} is being opened by an identical call and cannot be read yet; repeat it in a moment`,
  });
}

/** A repeat of a call whose request exists: pending still, run under its approval, or told what became of it. */
async function repeated(
  deps: PendingDeps,
  decision: Decision,
  ctx: EndContext,
  { request, status }: ApprovalRecord,
  redeemed: { code: string; detail?: string },
): Promise<{ released: Extract<HoldResult, { approved: true }> } | { result: CallToolResult }> {
  const { approvals, channel } = deps.approval;
  const held: HeldFacts = { id: request.id, channel: channel.name };
  const end = (ending: Ending) => ({ result: endCall(ctx, ending) });
  const windowMs = deps.pending.windowMs;
  const hlog = ctx.log.with({ approval_id: request.id });
  const tell = channelTeller(channel, request, hlog);
  // Spent by this repeat and still not sent: the request and the channel say why.
  const notSent = (detail: string) => recordNotSent(approvals, request, status, detail, tell);
  switch (redeemed.code) {
    case 'pending':
      return end({
        kind: 'approval_pending',
        decision,
        held,
        request,
        waiting: waitingMessage(request, channel.name),
        windowMs,
        repeat: true,
      });
    case 'used':
      return end({ kind: 'pending_used', decision, held, status, windowMs });
    case 'lapsed': {
      await notSent(`approved, but the call was not repeated within ${Math.round(windowMs / 1000)} s of the approval: it was not sent`);
      return end({ kind: 'pending_lapsed', decision, held, status, windowMs });
    }
    case 'ended':
      if (status.state === 'rejected') return end({ kind: 'rejected', decision, held, status });
      if (status.state === 'expired') return end({ kind: 'expired', decision, held, status, timeoutMs: request.timeout_ms });
      return end({ kind: 'withdrawn', decision, held, status });
    case 'tampered': {
      const error = redeemed.detail ?? `approval ${request.id} was given for other arguments than this call's`;
      await notSent(error);
      return end({ kind: 'tampered', decision, held, status, error });
    }
  }
  // This repeat alone holds the approval now. Fail closed: it runs only once the approval is on record.
  const haudit = ctx.audit.with({ approval_id: request.id, channel: channel.name });
  try {
    await haudit.commit('approved', { ...decided(status), args: request.arguments });
  } catch (err) {
    const error = errorMessage(err);
    await notSent(notRecorded(error));
    return end({ kind: 'approval_unrecorded', decision, held, status, error });
  }
  hlog.info({ decision: 'approved', decided_by: status.decided_by }, 'approval granted: running the repeated call under it');
  return { released: releasedUnder(approvals, request, status, held, hlog, tell) };
}
