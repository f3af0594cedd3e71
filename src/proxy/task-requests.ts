import { ProtocolErrorCode, type ClientCapabilities } from '@modelcontextprotocol/server';
import type { AuditRecorder } from '../audit/index.js';
import { errorMessage } from '../errors.js';
import {
  detailedTask,
  isTaskId,
  offersTasks,
  REQUIRES_TASKS,
  TASKS_EXTENSION,
  keptOutcome,
  TASK_STATUSES,
  TERMINAL,
  type TaskOutcome,
  type TaskRecord,
  type Tasks,
  type TaskStatus,
} from '../tasks/index.js';
import { ProtocolError } from './errors.js';
import { forwardedResult } from './forwarded-result.js';
import type { ApprovalDeps } from './hold.js';
import { relayedCapabilities } from './questions.js';
import type { Upstream } from './upstream.js';
import type { RelayConfig } from '../config/index.js';
import { questionsOf, unaskable } from './input-rounds.js';

/** Who asks about a task: only the grant that made it, on the endpoint it was made on, may see it. */
export interface TaskCaller {
  grant: string | undefined;
  endpoint: string;
  /** The request's own capabilities: the extension must be among them. */
  capabilities: ClientCapabilities | undefined;
  client: string | undefined;
  protocol: string | undefined;
}

export interface TaskRequestDeps {
  tasks: Tasks;
  approval: ApprovalDeps;
  audit: AuditRecorder;
  upstream(server: string): Pick<Upstream, 'rawRequest'>;
  relay(server: string): RelayConfig;
}

/** A server's statusMessage is shown as it wrote it, up to this long. */
const MAX_MESSAGE_CHARS = 2_000;

/** The one answer for an id that is not the caller's to know: unknown, malformed, expired, or another grant's alike. */
function notFound(): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.InvalidParams, 'Failed to retrieve task: Task not found');
}

/** A task of the caller's, or the same "not found" whatever the reason; a client without the extension is told it needs it. */
async function taskOf(deps: TaskRequestDeps, caller: TaskCaller, id: unknown): Promise<TaskRecord> {
  if (!offersTasks(caller.capabilities))
    throw new ProtocolError(
      ProtocolErrorCode.MissingRequiredClientCapability,
      `Missing required client capability: tasks/get, tasks/update and tasks/cancel need the ${TASKS_EXTENSION} extension in the request's clientCapabilities`,
      REQUIRES_TASKS,
    );
  if (!isTaskId(id)) throw notFound();
  const task = await deps.tasks.store.get(id).catch((err: unknown) => {
    throw new ProtocolError(ProtocolErrorCode.InternalError, `[UNAVAILABLE] cannot read the task: ${errorMessage(err)}`);
  });
  if (!task || task.facts.grant !== (caller.grant ?? null) || task.facts.endpoint !== caller.endpoint) throw notFound();
  return task;
}

/** tasks/get: the task as it stands; one its server runs is asked there, and kept here once it has ended. */
export async function getTask(deps: TaskRequestDeps, caller: TaskCaller, id: unknown): Promise<Record<string, unknown>> {
  const task = await taskOf(deps, caller, id);
  if (task.run !== 'upstream') return detailedTask(task);
  const theirs = await askServer(deps, caller, task, 'tasks/get', {});
  // A status the extension does not define is none the client is shown: the task is still working, as far as anyone can tell.
  const status: TaskStatus = TASK_STATUSES.includes(theirs.status as TaskStatus) ? (theirs.status as TaskStatus) : 'working';
  const message = typeof theirs.statusMessage === 'string' ? theirs.statusMessage.slice(0, MAX_MESSAGE_CHARS) : undefined;
  if (TERMINAL.has(status)) {
    const outcome = status === 'cancelled' ? undefined : keptOutcome(endOf(task, status, theirs), deps.tasks.config.maxResultBytes);
    const ended = outcome && 'error' in outcome ? 'failed' : status;
    const kept = await deps.tasks.store.step(
      task.id,
      { run: ['upstream'] },
      {
        status: ended,
        run: 'ended',
        ...(message !== undefined && { message }),
        ...(outcome && { outcome }),
        liveMs: deps.tasks.config.retentionMs,
      },
    );
    if (kept.code === 'missing') throw notFound();
    // The first to read the end records it, as a call without a task records how it ended.
    if (kept.code === 'ok' && outcome) auditEnd(deps, task, outcome);
    return detailedTask(kept.task);
  }
  const questions = status === 'input_required' && isObject(theirs.inputRequests) ? askable(deps, caller, task, theirs) : undefined;
  return {
    ...detailedTask({ ...task, status, ...(message !== undefined && { message }) }),
    ...(questions && { inputRequests: questions }),
  };
}

/** How a server's own task ended, as a task keeps it: its result, its error, or an error saying it gave neither. */
function endOf(task: TaskRecord, status: TaskStatus, theirs: Record<string, unknown>): TaskOutcome {
  if (status === 'completed' && isObject(theirs.result)) return { result: forwardedResult(theirs.result) };
  const error = theirs.error as { code?: unknown; message?: unknown; data?: unknown } | undefined;
  if (status === 'failed' && isObject(error))
    return {
      error: {
        code: Number.isSafeInteger(error.code) ? (error.code as number) : ProtocolErrorCode.InternalError,
        message: typeof error.message === 'string' ? error.message : 'the server gave no message',
        ...(error.data !== undefined && { data: error.data }),
      },
    };
  return {
    error: {
      code: ProtocolErrorCode.InternalError,
      message: `server ${task.facts.server} ended its task ${status} without the ${status === 'completed' ? 'result' : 'error'} it must give`,
    },
  };
}

/** The end of a server's own task in the audit trail: `executed` as for a call without a task, or `unavailable` with its error. */
function auditEnd(deps: TaskRequestDeps, task: TaskRecord, outcome: TaskOutcome): void {
  if ('result' in outcome)
    deps.audit.record({ event: 'executed', ...auditFacts(task), result: outcome.result.isError === true ? 'error' : 'ok' });
  else deps.audit.record({ event: 'unavailable', ...auditFacts(task), detail: outcome.error.message });
}

/**
 * tasks/update: the client's answers to its task's open questions. Only an
 * answer to a question still open is taken (on a task its server runs: one
 * the server lists now); any other is left out and audited as refused, and a
 * task that asks nothing refuses the whole update.
 */
export async function updateTask(
  deps: TaskRequestDeps,
  caller: TaskCaller,
  id: unknown,
  responses: unknown,
): Promise<Record<string, never>> {
  const task = await taskOf(deps, caller, id);
  if (!isObject(responses))
    throw new ProtocolError(ProtocolErrorCode.InvalidParams, 'tasks/update needs inputResponses: an object of answers by question key');
  // One event for the lot, however many: an agent cannot grow the trail by sending answers nobody asked for.
  const refused = (keys: string[]) => {
    if (keys.length === 0) return;
    const named = keys
      .slice(0, 5)
      .map((key) => JSON.stringify(key.slice(0, 40)))
      .join(', ');
    deps.audit.record({
      event: 'question_refused',
      ...auditFacts(task),
      detail: `tasks/update answered ${keys.length} question${keys.length === 1 ? '' : 's'} the task did not ask or had had answered (${named}${keys.length > 5 ? ', …' : ''}): left out`,
    });
  };
  const notWaiting = () =>
    new ProtocolError(
      ProtocolErrorCode.InvalidParams,
      `Task ${task.id} is not waiting for input: nothing was asked, so no answer is taken`,
    );
  if (task.run === 'upstream') {
    const theirs = await askServer(deps, caller, task, 'tasks/get', {});
    // Only the questions the client was shown: one relay or its capabilities hide is not answered for it.
    const open =
      theirs.status === 'input_required' && isObject(theirs.inputRequests) ? Object.keys(askable(deps, caller, task, theirs)) : [];
    if (open.length === 0) throw notWaiting();
    const taken = Object.fromEntries(Object.entries(responses).filter(([key]) => open.includes(key)));
    refused(Object.keys(responses).filter((key) => !open.includes(key)));
    if (Object.keys(taken).length > 0) await askServer(deps, caller, task, 'tasks/update', { inputResponses: taken });
    return {};
  }
  const answered = await deps.tasks.store.answer(task.id, responses).catch((err: unknown) => {
    throw new ProtocolError(ProtocolErrorCode.InternalError, `[UNAVAILABLE] cannot answer the task: ${errorMessage(err)}`);
  });
  if (answered.code === 'missing') throw notFound();
  if (answered.code === 'refused') throw notWaiting();
  refused(answered.ignored);
  return {};
}

/**
 * tasks/cancel: acknowledged whatever the task's state (an ended one stays
 * as it ended). A task waiting for its approval is cancelled and its request
 * withdrawn, and its reviewers are told; a running one is cancelled and its
 * call told to stop (see task-run.ts); a server's own task is cancelled there.
 */
export async function cancelTask(deps: TaskRequestDeps, caller: TaskCaller, id: unknown): Promise<Record<string, never>> {
  const task = await taskOf(deps, caller, id);
  if (TERMINAL.has(task.status)) return {};
  const reason = 'the agent cancelled its task';
  if (task.run === 'upstream') {
    await askServer(deps, caller, task, 'tasks/cancel', {});
    deps.audit.record({ event: 'task_cancelled', ...auditFacts(task), detail: `${reason}: passed on to server ${task.facts.server}` });
    return {};
  }
  const step = await deps.tasks.store
    .step(
      task.id,
      { status: ['working', 'input_required'] },
      { status: 'cancelled', message: `Cancelled: ${reason}`, liveMs: deps.tasks.config.retentionMs },
    )
    .catch((err: unknown) => {
      throw new ProtocolError(ProtocolErrorCode.InternalError, `[UNAVAILABLE] cannot cancel the task: ${errorMessage(err)}`);
    });
  if (step.code !== 'ok') return {};
  deps.audit.record({ event: 'task_cancelled', ...auditFacts(task), detail: reason });
  // Still waiting for a person: the request is withdrawn, and its message says so.
  if (task.run === 'waiting' && task.approval !== undefined) {
    const { approvals, channel } = deps.approval;
    await approvals.withdraw(task.approval, reason).catch(() => undefined);
    let record = await approvals.get(task.approval).catch(() => undefined);
    // Approved already, and not yet run: the approval says it will not be used, and why.
    if (record?.status.state === 'approved' && record.status.execution === undefined) {
      const execution = { result: 'refused', ms: 0, detail: `${reason} before its approved call ran: the call was not sent` } as const;
      await approvals.recordExecution(task.approval, execution).catch(() => undefined);
      record = { ...record, status: { ...record.status, execution } };
    }
    if (record) await channel.update(record.request, record.status).catch(() => undefined);
  }
  return {};
}

/** A request about a task its server runs, sent there under the server's own id. */
async function askServer(
  deps: TaskRequestDeps,
  caller: TaskCaller,
  task: TaskRecord,
  method: 'tasks/get' | 'tasks/update' | 'tasks/cancel',
  params: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const { server } = task.facts;
  const capabilities = { ...relayedCapabilities(deps.relay(server), caller.capabilities), extensions: { [TASKS_EXTENSION]: {} } };
  try {
    return await deps.upstream(server).rawRequest(method, { ...params, taskId: task.upstream }, { capabilities });
  } catch (err) {
    // The server forgot its task (it restarted, or its time ran out there): the task ends here, saying so.
    if ((err as { code?: unknown }).code === ProtocolErrorCode.InvalidParams && method === 'tasks/get') {
      const message = `server ${server} no longer knows this task (it restarted, or the task expired there): its call may or may not have run`;
      await deps.tasks.store
        .step(
          task.id,
          { run: ['upstream'] },
          {
            status: 'failed',
            run: 'ended',
            message,
            outcome: { error: { code: ProtocolErrorCode.InternalError, message } },
            liveMs: deps.tasks.config.retentionMs,
          },
        )
        .catch(() => undefined);
      throw new ProtocolError(ProtocolErrorCode.InternalError, message);
    }
    if (err instanceof ProtocolError) throw err;
    throw new ProtocolError(ProtocolErrorCode.InternalError, `[UNAVAILABLE] ${errorMessage(err)}`);
  }
}

/** The server's questions its client may be asked (as for a call's rounds: `relay` and the client's capabilities decide); the rest are audited and left out. */
function askable(deps: TaskRequestDeps, caller: TaskCaller, task: TaskRecord, theirs: Record<string, unknown>): Record<string, unknown> {
  const { server } = task.facts;
  const questions = questionsOf(server, { resultType: 'input_required', inputRequests: theirs.inputRequests } as never);
  const refused = unaskable(server, deps.relay(server), caller.capabilities, questions);
  for (const { method, reason } of refused) deps.audit.record({ event: 'question_refused', ...auditFacts(task), method, detail: reason });
  const left = new Set(refused.map((r) => r.key));
  return Object.fromEntries(questions.filter(([key]) => !left.has(key)));
}

/** The fields every audit event about a task carries, whichever instance writes it. */
export function auditFacts(task: TaskRecord) {
  return {
    request_id: task.facts.request_id,
    task_id: task.id,
    ...(task.approval !== undefined && { approval_id: task.approval }),
    grant: task.facts.grant,
    client: task.facts.client,
    protocol: task.facts.protocol,
    server: task.facts.server,
    tool: task.facts.tool,
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
