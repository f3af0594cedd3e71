import { randomUUID } from 'node:crypto';
import {
  CLIENT_CAPABILITIES_META_KEY,
  isInputRequiredResult,
  type CallToolResult,
  type InputRequiredResult,
  type Tool,
} from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import type { AuditRecorder } from '../audit/index.js';
import type { Charge, RateLimiter } from '../limits/index.js';
import { classifyTool, type Classification, type ToolPins } from '../inventory/index.js';
import { UNKNOWN_TOOL, startTrace, type CallTrace, type GatewayMetrics } from '../metrics/index.js';
import { evaluate, type CompiledPolicy, type Decision } from '../policy/index.js';
import type { Redactor } from '../redact.js';
import { MAX_ARGUMENT_DEPTH, nestsDeeperThan } from './argument-depth.js';
import { callAudit, type CallAudit } from './call-audit.js';
import type { CallGate } from './call-gate.js';
import { endCall, MAX_TOOL_NAME_CHARS, type CallEnd, type CreateTaskResult, type EndContext } from './call-ends.js';
import { callLog } from './call-log.js';
import { holdForApproval, type ApprovalDeps, type HoldResult } from './hold.js';
import { answersPending, holdPending, type PendingMode } from './pending.js';
import {
  answerRounds,
  askedSummary,
  claimOnce,
  MAX_INPUT_ROUNDS,
  missingCapabilityError,
  passedOn,
  questionsOf,
  resume,
  retryParams,
  roundsExceeded,
  unaskable,
  type InputDeps,
} from './input-rounds.js';
import type { Round } from './parked-calls.js';
import { answerOf, QUESTION_KINDS, relayedCapabilities, type Asker, type Question } from './questions.js';
import type { SealedCall } from './request-state.js';
import type { AgentCall, AnyCallResult } from './agent-call.js';
import { adoptUpstreamTask, holdAsTask, isTaskResult, runAsTask, taskClient } from './task-open.js';
import { TASKS_EXTENSION, type Tasks } from '../tasks/index.js';
import { CallToolResultSchema } from '@modelcontextprotocol/core';
import { forwardedResult } from './forwarded-result.js';
import type { SampledRefusals } from './sampled-refusals.js';
import type { Upstream } from './upstream.js';
import { errorMessage } from '../errors.js';

/** What the pipeline needs of the gateway: the few methods it calls, so a test can pass plain objects. */
export interface PipelineDeps {
  policyFor(server: string): CompiledPolicy;
  upstream(
    server: string,
  ): Pick<Upstream, 'status' | 'tool' | 'callTool' | 'rawRequest' | 'stateless' | 'capabilities' | 'calls' | 'release'>;
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
  /** Sealing and checking a 2026 client's requestState, and each server's `relay`. */
  inputs: InputDeps;
  /** Approval pending mode (`approvals.pending`, a grant's `approval_pending`, a rule's `approval.pending`). */
  pending?: PendingMode;
  /** MCP tasks (the tasks extension): absent where they are not served (`airlock stdio`). */
  tasks?: Tasks;
  logger: Logger;
}

/**
 * The life of one `tools/call`: the policy decides, a refusal is answered at
 * once, an admitted call is charged to its rate limits, a call that needs a
 * person waits for one, then it goes to the real server and its result comes
 * back unchanged. How each way of ending is logged, audited, counted and
 * answered is call-ends.ts's table.
 */
export async function callTool(deps: PipelineDeps, call: AgentCall): Promise<AnyCallResult> {
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

async function runCall(deps: PipelineDeps, call: AgentCall, trace: CallTrace): Promise<AnyCallResult> {
  const args = call.args ?? {};
  // A 2026 client's retry names, in Airlock's sealed state, the call it continues: that call's request id, admission and questions.
  const state = call.input?.state;
  const resumed = state === undefined ? undefined : resume(deps.inputs, state, { ...bound(call), args });
  const requestId = resumed?.ok ? resumed.call.request_id : randomUUID();
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
    ...(resumed?.ok && resumed.call.approval_id !== undefined && { approval_id: resumed.call.approval_id }),
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
  const end = (ending: Exclude<CallEnd, { kind: 'input_required' | 'task_created' }>) => endCall(ctx, ending);

  if (resumed?.ok === false) return end({ kind: 'state_refused', reason: resumed.reason });
  const used = resumed && (await claimOnce(deps.inputs, resumed.call));
  if (used) return end({ kind: 'state_refused', reason: used });
  if (call.tool.length > MAX_TOOL_NAME_CHARS) return end({ kind: 'name_too_long' });
  if (nestsDeeperThan(args, MAX_ARGUMENT_DEPTH)) return end({ kind: 'nested_too_deep', depth: MAX_ARGUMENT_DEPTH });
  const upstream = deps.upstream(call.server);
  const tool = upstream.tool(call.tool);
  if (upstream.status === 'connected' && !tool) return end({ kind: 'unknown_tool' });
  if (deps.gate.closed) return end({ kind: 'shutting_down' });

  // A continued call was admitted in its first round: it is not evaluated, charged or held again.
  const admitted = resumed ? continued(resumed.call, call, audit) : await admit(deps, call, tool, ctx);
  if ('result' in admitted) return admitted.result;
  return execute(deps, call, ctx, admitted, resumed?.ok ? resumed.call : undefined);
}

/**
 * Sends an admitted call to its server and ends it with what came back: the
 * result, a round of the server's questions for a 2026 client, a task of the
 * server's own, or how it failed. `released`: the approval it runs under;
 * `retry`: the sealed state of the call a 2026 client's retry continues.
 */
export async function execute(
  deps: PipelineDeps,
  call: AgentCall,
  ctx: EndContext,
  { decision, released }: Extract<Admitted, { decision: Decision }>,
  retry: SealedCall | undefined,
): Promise<AnyCallResult> {
  const { requestId, trace } = ctx;
  const end = (ending: Exclude<CallEnd, { kind: 'input_required' | 'task_created' }>) => endCall(ctx, ending);
  const upstream = deps.upstream(call.server);
  const started = performance.now();
  const took = () => {
    trace.upstreamMs = performance.now() - started;
    return round(trace.upstreamMs);
  };
  try {
    // A 2026 client's call to a 2025 server is parked when the server asks mid-call (see parkedRound); any other is sent as it is.
    const { answer, parked } =
      call.input !== undefined && !upstream.stateless && (retry?.parked || canBeAsked(deps, call))
        ? await parkedRound(deps, call, upstream, { requestId, retry })
        : { answer: await sendCall(deps, call, upstream, { requestId, retry }), parked: undefined };
    const ms = took();
    if (isTaskResult(answer)) {
      await released?.executed({ result: 'ok', ms, detail: `the server answered with a task of its own (${answer.taskId})` });
      return await adoptUpstreamTask(deps, call, ctx, decision, answer, ms);
    }
    const executed = { result: 'isError' in answer && answer.isError === true ? ('error' as const) : ('ok' as const), ms };
    if (!isInputRequiredResult(answer)) {
      // Ended (logged, audited) first: the approval's record of the run, and what its channel says of it, follow the call's own line.
      const done = end({ kind: 'executed', decision, result: answer, ms, ...(released && { released }) });
      await released?.executed(executed);
      return done;
    }
    await released?.executed(executed);
    const sealed = {
      ...bound(call),
      grant: call.grant ?? null,
      digest: deps.inputs.digest(call.args ?? {}),
      request_id: requestId,
      decision: { action: decision.action, rule: decision.rule },
      ...(released && { approval_id: released.held.id }),
      ...(retry?.approval_id !== undefined && { approval_id: retry.approval_id }),
      round: (retry?.round ?? 0) + 1,
      ...(parked && { parked }),
    };
    try {
      if (sealed.round > MAX_INPUT_ROUNDS) throw roundsExceeded(call.server);
      const questions = questionsFor(deps, call, ctx.audit, answer);
      const result = passedOn(deps.inputs, answer, sealed, questions);
      return endCall(ctx, { kind: 'input_required', decision, result, asked: askedSummary(questions), round: sealed.round, ms });
    } catch (err) {
      // A round that cannot be handed to the client leaves its parked call waiting for nothing.
      if (parked) deps.inputs.parked.abandon(parked, errorMessage(err));
      throw err;
    }
  } catch (err) {
    const ms = took();
    await released?.executed({ result: 'unavailable', ms, detail: errorMessage(err) });
    // The agent withdrew the call (notifications/cancelled, or its session closed).
    if (call.signal.aborted)
      return end({ kind: 'cancelled', decision, ms, cutOff: deps.gate.closed, error: err, ...(released && { released }) });
    return end({ kind: 'upstream_failed', decision, ms, error: err, ...(released && { released }) });
  }
}

type Admitted = { decision: Decision; released?: Extract<HoldResult, { approved: true }> } | { result: CallToolResult | CreateTaskResult };

/** The policy decides, an admitted call is charged to its rate limits, and a call that needs a person waits for one. */
async function admit(deps: PipelineDeps, call: AgentCall, tool: Tool | undefined, ctx: EndContext): Promise<Admitted> {
  const { log, audit, trace, requestId } = ctx;
  const end = (ending: Exclude<CallEnd, { kind: 'input_required' | 'task_created' }>) => endCall(ctx, ending);
  const args = call.args ?? {};
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
  if (decision.action === 'hide') return { result: end({ kind: 'hidden', decision }) };
  if (decision.action === 'deny') return { result: end({ kind: 'denied', decision }) };
  const risky = { ...call, requestId, ...(risk && { risk: { class: risk.class, level: risk.level } }) };
  // Charged once, by the call that opens the request: its repeats are not charged again.
  if (!taskClient(deps, call) && answersPending(deps.pending, call, decision)) {
    const pending = await holdPending({ approval: deps.approval, limiter: deps.limiter, pending: deps.pending }, risky, decision, ctx);
    return 'result' in pending ? pending : { decision, released: pending.released };
  }
  // Limits count every admitted call, before any approval: a call a reviewer later rejects stays counted.
  let charge: Charge;
  try {
    charge = await deps.limiter.charge(decision.limits, { grant: call.grant, session: call.session });
  } catch (err) {
    return { result: end({ kind: 'limits_unavailable', decision, error: errorMessage(err) }) };
  }
  if (!charge.admitted) return { result: end({ kind: 'rate_limited', decision, charge }) };
  if (decision.action !== 'require_approval') {
    audit.record('allowed', { decision: decision.action, rule: decision.rule, reason: decision.reason, args });
    // A slow server's calls run as tasks for a client that can poll one; if the task cannot be queued, the call runs here.
    const queued = taskClient(deps, call) && deps.upstream(call.server).calls.slow ? await runAsTask(deps, call, decision, ctx) : undefined;
    return queued ? { result: queued } : { decision };
  }
  if (taskClient(deps, call)) return { result: await holdAsTask(deps, risky, decision, ctx) };
  const held = await holdForApproval(deps.approval, risky, decision, { log, audit, trace, end });
  return held.approved ? { decision, released: held } : { result: held.result };
}

/**
 * A retry's admission is its first round's, as its state recorded it; the
 * client's answers to that round's questions are audited (how, never what).
 */
function continued(sealed: SealedCall, call: AgentCall, audit: CallAudit): Admitted {
  const given = call.input?.responses ?? {};
  // A parked call's answers are audited where it runs, as each reaches its server (see relayQuestion).
  for (const [key, method] of sealed.parked ? [] : sealed.asked) {
    const response = given[key];
    audit.record('question_relayed', {
      method,
      ...(isObject(response)
        ? { answer: answerOf(QUESTION_KINDS[method] ?? 'sampling', response) }
        : { answer: 'error', detail: 'the client retried without an answer to it' }),
    });
  }
  const decision: Decision = {
    action: sealed.decision.action as Decision['action'],
    rule: sealed.decision.rule,
    reason: `continues round ${sealed.round}`,
    limits: [],
  };
  return { decision };
}

/**
 * Sends the call to its server and follows the server's questions as the
 * agent's generation allows: a 2025 session's agent is asked each one (see
 * answerRounds) until the server has what it needs; a 2026 client gets the
 * round back to answer itself. A retry carries the client's answers and the
 * server's own state.
 */
async function sendCall(
  deps: PipelineDeps,
  call: AgentCall,
  upstream: ReturnType<PipelineDeps['upstream']>,
  { requestId, retry }: { requestId: string; retry: SealedCall | undefined },
): Promise<AnyCallResult> {
  const relay = deps.inputs.relay(call.server);
  const asker = call.asker && { ...call.asker, context: { ...call.asker.context, request_id: requestId, tool: call.tool } };
  // A 2026 server reads what its client can answer from each request: the agent's capabilities, less what the operator turned off.
  const told = relayedCapabilities(relay, call.input?.capabilities ?? asker?.capabilities());
  const meta = upstream.stateless ? { ...call.meta, [CLIENT_CAPABILITIES_META_KEY]: told } : call.meta;
  const params = {
    name: call.tool,
    ...(call.args !== undefined && { arguments: call.args }),
    ...(meta && { _meta: meta }),
    // A first call's answers sent ahead go as sent (the server treats them as the client's, as it would directly); a retry's, only those its round asked for.
    ...(retry ? retryParams(retry, call.input?.responses) : call.input?.responses && { inputResponses: call.input.responses }),
  };
  const options = {
    signal: call.signal,
    ...(call.progress && { onprogress: call.progress.relay }),
    ...(call.closeStream && { onStreamClosed: call.closeStream }),
    ...(asker && { asker }),
  };
  // A task client's call to a 2026 server that serves tasks may be answered with the server's own task.
  if (upstream.stateless && call.input !== undefined && passesTasksOn(deps, call, upstream))
    return rawCallResult(
      await upstream.rawRequest('tools/call', params, {
        signal: call.signal,
        capabilities: { ...told, extensions: { [TASKS_EXTENSION]: {} } },
      }),
    );
  // Only a 2026 server answers with questions, and only an agent that can be asked is given them: every other call goes as before.
  if (!upstream.stateless || (asker === undefined && call.input === undefined)) return upstream.callTool(params, options);
  const first = await upstream.callTool(params, { ...options, allowInputRequired: true });
  if (asker === undefined || !isInputRequiredResult(first)) return first;
  return answerRounds(
    { server: call.server, relay, audit: deps.audit, logger: deps.logger },
    asker,
    told,
    first,
    (answers) => upstream.callTool({ ...params, ...answers }, { ...options, allowInputRequired: true }),
    call.signal,
  );
}

/** Whether the server is told the client takes tasks: it serves them, and so does Airlock for this client. */
function passesTasksOn(deps: PipelineDeps, call: AgentCall, upstream: ReturnType<PipelineDeps['upstream']>): boolean {
  const extensions = (upstream.capabilities as { extensions?: Record<string, unknown> } | undefined)?.extensions;
  return extensions?.[TASKS_EXTENSION] !== undefined && taskClient(deps, call);
}

/** A result read as the server sent it (see Upstream.rawRequest): a task, a round of questions, or a tool result without what belongs to the hop. */
function rawCallResult(raw: Record<string, unknown>): AnyCallResult {
  if (isTaskResult(raw)) return raw;
  if (isInputRequiredResult(raw)) return raw;
  return forwardedResult(CallToolResultSchema.parse(raw));
}

/** Whether a 2026 client declared something its server may ask of it (less what `relay` turns off). */
function canBeAsked(deps: PipelineDeps, call: AgentCall): boolean {
  return Object.keys(relayedCapabilities(deps.inputs.relay(call.server), call.input?.capabilities)).length > 0;
}

/**
 * A 2026 client's call to a 2025 server, which asks its questions as
 * requests mid-call: the call is parked (see ParkedCall) and goes on running
 * on this instance while the client is given each round to answer; a retry
 * hands over its answers, here or on the instance the state names, and gets
 * the next round or the result. The agent is asked over a 2025 session of
 * the call's own where the server takes one (see Upstream), else over the
 * shared connection while it is the only call there.
 */
async function parkedRound(
  deps: PipelineDeps,
  call: AgentCall,
  upstream: ReturnType<PipelineDeps['upstream']>,
  { requestId, retry }: { requestId: string; retry: SealedCall | undefined },
): Promise<{ answer: AnyCallResult; parked: { instance: string; id: string } | undefined }> {
  const { parked: relay } = deps.inputs;
  let at = retry?.parked;
  let round: Round;
  if (at) {
    round = await relay.next(at.instance, at.id, call.input?.responses, call.signal);
  } else {
    const parked = relay.open();
    const asker: Asker = {
      capabilities: () => call.input?.capabilities,
      context: {
        request_id: requestId,
        tool: call.tool,
        grant: call.grant,
        session: call.session,
        client: call.client,
        protocol: call.protocol,
      },
      ask: (question) => parked.ask(question),
    };
    // Its own key for a session of its own upstream, ended with the call.
    asker.session = asker;
    const params = { name: call.tool, ...(call.args !== undefined && { arguments: call.args }), ...(call.meta && { _meta: call.meta }) };
    // The server's progress reaches the first request while it is open; later rounds are answered whole.
    const options = { signal: parked.signal, asker, ...(call.progress && { onprogress: call.progress.relay }) };
    parked.run(upstream.callTool(params, options).finally(() => upstream.release(asker)));
    at = { instance: relay.instance, id: parked.id };
    round = await parked.next(undefined, call.signal);
  }
  if ('result' in round) return { answer: round.result, parked: undefined };
  return { answer: { resultType: 'input_required', inputRequests: round.questions as InputRequiredResult['inputRequests'] }, parked: at };
}

/** The questions of a round for a 2026 client, refused (and audited) when the client may not be asked one of them. */
function questionsFor(deps: PipelineDeps, call: AgentCall, audit: CallAudit, result: InputRequiredResult): [string, Question][] {
  const questions = questionsOf(call.server, result);
  const refused = unaskable(call.server, deps.inputs.relay(call.server), call.input?.capabilities, questions);
  if (refused.length === 0) return questions;
  for (const { method, reason } of refused) audit.record('question_refused', { method, reason });
  throw missingCapabilityError(refused);
}

/** What a 2026 request's state binds it to. */
function bound(call: AgentCall) {
  return { grant: call.grant, endpoint: call.input?.endpoint ?? '', server: call.server, method: 'tools/call' as const, target: call.tool };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
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
