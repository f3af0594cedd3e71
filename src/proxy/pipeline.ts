import { randomUUID } from 'node:crypto';
import type { CallToolResult, Tool } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import type { AuditRecorder } from '../audit/index.js';
import type { Charge, RateLimiter } from '../limits/index.js';
import { classifyTool, type Classification, type ToolPins } from '../inventory/index.js';
import { UNKNOWN_TOOL, startTrace, type CallTrace, type GatewayMetrics } from '../metrics/index.js';
import { evaluate, type CompiledPolicy } from '../policy/index.js';
import type { Redactor } from '../redact.js';
import { MAX_ARGUMENT_DEPTH, nestsDeeperThan } from './argument-depth.js';
import { callAudit } from './call-audit.js';
import type { CallGate } from './call-gate.js';
import { endCall, MAX_TOOL_NAME_CHARS, type CallEnd, type EndContext } from './call-ends.js';
import { callLog } from './call-log.js';
import { holdForApproval, type ApprovalDeps } from './hold.js';
import type { Progress } from './progress.js';
import type { Asker } from './questions.js';
import type { SampledRefusals } from './sampled-refusals.js';
import type { Upstream } from './upstream.js';
import { errorMessage } from '../errors.js';

export interface AgentCall {
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
  /** The protocol version the client spoke: its session's (2025), or the one its request names (2026). */
  protocol: string | undefined;
  signal: AbortSignal;
  /** Set when the agent asked for progress: heartbeats while held, then the server's own progress. */
  progress?: Progress;
  /**
   * Closes the agent's stream for this call (a 2025 session's, which the
   * agent resumes with `Last-Event-ID`): run when the server closes its own
   * before the result, so the agent sees the polling the server asked for.
   */
  closeStream?: () => void;
  /**
   * How this call's agent is asked what its server asks mid-call (sampling,
   * elicitation, roots): a 2025 session's request on the call's stream. None
   * for a 2026 client, whose questions travel in an `input_required` result.
   */
  asker?: Asker;
}

/** What the pipeline needs of the gateway: the few methods it calls, so a test can pass plain objects. */
export interface PipelineDeps {
  policyFor(server: string): CompiledPolicy;
  upstream(server: string): Pick<Upstream, 'status' | 'tool' | 'callTool'>;
  limiter: Pick<RateLimiter, 'charge'>;
  /** The accepted tool definitions, for `on_tool_change`. */
  pins: Pick<ToolPins, 'flagged' | 'change'>;
  approval: ApprovalDeps;
  audit: AuditRecorder;
  /** Audits the refusals an agent can repeat at will by sample (the first of each kind each minute in full). */
  refusals: Pick<SampledRefusals, 'record'>;
  /** `redact.keys`: what a policy reason may quote of the arguments. */
  redactor: Pick<Redactor, 'redact'>;
  metrics: EndContext['metrics'] & Pick<GatewayMetrics, 'callEnded'>;
  /** Counts calls in flight; closed at shutdown, when new calls are refused and admitted ones finish. */
  gate: Pick<CallGate, 'closed' | 'enter' | 'leave'>;
  logger: Logger;
}

/**
 * The life of one `tools/call`: the policy decides, a refusal is answered at
 * once, an admitted call is charged to its rate limits, a call that needs a
 * person waits for one, then it goes to the real server and its result comes
 * back unchanged. How each way of ending is logged, audited, counted and
 * answered is call-ends.ts's table.
 */
export async function callTool(deps: PipelineDeps, call: AgentCall): Promise<CallToolResult> {
  const trace = startTrace();
  deps.gate.enter();
  try {
    return await runCall(deps, call, trace);
  } catch (err) {
    trace.outcome ??= call.signal.aborted ? 'cancelled' : 'error';
    throw err;
  } finally {
    deps.gate.leave();
    const known = deps.upstream(call.server).tool(call.tool) !== undefined && trace.outcome !== 'unknown';
    deps.metrics.callEnded(call.server, known ? call.tool : UNKNOWN_TOOL, trace.outcome ?? 'error', trace);
  }
}

async function runCall(deps: PipelineDeps, call: AgentCall, trace: CallTrace): Promise<CallToolResult> {
  const requestId = randomUUID();
  const args = call.args ?? {};
  const log = callLog(deps.logger, {
    request_id: requestId,
    server: call.server,
    tool: call.tool,
    grant: call.grant,
    session: call.session,
  });
  const audit = callAudit(deps.audit, deps.refusals, {
    request_id: requestId,
    server: call.server,
    tool: call.tool,
    grant: call.grant ?? null,
    session: call.session ?? null,
    client: call.client ?? null,
    protocol: call.protocol ?? null,
  });
  const ctx: EndContext = {
    requestId,
    server: call.server,
    tool: call.tool,
    calledAs: call.calledAs,
    args,
    log,
    audit,
    trace,
    metrics: deps.metrics,
  };
  const end = (ending: CallEnd) => endCall(ctx, ending);

  if (call.tool.length > MAX_TOOL_NAME_CHARS) return end({ kind: 'name_too_long' });
  if (nestsDeeperThan(args, MAX_ARGUMENT_DEPTH)) return end({ kind: 'nested_too_deep', depth: MAX_ARGUMENT_DEPTH });
  const upstream = deps.upstream(call.server);
  const tool = upstream.tool(call.tool);
  if (upstream.status === 'connected' && !tool) return end({ kind: 'unknown_tool' });
  if (deps.gate.closed) return end({ kind: 'shutting_down' });

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
  const decision =
    change && evaluated.rule === 'on_tool_change' ? { ...evaluated, reason: `${evaluated.reason}: ${change.summary}` } : evaluated;
  if (decision.action === 'hide') return end({ kind: 'hidden', decision });
  if (decision.action === 'deny') return end({ kind: 'denied', decision });
  // Limits count every admitted call, before any approval: a call a reviewer later rejects stays counted.
  let charge: Charge;
  try {
    charge = await deps.limiter.charge(decision.limits, { grant: call.grant, session: call.session });
  } catch (err) {
    return end({ kind: 'limits_unavailable', decision, error: errorMessage(err) });
  }
  if (!charge.admitted) return end({ kind: 'rate_limited', decision, charge });

  let released;
  if (decision.action === 'require_approval') {
    const held = await holdForApproval(
      deps.approval,
      { ...call, requestId, ...(risk && { risk: { class: risk.class, level: risk.level } }) },
      decision,
      { log, audit, trace, end },
    );
    if (!held.approved) return held.result;
    released = held;
  } else {
    audit.record('allowed', { decision: decision.action, rule: decision.rule, reason: decision.reason, args });
  }

  const started = performance.now();
  const took = () => {
    trace.upstreamMs = performance.now() - started;
    return round(trace.upstreamMs);
  };
  try {
    const result = await upstream.callTool(
      { name: call.tool, ...(call.args !== undefined && { arguments: call.args }), ...(call.meta && { _meta: call.meta }) },
      {
        signal: call.signal,
        ...(call.progress && { onprogress: call.progress.relay }),
        ...(call.closeStream && { onStreamClosed: call.closeStream }),
        ...(call.asker && { asker: { ...call.asker, context: { ...call.asker.context, request_id: requestId, tool: call.tool } } }),
      },
    );
    const ms = took();
    const answer = end({ kind: 'executed', decision, result, ms, ...(released && { released }) });
    await released?.executed({ result: result.isError === true ? 'error' : 'ok', ms });
    return answer;
  } catch (err) {
    const ms = took();
    await released?.executed({ result: 'unavailable', ms, detail: errorMessage(err) });
    // The agent withdrew the call (notifications/cancelled, or its session closed).
    if (call.signal.aborted)
      return end({ kind: 'cancelled', decision, ms, cutOff: deps.gate.closed, error: err, ...(released && { released }) });
    return end({ kind: 'upstream_failed', decision, ms, error: err, ...(released && { released }) });
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

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
