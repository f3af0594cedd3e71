import type { Tasks, TaskFacts, TaskRecord, TaskStatus } from '../tasks/index.js';
import { newTaskId, offersTasks, TASK_STATUSES, TERMINAL } from '../tasks/index.js';
import { ProtocolError } from './errors.js';
import { errorMessage } from '../errors.js';
import type { Decision } from '../policy/index.js';
import type { AgentCall } from './agent-call.js';
import { ProtocolErrorCode, type CallToolResult } from '@modelcontextprotocol/server';
import { endCall, type CallEnd, type CreateTaskResult, type EndContext } from './call-ends.js';
import { newApprovalId } from '../approvals/index.js';
import { openApproval, waitingMessage, type ApprovalDeps, type HeldCall } from './hold.js';

/** Bounds on what a server's own task may set of the task Airlock keeps for it. */
const MAX_UPSTREAM_TTL_MS = 30 * 86_400_000;
const MIN_POLL_MS = 100;
const MAX_POLL_MS = 3_600_000;

/** What opening a task takes of the gateway. */
export interface TaskOpenDeps {
  approval: ApprovalDeps;
  tasks?: Tasks;
  /** The server's call budget and whether it is marked slow. */
  upstream(server: string): { calls: { timeoutMs: number; slow: boolean } };
}

/** Whether this call may be answered with a task: a 2026 client that declared the extension on the request, tasks on. */
export function taskClient(deps: TaskOpenDeps, call: AgentCall): deps is TaskOpenDeps & { tasks: Tasks } {
  return deps.tasks !== undefined && deps.tasks.config.enabled && call.input !== undefined && offersTasks(call.input.capabilities);
}

/**
 * A held call of a task client, answered with a task: the task is stored
 * first, then its approval request is opened (the task its holder) and
 * posted, and only then is the client told the task's id, so a tasks/get on
 * any instance finds it. The decision reaches the task's run on whichever
 * instance ends the request (see task-run.ts); nothing waits for it here.
 */
export async function holdAsTask(
  deps: TaskOpenDeps & { tasks: Tasks },
  call: AgentCall & { requestId: string; risk?: HeldCall['risk'] },
  decision: Decision,
  ctx: EndContext,
): Promise<CreateTaskResult | CallToolResult> {
  const { tasks } = deps;
  const id = newTaskId();
  // Known to the task before its request exists: a decision however quick finds the task waiting for it.
  const approvalId = newApprovalId();
  const timeoutMs = decision.approval?.timeout_ms ?? deps.approval.defaultTimeoutMs;
  // Decided at the last moment, it still runs and its result stays readable for the retention.
  const ttlMs = timeoutMs + deps.upstream(call.server).calls.timeoutMs + tasks.config.retentionMs;
  const withTask: EndContext = { ...ctx, audit: ctx.audit.with({ task_id: id }) };
  const end = (ending: Exclude<CallEnd, { kind: 'input_required' | 'task_created' }>) => endCall(withTask, ending);
  let task: TaskRecord | undefined;
  try {
    task = await tasks.store.create(id, {
      facts: factsOf(call, ctx, decision, 'held', tasks.config.pollMs),
      status: 'working',
      message: 'Opening an approval request',
      run: 'waiting',
      approval: approvalId,
      ttlMs,
    });
    if (!task) throw new Error(`task id ${id} is already taken`);
  } catch (err) {
    return end({ kind: 'hold_unavailable', decision, error: errorMessage(err) });
  }
  const hctx = { log: ctx.log.with({ task_id: id }), audit: withTask.audit, trace: ctx.trace, end };
  const opened = await openApproval(deps.approval, call, decision, hctx, (input) =>
    deps.approval.approvals.open(input, { id, ttlMs }, approvalId),
  );
  if (!opened.ok) {
    await tasks.store.remove(id).catch(() => undefined);
    return opened.result;
  }
  const message = waitingMessage(opened.request, deps.approval.channel.name);
  let ready;
  try {
    ready = await tasks.store.step(id, { run: ['waiting'] }, { message });
  } catch (err) {
    await deps.approval.approvals.withdraw(opened.request.id, 'its task could not be stored').catch(() => undefined);
    return end({ kind: 'hold_unavailable', decision, error: errorMessage(err) });
  }
  // Decided already, and its run has moved the task on (the message is the run's): the client still gets its id, and polls what happened.
  const stored = ready.code === 'missing' ? task : ready.task;
  return endCall(
    { ...withTask, log: hctx.log.with({ approval_id: opened.request.id }), audit: withTask.audit.with({ approval_id: opened.request.id }) },
    { kind: 'task_created', decision, task: stored },
  );
}

/** What a task keeps of its call: enough to run it on any instance, and to check who asks about it. */
export function factsOf(call: AgentCall, ctx: EndContext, decision: Decision, kind: TaskFacts['kind'], pollMs: number): TaskFacts {
  return {
    kind,
    grant: call.grant ?? null,
    endpoint: call.input?.endpoint ?? '',
    server: call.server,
    tool: call.tool,
    request_id: ctx.requestId,
    client: call.client ?? null,
    protocol: call.protocol ?? null,
    args: call.args ?? {},
    ...(call.meta && { meta: call.meta }),
    ...(call.input?.capabilities && { capabilities: call.input.capabilities }),
    decision: { action: decision.action, rule: decision.rule, reason: decision.reason },
    poll_ms: pollMs,
  };
}

/**
 * An allowed call to a server marked slow, for a task client: stored as a
 * task and queued for whichever instance is free to run it (task-run.ts).
 * Undefined when it cannot be stored or queued: the call then runs here.
 */
export async function runAsTask(
  deps: TaskOpenDeps & { tasks: Tasks },
  call: AgentCall,
  decision: Decision,
  ctx: EndContext,
): Promise<CreateTaskResult | undefined> {
  const { tasks } = deps;
  const id = newTaskId();
  const ttlMs = deps.upstream(call.server).calls.timeoutMs + tasks.config.retentionMs;
  try {
    const task = await tasks.store.create(id, {
      facts: factsOf(call, ctx, decision, 'slow', tasks.config.pollMs),
      status: 'working',
      message: 'Queued to run on whichever Airlock instance is free',
      run: 'queued',
      ttlMs,
    });
    if (!task) return undefined;
    await tasks.queue(id);
    return endCall(
      { ...ctx, audit: ctx.audit.with({ task_id: id }), log: ctx.log.with({ task_id: id }) },
      { kind: 'task_created', decision, task },
    );
  } catch (err) {
    ctx.log.warn({ task_id: id, err: errorMessage(err) }, 'could not queue a task; running the call now');
    await tasks.store.remove(id).catch(() => undefined);
    return undefined;
  }
}

/** A result that is a task (`resultType: "task"`): the server's own, passed on under a task of Airlock's. */
export function isTaskResult(result: unknown): result is CreateTaskResult {
  const r = result as { resultType?: unknown; taskId?: unknown } | null;
  return r !== null && typeof r === 'object' && r.resultType === 'task' && typeof r.taskId === 'string';
}

/**
 * The server answered a task client's call with a task of its own: Airlock
 * keeps a task of its own for it, bound to the caller's grant, under a new
 * id (the server's id is never shown, so no one can reach the server's task
 * around Airlock), and passes tasks/get, tasks/update and tasks/cancel on to
 * it (task-requests.ts).
 */
export async function adoptUpstreamTask(
  deps: TaskOpenDeps & { tasks?: Tasks },
  call: AgentCall,
  ctx: EndContext,
  decision: Decision,
  theirs: CreateTaskResult,
  ms: number,
): Promise<CreateTaskResult> {
  const { tasks } = deps;
  if (!tasks)
    throw new ProtocolError(
      ProtocolErrorCode.InternalError,
      `server ${call.server} answered with a task, which Airlock does not take here`,
    );
  const id = newTaskId();
  // The server's own numbers, within bounds: it does not decide how long Redis keeps a record of Airlock's.
  const ttl = typeof theirs.ttlMs === 'number' && theirs.ttlMs > 0 ? Math.min(Math.round(theirs.ttlMs), MAX_UPSTREAM_TTL_MS) : 0;
  const poll =
    typeof theirs.pollIntervalMs === 'number' && theirs.pollIntervalMs > 0
      ? Math.min(Math.max(Math.round(theirs.pollIntervalMs), MIN_POLL_MS), MAX_POLL_MS)
      : tasks.config.pollMs;
  // Its seed state as the server gave it, unless that is no status of a task still going (an end is read on the first tasks/get).
  const status =
    TASK_STATUSES.includes(theirs.status as TaskStatus) && !TERMINAL.has(theirs.status as TaskStatus)
      ? (theirs.status as TaskStatus)
      : 'working';
  try {
    const task = await tasks.store.create(id, {
      facts: factsOf(call, ctx, decision, 'upstream', poll),
      status,
      message: typeof theirs.statusMessage === 'string' ? theirs.statusMessage.slice(0, 2_000) : '',
      run: 'upstream',
      // As long as the server keeps its own, and at least the retention: its end is kept here once seen.
      ttlMs: Math.max(ttl, tasks.config.retentionMs),
    });
    if (!task) throw new Error(`task id ${id} is already taken`);
    const adopted = await tasks.store.step(id, { run: ['upstream'] }, { upstream: theirs.taskId });
    if (adopted.code === 'missing') throw new Error(`task ${id} vanished as it was stored`);
    return endCall(
      { ...ctx, audit: ctx.audit.with({ task_id: id }), log: ctx.log.with({ task_id: id }) },
      {
        kind: 'task_created',
        decision,
        task: adopted.task,
        ms,
      },
    );
  } catch (err) {
    throw new ProtocolError(
      ProtocolErrorCode.InternalError,
      `server ${call.server} answered with a task, which Airlock could not store (${errorMessage(err)}): it may run all the same; check before calling again`,
    );
  }
}
