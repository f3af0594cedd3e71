import { randomUUID } from 'node:crypto';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import type { AuditRecorder } from '../audit/index.js';
import { describePer } from '../config/index.js';
import type { Charge, RateLimiter } from '../limits/index.js';
import { classifyTool, type Classification, type ToolPins } from '../inventory/index.js';
import { evaluate, type CompiledPolicy, type Decision } from '../policy/index.js';
import { callAudit } from './call-audit.js';
import { callLog } from './call-log.js';
import { UpstreamUnavailableError } from './errors.js';
import { holdForApproval, type ApprovalDeps, type HoldResult } from './hold.js';
import type { Progress } from './progress.js';
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
  const requestId = randomUUID();
  const log = callLog(deps.logger, { request_id: requestId, server: call.server, tool: call.tool, grant: call.grant, session: call.session });
  const audit = callAudit(deps.audit, { request_id: requestId, server: call.server, tool: call.tool, grant: call.grant ?? null, session: call.session ?? null, client: call.client ?? null });
  const args = call.args ?? {};
  const upstream = deps.upstream(call.server);
  const tool = upstream.tool(call.tool);
  if (upstream.status === 'connected' && !tool) {
    log.info({ decision: 'unknown' }, 'call to a tool the server does not have');
    audit.record('denied', { decision: 'unknown', rule: 'unknown_tool', reason: `${call.server} has no tool ${call.tool}`, args });
    throw unknownTool(call.calledAs);
  }

  const change = tool && deps.pins.flagged(call.server, tool.name) ? await deps.pins.change(call.server, tool) : undefined;
  const risk = tool && riskOf(tool);
  const evaluated = evaluate(deps.policyFor(call.server), { tool: call.tool, args: call.args, grant: call.grant, changed: change !== undefined, ...(risk && { risk: risk.class }) });
  // A reviewer (or the agent, on deny) is shown what changed.
  const decision = change && evaluated.rule === 'on_tool_change' ? { ...evaluated, reason: `${evaluated.reason}: ${change.summary}` } : evaluated;
  const meta = (extra: Partial<DecisionMeta> = {}): DecisionMeta => describe(decision, requestId, call, extra);
  if (decision.action === 'hide') {
    log.info({ decision: 'hidden', rule: decision.rule }, 'call to a hidden tool answered as unknown');
    audit.record('hidden', { decision: decision.action, rule: decision.rule, reason: decision.reason, args });
    throw unknownTool(call.calledAs);
  }
  if (decision.action === 'deny') {
    log.info({ decision: 'denied', rule: decision.rule }, 'call denied by policy');
    audit.record('denied', { decision: decision.action, rule: decision.rule, reason: decision.reason, args });
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
    log.info({ decision: 'rate_limited', rule: charge.limit.rule, counter: charge.limit.counter, retry_after_ms: charge.retry_after_ms }, 'call refused by a rate limit');
    audit.record('rate_limited', { decision: decision.action, rule: charge.limit.rule, reason: rateLimitText(charge), args });
    return refusal('RATE LIMITED', rateLimitText(charge), meta({ decision: 'rate_limited', rule: charge.limit.rule, ...limitMeta(charge) }));
  }

  let approved: Extract<HoldResult, { approved: true }> | undefined;
  if (decision.action === 'require_approval') {
    const held = await holdForApproval(deps.approval, { ...call, ...(risk && { risk: { class: risk.class, level: risk.level } }) }, decision, { log, audit }, meta);
    if (!held.approved) return held.result;
    approved = held;
  } else {
    audit.record('allowed', { decision: decision.action, rule: decision.rule, reason: decision.reason, args });
  }
  const ran = approved ? audit.with({ approval_id: approved.request.id }) : audit;

  const started = performance.now();
  const elapsed = () => round(performance.now() - started);
  try {
    const result = await upstream.callTool(
      { name: call.tool, ...(call.args !== undefined && { arguments: call.args }), ...(call.meta && { _meta: call.meta }) },
      { signal: call.signal, ...(call.progress && { onprogress: call.progress.relay }) },
    );
    log.info({ decision: approved ? 'approved' : 'allowed', rule: decision.rule, upstream_ms: elapsed(), is_error: result.isError === true }, 'call executed');
    ran.record('executed', { result: result.isError === true ? 'error' : 'ok', duration_ms: elapsed() });
    if (!approved) return result;
    await approved.executed({ result: result.isError === true ? 'error' : 'ok', ms: elapsed() });
    const { status, request } = approved;
    const decisionMeta = meta({ decision: 'approved', approval_id: request.id, approved_by: status.decided_by ?? null, approved_at: status.decided_at === undefined ? null : new Date(status.decided_at).toISOString() });
    return { ...result, _meta: { ...result._meta, 'airlock/decision': decisionMeta } };
  } catch (err) {
    await approved?.executed({ result: 'unavailable', ms: elapsed(), detail: (err as Error).message });
    // The agent withdrew the call (notifications/cancelled, or its session closed): the SDK has told the server and answers nobody.
    if (call.signal.aborted) {
      log.info({ decision: 'cancelled', rule: decision.rule, upstream_ms: elapsed() }, 'call cancelled by the client');
      ran.record('withdrawn', { reason: 'the agent cancelled the call while the server ran it', duration_ms: elapsed() });
      throw err;
    }
    ran.record('unavailable', { duration_ms: elapsed(), detail: (err as Error).message });
    if (!(err instanceof UpstreamUnavailableError)) throw err;
    log.warn({ decision: 'unavailable', err: err.message }, 'upstream unavailable');
    const outcome = err.sent ? 'The server may or may not have run it: check before retrying.' : 'The call was not sent; retry later.';
    return refusal('UNAVAILABLE', `${err.message}. ${outcome}`, meta({ decision: 'unavailable', ...(approved && { approval_id: approved.request.id }) }));
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

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
