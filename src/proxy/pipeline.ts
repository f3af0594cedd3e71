import { randomUUID } from 'node:crypto';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import type { AuditRecorder } from '../audit/index.js';
import { describePer } from '../config/index.js';
import type { Charge, RateLimiter } from '../limits/index.js';
import { classifyTool, type Classification, type ToolPins } from '../inventory/index.js';
import { UNKNOWN_TOOL, startTrace, type CallOutcome, type CallTrace, type GatewayMetrics } from '../metrics/index.js';
import { evaluate, type CompiledPolicy, type Decision } from '../policy/index.js';
import { capText } from '../cap-text.js';
import type { Redactor } from '../redact.js';
import { MAX_ARGUMENT_DEPTH, nestsDeeperThan } from './argument-depth.js';
import { callAudit } from './call-audit.js';
import type { CallGate } from './call-gate.js';
import { callLog } from './call-log.js';
import { UpstreamUnavailableError } from './errors.js';
import { holdForApproval, type ApprovalDeps, type HoldResult } from './hold.js';
import type { Progress } from './progress.js';
import type { RefusalEvent, SampledRefusals } from './sampled-refusals.js';
import { refusal, unknownTool, type DecisionMeta } from './refusal.js';
import type { Upstream } from './upstream.js';

export interface ToolCall {
  server: string;
  tool: string;
  /** The name the agent used (`server__tool` on /mcp), for "unknown tool" answers. */
  calledAs: string;
  args: Record<string, unknown> | undefined;
  /** The downstream request's `_meta`, passed on to the server (its progress token is replaced by the SDK's own). */
  meta: Record<string, unknown> | undefined;
  grant: string | undefined;
  session: string | undefined;
  /** The MCP client's name from its `initialize`, shown to reviewers. */
  client: string | undefined;
  signal: AbortSignal;
  /** Set when the agent asked for progress: heartbeats while held, then the server's own progress. */
  progress?: Progress;
}

export interface PipelineDeps {
  policyFor(server: string): CompiledPolicy;
  upstream(server: string): Upstream;
  limiter: RateLimiter;
  /** The accepted tool definitions, for `on_tool_change`. */
  pins: ToolPins;
  approval: ApprovalDeps;
  audit: AuditRecorder;
  /** Audits the refusals an agent can repeat at will by sample (the first of each kind each minute in full). */
  refusals: SampledRefusals;
  /** `redact.keys`: what a policy reason may quote of the arguments. */
  redactor: Redactor;
  metrics: GatewayMetrics;
  /** Counts calls in flight; closed at shutdown, when new calls are refused and admitted ones finish. */
  gate: CallGate;
  logger: Logger;
}

/**
 * The life of one `tools/call`: the policy decides, a refusal is answered at
 * once, an admitted call is charged to its rate limits, a call that needs a
 * person waits for one, then it goes to the real server and its result comes
 * back unchanged. Each step is logged and audited: the policy's outcome
 * (with the arguments, redacted), how a held call ended, what the server
 * answered.
 */
export async function callTool(deps: PipelineDeps, call: ToolCall): Promise<CallToolResult> {
  const trace = startTrace();
  deps.gate.enter();
  try {
    const result = await runCall(deps, call, trace);
    trace.outcome ??= outcomeOf(result);
    return result;
  } catch (err) {
    trace.outcome ??= call.signal.aborted ? 'cancelled' : 'error';
    throw err;
  } finally {
    deps.gate.leave();
    const known = deps.upstream(call.server).tool(call.tool) !== undefined && trace.outcome !== 'unknown';
    deps.metrics.callEnded(call.server, known ? call.tool : UNKNOWN_TOOL, trace.outcome ?? 'error', trace);
  }
}

async function runCall(deps: PipelineDeps, call: ToolCall, trace: CallTrace): Promise<CallToolResult> {
  const requestId = randomUUID();
  const log = callLog(deps.logger, { request_id: requestId, server: call.server, tool: call.tool, grant: call.grant, session: call.session });
  const audit = callAudit(deps.audit, deps.refusals, { request_id: requestId, server: call.server, tool: call.tool, grant: call.grant ?? null, session: call.session ?? null, client: call.client ?? null });
  // Refusals cost the agent nothing: past the first of a kind each minute they are counted, not audited or logged one by one.
  const refused = (event: RefusalEvent, step: Parameters<typeof audit.refused>[1], fields: Record<string, unknown>, message: string) => {
    if (audit.refused(event, step)) log.info(fields, message);
    else log.debug({ ...fields, sampled: true }, message);
  };
  if (call.tool.length > MAX_TOOL_NAME_CHARS) {
    trace.outcome = 'unknown';
    refused('denied', { decision: 'unknown', rule: 'tool_name_length', reason: `the tool name is ${call.tool.length} characters long; no tool name is longer than ${MAX_TOOL_NAME_CHARS}` }, { decision: 'unknown', rule: 'tool_name_length' }, 'call refused: tool name too long');
    throw unknownTool(capText(call.calledAs, MAX_TOOL_NAME_CHARS));
  }
  const args = call.args ?? {};
  if (nestsDeeperThan(args, MAX_ARGUMENT_DEPTH)) {
    const reason = `The arguments nest more than ${MAX_ARGUMENT_DEPTH} levels deep; Airlock refuses such calls without reading them further`;
    refused('denied', { decision: 'deny', rule: 'arguments_depth', reason }, { decision: 'denied', rule: 'arguments_depth' }, 'arguments nested too deep');
    return refusal('POLICY DENIED', `${reason}. The call was not sent.`, { decision: 'denied', rule: 'arguments_depth', reason, request_id: requestId, server: call.server, tool: call.tool });
  }
  const upstream = deps.upstream(call.server);
  const tool = upstream.tool(call.tool);
  if (upstream.status === 'connected' && !tool) {
    trace.outcome = 'unknown';
    refused('denied', { decision: 'unknown', rule: 'unknown_tool', reason: `${call.server} has no tool ${call.tool}`, args }, { decision: 'unknown' }, 'call to a tool the server does not have');
    throw unknownTool(call.calledAs);
  }

  if (deps.gate.closed) {
    const reason = 'Airlock is shutting down and takes no new calls';
    log.info({ decision: 'unavailable' }, 'call refused: shutting down');
    audit.record('unavailable', { detail: reason, args });
    return refusal('UNAVAILABLE', `${reason}. The call was not sent; retry in a moment (another instance, or this one once restarted, will take it).`, { decision: 'unavailable', reason, request_id: requestId, server: call.server, tool: call.tool });
  }

  const change = tool && deps.pins.flagged(call.server, tool.name) ? await deps.pins.change(call.server, tool) : undefined;
  const risk = tool && riskOf(tool);
  let shown: Record<string, unknown> | undefined;
  const evaluated = evaluate(deps.policyFor(call.server), {
    tool: call.tool,
    args: call.args,
    grant: call.grant,
    changed: change !== undefined,
    ...(risk && { risk: risk.class }),
    // A reason quotes the arguments as they may be shown: redacted first, so no excerpt can hold part of a secret. Only a reason reads them.
    get quotable() {
      return (shown ??= deps.redactor.redact(args).value as Record<string, unknown>);
    },
  });
  // A reviewer (or the agent, on deny) is shown what changed.
  const decision = change && evaluated.rule === 'on_tool_change' ? { ...evaluated, reason: `${evaluated.reason}: ${change.summary}` } : evaluated;
  const meta = (extra: Partial<DecisionMeta> = {}): DecisionMeta => describe(decision, requestId, call, extra);
  if (decision.action === 'hide') {
    trace.outcome = 'hidden';
    refused('hidden', { decision: decision.action, rule: decision.rule, reason: decision.reason, args }, { decision: 'hidden', rule: decision.rule }, 'call to a hidden tool answered as unknown');
    throw unknownTool(call.calledAs);
  }
  if (decision.action === 'deny') {
    refused('denied', { decision: decision.action, rule: decision.rule, reason: decision.reason, args }, { decision: 'denied', rule: decision.rule }, 'call denied by policy');
    return refusal('POLICY DENIED', decision.reason, meta());
  }
  // Limits count every admitted call, before any approval: a call a reviewer later rejects stays counted.
  let charge: Charge;
  try {
    charge = await deps.limiter.charge(decision.limits, { grant: call.grant, session: call.session });
  } catch (err) {
    log.warn({ decision: 'unavailable', err: (err as Error).message }, 'rate limits cannot be checked: Redis is unavailable');
    audit.record('unavailable', { decision: decision.action, rule: decision.rule, detail: `rate limits could not be checked: ${(err as Error).message}`, args });
    return refusal('UNAVAILABLE', `Airlock cannot reach Redis to check this call's rate limits (${(err as Error).message}). The call was not sent; retry later.`, meta({ decision: 'unavailable' }));
  }
  if (!charge.admitted) {
    deps.metrics.rateLimited(call.server, charge.limit.counter);
    refused('rate_limited', { decision: decision.action, rule: charge.limit.rule, reason: rateLimitText(charge), args }, { decision: 'rate_limited', rule: charge.limit.rule, counter: charge.limit.counter, retry_after_ms: charge.retry_after_ms }, 'call refused by a rate limit');
    return refusal('RATE LIMITED', rateLimitText(charge), meta({ decision: 'rate_limited', rule: charge.limit.rule, ...limitMeta(charge) }));
  }

  let approved: Extract<HoldResult, { approved: true }> | undefined;
  if (decision.action === 'require_approval') {
    const held = await holdForApproval(deps.approval, { ...call, requestId, ...(risk && { risk: { class: risk.class, level: risk.level } }) }, decision, { log, audit, trace }, meta);
    if (!held.approved) return held.result;
    approved = held;
  } else {
    audit.record('allowed', { decision: decision.action, rule: decision.rule, reason: decision.reason, args });
  }
  const ran = approved ? audit.with({ approval_id: approved.request.id }) : audit;
  const rlog = approved ? log.with({ approval_id: approved.request.id }) : log;

  const started = performance.now();
  const took = () => {
    trace.upstreamMs = performance.now() - started;
    return round(trace.upstreamMs);
  };
  try {
    const result = await upstream.callTool(
      { name: call.tool, ...(call.args !== undefined && { arguments: call.args }), ...(call.meta && { _meta: call.meta }) },
      { signal: call.signal, ...(call.progress && { onprogress: call.progress.relay }) },
    );
    const ms = took();
    rlog.info({ decision: approved ? 'approved' : 'allowed', rule: decision.rule, upstream_ms: ms, is_error: result.isError === true }, 'call executed');
    ran.record('executed', { result: result.isError === true ? 'error' : 'ok', duration_ms: ms });
    if (!approved) return result;
    await approved.executed({ result: result.isError === true ? 'error' : 'ok', ms });
    const { status, request } = approved;
    const decisionMeta = meta({ decision: 'approved', approval_id: request.id, approved_by: status.decided_by ?? null, approved_at: status.decided_at === undefined ? null : new Date(status.decided_at).toISOString() });
    return { ...result, _meta: { ...result._meta, 'airlock/decision': decisionMeta } };
  } catch (err) {
    const ms = took();
    await approved?.executed({ result: 'unavailable', ms, detail: (err as Error).message });
    // The agent withdrew the call (notifications/cancelled, or its session closed): the SDK has told the server and answers nobody.
    if (call.signal.aborted) {
      const cutOff = deps.gate.closed;
      const reason = cutOff ? 'Airlock shut down while the server ran the call (listen.shutdown_timeout)' : 'the agent cancelled the call while the server ran it';
      rlog.info({ decision: 'cancelled', rule: decision.rule, upstream_ms: ms }, cutOff ? 'call cut off by the shutdown' : 'call cancelled by the client');
      ran.record('withdrawn', { reason, duration_ms: ms });
      throw err;
    }
    ran.record('unavailable', { duration_ms: ms, detail: (err as Error).message });
    deps.metrics.upstreamFault(call.server, 'call');
    if (!(err instanceof UpstreamUnavailableError)) throw err;
    rlog.warn({ decision: 'unavailable', err: err.message }, 'upstream unavailable');
    const outcome = err.sent ? 'The server may or may not have run it: check before retrying.' : 'The call was not sent; retry later.';
    return refusal('UNAVAILABLE', `${err.message}. ${outcome}`, meta({ decision: 'unavailable', ...(approved && { approval_id: approved.request.id }) }));
  }
}

/** Refusals carry their decision in `_meta`; a result without one is the upstream's own, released as allowed. */
function outcomeOf(result: CallToolResult): CallOutcome {
  const meta = result._meta?.['airlock/decision'] as { decision?: string } | undefined;
  switch (meta?.decision) {
    case undefined:
      return 'allowed';
    case 'deny':
    case 'denied':
    case 'tampered':
      return 'denied';
    case 'approved':
    case 'rate_limited':
    case 'rejected':
    case 'expired':
    case 'withdrawn':
    case 'unavailable':
      return meta.decision;
    default:
      return 'error';
  }
}

/** Tool definitions are replaced, not changed, when a server's list changes, so a class computed once per definition stays true. */
const riskClasses = new WeakMap<Tool, Classification>();
function riskOf(tool: Tool): Classification {
  let risk = riskClasses.get(tool);
  if (risk === undefined) {
    risk = classifyTool(tool);
    riskClasses.set(tool, risk);
  }
  return risk;
}

function describe(decision: Decision, requestId: string, call: ToolCall, extra: Partial<DecisionMeta>): DecisionMeta {
  return { decision: decision.action, rule: decision.rule, reason: decision.reason, request_id: requestId, server: call.server, tool: call.tool, ...extra };
}

function rateLimitText(charge: Extract<Charge, { admitted: false }>): string {
  const { counter, scope, max, window_ms } = charge.limit;
  if (charge.retry_after_ms === undefined) return `${counter} (scope ${scope}) has max 0: the policy refuses every call it counts.`;
  return `${counter} (scope ${scope}) allows ${max} calls per ${describePer(window_ms)}; retry in ${Math.max(1, Math.ceil(charge.retry_after_ms / 1000))} s.`;
}

function limitMeta(charge: Extract<Charge, { admitted: false }>): Record<string, unknown> {
  const { counter, scope, max, window } = charge.limit;
  return { counter, scope, max, window, retry_after_ms: charge.retry_after_ms ?? null };
}

/** MCP asks servers for tool names of 1 to 128 characters; twice that is room enough, and a longer name is refused before anything reads it. */
export const MAX_TOOL_NAME_CHARS = 256;

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
