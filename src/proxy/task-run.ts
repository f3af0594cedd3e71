import { isInputRequiredResult, ProtocolErrorCode, type CallToolResult } from '@modelcontextprotocol/server';
import { AirlockError, ErrorCode, errorMessage } from '../errors.js';
import { startTrace, UNKNOWN_TOOL } from '../metrics/index.js';
import type { Decision } from '../policy/index.js';
import type { ApprovalRecord, Execution } from '../approvals/index.js';
import { keptOutcome, TERMINAL, type TaskOutcome, type TaskRecord, type TaskRunner, type Tasks } from '../tasks/index.js';
import type { AgentCall } from './agent-call.js';
import { callAudit } from './call-audit.js';
import { endCall, type CallEnd, type EndContext } from './call-ends.js';
import { callLog } from './call-log.js';
import { ProtocolError } from './errors.js';
import { releaseApproval } from './hold.js';
import { execute, type PipelineDeps } from './pipeline.js';
import { MAX_INPUT_REQUEST_BYTES, MAX_INPUT_REQUESTS } from './input-rounds.js';
import type { Asker } from './questions.js';
import { isTaskResult } from './task-open.js';
import { auditFacts } from './task-requests.js';

/** How often a run looks again (for its client's answer, or a cancel), in case a change was published while Redis was away. */
const RECHECK_MS = 2_000;
/** How often, and how far apart, the end of a run that has run is written before it is given up. */
const FINISH_ATTEMPTS = 5;
const FINISH_RETRY_MS = 1_000;

/** What a task whose instance died during its call says: never run again, as it may have reached its server. */
export const LOST_RUN =
  'the Airlock instance running this call stopped during it: the call may or may not have run on its server; check before calling again';

/**
 * What runs tasks on this instance (see TaskRuns): a held task once its
 * request has ended (refused with today's answer, or released and sent), a
 * slow server's task at once. Each run is claimed in Redis before anything is
 * sent, so a task runs once whatever the queue does.
 */
export function taskRunner(deps: PipelineDeps & { tasks: Tasks }, instance: string): TaskRunner {
  const here = new Set<string>();
  return {
    run: ({ id, approval }) => runTask(deps, { instance, here }, id, approval),
    stalled: (id, attempt) => stalledRun(deps, id, attempt),
  };
}

interface Runner {
  /** Unique to this process: a claim naming it was made here. */
  instance: string;
  /**
   * The tasks this process has in hand: claiming, or claimed and perhaps
   * sent. One stays here from the start of its run until its end is
   * written, so no later try of the same run, here, can send it again.
   */
  here: Set<string>;
}

/**
 * The task is claimed first, the request whose decision queued the run
 * (`approval`) read beside the claim: a run waits for neither in turn. A
 * claim whose answer was lost (Redis slow or gone) is this process's own and
 * was never acted on, so the next try of the run takes it up.
 */
async function runTask(deps: PipelineDeps & { tasks: Tasks }, runner: Runner, id: string, approval: string | undefined): Promise<void> {
  const { instance, here } = runner;
  if (here.has(id)) return;
  here.add(id);
  let began = false;
  try {
    const claimed = await claim(deps, runner, id, approval);
    if (!claimed) return;
    began = true;
    await run(deps, instance, claimed);
    // Its end is written: a later try finds it ended. One whose end could not be written stays here, never sent again.
    here.delete(id);
  } finally {
    if (!began) here.delete(id);
  }
}

interface Claimed {
  task: TaskRecord;
  /** A held task's request, ended. */
  record: ApprovalRecord | undefined;
}

/** The task claimed for this process, or undefined when it is not this run's to run (ended, taken elsewhere, not decided). */
async function claim(
  deps: PipelineDeps & { tasks: Tasks },
  runner: Runner,
  id: string,
  approval: string | undefined,
): Promise<Claimed | undefined> {
  const { tasks } = deps;
  // A Redis that cannot be read throws: the queue tries the run again, and finds the claim, if it was made, its own.
  const [step, decided] = await Promise.all([
    tasks.store.step(
      id,
      { status: ['working', 'input_required'], run: ['waiting', 'queued'] },
      { run: 'running', runner: runner.instance },
    ),
    approval === undefined ? undefined : approvalOf(deps, approval),
  ]);
  if (step.code === 'missing') {
    if (decided) await taskGone(deps, id, decided);
    return undefined;
  }
  const { task } = step;
  const ours = step.code === 'ok' || (task.run === 'running' && task.runner === runner.instance && !TERMINAL.has(task.status));
  if (!ours) return undefined;
  if (task.facts.kind !== 'held') return { task, record: undefined };
  const record = task.approval === undefined ? undefined : task.approval === approval ? decided : await approvalOf(deps, task.approval);
  if (record && record.status.state !== 'pending' && record.request.task_id === id) return { task, record };
  // Its request not opened (yet, or ever), or not decided: nothing to run, and the claim is given back for the run its decision queues.
  await tasks.store.step(id, { run: ['running'] }, { run: 'waiting' });
  return undefined;
}

async function run(deps: PipelineDeps & { tasks: Tasks }, instance: string, { task, record }: Claimed): Promise<void> {
  const { tasks } = deps;
  const { id, facts } = task;
  const upstream = deps.upstream(facts.server);
  // What the task says while it runs, and how long it lives: beside the release, on the connection its end is written on after it.
  void tasks.store
    .step(
      id,
      { status: ['working', 'input_required'], run: ['running'] },
      {
        message: record?.status.state === 'approved' ? `Approved by ${record.status.decided_by ?? 'a reviewer'}: running` : 'Running',
        liveMs: upstream.calls.timeoutMs + tasks.config.retentionMs,
      },
    )
    .catch(() => undefined);

  const trace = startTrace();
  const base = { request_id: facts.request_id, server: facts.server, tool: facts.tool, grant: facts.grant ?? undefined, task_id: id };
  const log = callLog(deps.logger, { ...base, ...(task.approval !== undefined && { approval_id: task.approval }) });
  const audit = callAudit(deps.audit, deps.refusals, {
    ...base,
    grant: facts.grant,
    session: null,
    client: facts.client,
    protocol: facts.protocol,
  });
  const ctx: EndContext = {
    requestId: facts.request_id,
    server: facts.server,
    tool: facts.tool,
    calledAs: facts.tool,
    args: facts.args,
    log,
    audit,
    trace,
    metrics: deps.metrics,
  };
  const end = (ending: Exclude<CallEnd, { kind: 'input_required' | 'task_created' }>) => endCall(ctx, ending);
  log.info({ instance, task: facts.kind }, 'task running');

  // A cancel (on any instance) reaches the call here: it is told to stop, as a client's notifications/cancelled would.
  const stop = new AbortController();
  const look = () =>
    void tasks.store.get(id).then(
      (now) => {
        if (!now || now.status === 'cancelled') stop.abort('the agent cancelled its task');
      },
      () => undefined,
    );
  const offEvents = tasks.events.on(id, look);
  const recheck = setInterval(look, RECHECK_MS);
  const off = () => {
    offEvents();
    clearInterval(recheck);
  };
  const asker = taskAsker(tasks, task, stop.signal);
  const call: AgentCall = {
    server: facts.server,
    tool: facts.tool,
    calledAs: facts.tool,
    args: facts.args,
    meta: facts.meta,
    grant: facts.grant ?? undefined,
    session: undefined,
    client: facts.client ?? undefined,
    protocol: facts.protocol ?? undefined,
    signal: stop.signal,
    asker,
  };
  const decision: Decision = {
    action: facts.decision.action as Decision['action'],
    rule: facts.decision.rule,
    reason: facts.decision.reason,
    limits: [],
  };
  deps.gate.enter();
  let outcome: TaskOutcome;
  // The approval's record of the run is written beside the task's end, not before it: on one Redis connection, in that order.
  let recorded: Promise<void> = Promise.resolve();
  try {
    // A held task's request ended: refused as the call would have been, or released under its approval.
    const hold =
      record &&
      (await releaseApproval(deps.approval, record.request, record.status, decision, { log, audit, trace, end }, stop.signal, facts.args));
    if (hold && !hold.approved) {
      outcome = { result: hold.result };
    } else {
      const released = hold && {
        ...hold,
        executed: (execution: Execution) => {
          recorded = hold.executed(execution);
          return Promise.resolve();
        },
      };
      const answer = await execute(deps, call, ctx, { decision, ...(released && { released }) }, undefined);
      if (isTaskResult(answer) || isInputRequiredResult(answer))
        throw new ProtocolError(
          ProtocolErrorCode.InternalError,
          `server ${facts.server} answered a task's call with ${answer.resultType}, which a task cannot pass on`,
        );
      outcome = { result: answer as CallToolResult };
    }
  } catch (err) {
    const { code, message, data } = err as { code?: unknown; message?: unknown; data?: unknown };
    outcome = {
      error: {
        code: typeof code === 'number' ? code : ProtocolErrorCode.InternalError,
        message: typeof message === 'string' ? message : errorMessage(err),
        ...(data !== undefined && { data }),
      },
    };
  } finally {
    deps.gate.leave();
    off();
    upstream.release(asker);
    const known = deps.upstream(facts.server).tool(facts.tool) !== undefined;
    deps.metrics.callEnded(facts.server, known ? facts.tool : UNKNOWN_TOOL, trace.outcome ?? 'error', trace);
  }
  await Promise.all([finish(deps, task, outcome), recorded]);
}

/** What a task lost from Redis (evicted, or a restart without persistence) says to its approved request: nothing will run under it. */
export const TASK_GONE =
  'the task holding this approval is gone from Redis (evicted, or Redis restarted without its data): the call was not sent';

/**
 * A decided request whose task is gone: an approval not yet used is marked
 * never used, and its channel and the trail say why, rather than standing
 * "approved" with nothing run.
 */
async function taskGone(deps: PipelineDeps, id: string, { request, status }: ApprovalRecord): Promise<void> {
  if (status.state !== 'approved' || status.consumed_at !== undefined || status.execution !== undefined || request.task_id !== id) return;
  const { approvals, channel } = deps.approval;
  const execution = { result: 'refused', ms: 0, detail: TASK_GONE } as const;
  await approvals.recordExecution(request.id, execution);
  deps.logger.warn(
    { task_id: id, approval_id: request.id, request_id: request.request_id, server: request.server, tool: request.tool },
    TASK_GONE,
  );
  deps.audit.record({
    event: 'unavailable',
    request_id: request.request_id ?? undefined,
    approval_id: request.id,
    task_id: id,
    grant: request.grant,
    server: request.server,
    tool: request.tool,
    detail: TASK_GONE,
  });
  await channel.update(request, { ...status, execution }).catch(() => undefined);
}

function approvalOf(deps: PipelineDeps, id: string): Promise<ApprovalRecord | undefined> {
  return deps.approval.approvals.get(id).catch((err: unknown) => {
    if (err instanceof AirlockError && err.code === ErrorCode.ApprovalNotFound) return undefined;
    throw err;
  });
}

/**
 * Ends a task with how its call ended: `completed` with the result the call
 * would have had (a refusal or a tool error among them), or `failed` with a
 * JSON-RPC error. A result larger than `tasks.max_result` is not kept, and the
 * task says so. A task cancelled meanwhile stays cancelled.
 */
async function finish(deps: PipelineDeps & { tasks: Tasks }, task: TaskRecord, outcome: TaskOutcome): Promise<void> {
  const { tasks } = deps;
  const kept = keptOutcome(outcome, tasks.config.maxResultBytes);
  const status = 'result' in kept ? 'completed' : 'failed';
  const message = 'result' in kept ? summary(kept.result) : kept.error.message;
  const end = () =>
    tasks.store.step(
      task.id,
      { status: ['working', 'input_required'], run: ['running'] },
      { status, run: 'ended', message, outcome: kept, liveMs: tasks.config.retentionMs },
    );
  // The call has run: its end is worth waiting a little for Redis to take.
  let step;
  for (let attempt = 1; ; attempt++) {
    try {
      step = await end();
      break;
    } catch (err) {
      if (attempt >= FINISH_ATTEMPTS) throw err;
      await new Promise((resolve) => setTimeout(resolve, FINISH_RETRY_MS));
    }
  }
  if (step.code !== 'ok')
    deps.logger.info(
      { task_id: task.id, request_id: task.facts.request_id, status: step.code === 'refused' ? step.task.status : 'gone' },
      'a task ended elsewhere before its run did; its outcome is not kept',
    );
}

/** What a completed task's statusMessage says: a refusal's or a tool error's first line, else that it completed. */
function summary(result: Record<string, unknown>): string {
  if (result.isError !== true) return 'Completed';
  const first = (result.content as { type?: string; text?: string }[] | undefined)?.find((c) => c.type === 'text')?.text ?? '';
  return first.split('\n')[0]?.slice(0, 500) || 'Completed with an error';
}

/**
 * A run's worker stopped answering (its instance died): a run that had
 * claimed its call ends failed, as the call may or may not have reached its
 * server, and is never sent again; one that had not is queued once more.
 */
async function stalledRun(deps: PipelineDeps & { tasks: Tasks }, id: string, attempt: number): Promise<void> {
  const { tasks } = deps;
  const task = await tasks.store.get(id);
  if (!task || TERMINAL.has(task.status)) return;
  if (task.run !== 'running') {
    await tasks.queue(id, { attempt: attempt + 1, ...(task.approval !== undefined && { approval: task.approval }) });
    return;
  }
  const step = await tasks.store.step(
    id,
    { status: ['working', 'input_required'], run: ['running'] },
    {
      status: 'failed',
      run: 'ended',
      message: LOST_RUN,
      outcome: { error: { code: ProtocolErrorCode.InternalError, message: LOST_RUN } },
      liveMs: tasks.config.retentionMs,
    },
  );
  if (step.code !== 'ok') return;
  const { facts } = task;
  deps.logger.warn(
    { task_id: id, request_id: facts.request_id, runner: task.runner, server: facts.server, tool: facts.tool },
    "a task's instance stopped during its call: ended failed, not run again",
  );
  deps.audit.record({ event: 'unavailable', ...auditFacts(task), detail: LOST_RUN });
  if (task.approval !== undefined) {
    const { approvals, channel } = deps.approval;
    await approvals.recordExecution(task.approval, { result: 'unavailable', ms: 0, detail: LOST_RUN }).catch(() => undefined);
    const record = await approvals.get(task.approval).catch(() => undefined);
    if (record) await channel.update(record.request, record.status).catch(() => undefined);
  }
}

/**
 * How a task's server asks its client something while the task runs: the
 * question becomes one of the task's `inputRequests` (status
 * `input_required`), and its answer is what the client sends with
 * tasks/update, on any instance. A session of the call's own on its server
 * (as for a parked call) keeps the question from being taken for another's.
 */
function taskAsker(tasks: Tasks, task: TaskRecord, signal: AbortSignal): Asker {
  const { facts } = task;
  const asker: Asker = {
    capabilities: () => facts.capabilities,
    context: {
      request_id: facts.request_id,
      tool: facts.tool,
      grant: facts.grant ?? undefined,
      session: undefined,
      client: facts.client ?? undefined,
      protocol: facts.protocol ?? undefined,
    },
    ask: async (question, options) => {
      const asked = await tasks.store.ask(
        task.id,
        { method: question.method, ...(question.params && { params: question.params }) },
        { maxOpen: MAX_INPUT_REQUESTS, maxBytes: MAX_INPUT_REQUEST_BYTES },
      );
      if ('ended' in asked) throw new ProtocolError(ProtocolErrorCode.InternalError, 'the task ended before its client answered');
      if ('full' in asked)
        throw new ProtocolError(
          ProtocolErrorCode.InternalError,
          asked.full === 'questions'
            ? `${MAX_INPUT_REQUESTS} questions of this task are open already, as many as Airlock puts to a client at once`
            : `this question would make the task's open questions larger than the ${MAX_INPUT_REQUEST_BYTES} bytes Airlock puts to a client at once`,
        );
      return waitForAnswer(tasks, task.id, asked.key, options.signal ?? signal);
    },
  };
  asker.session = asker;
  return asker;
}

async function waitForAnswer(tasks: Tasks, id: string, key: string, signal: AbortSignal): Promise<Record<string, unknown>> {
  for (;;) {
    signal.throwIfAborted();
    const answer = await tasks.store.takeAnswer(id, key);
    if (answer !== undefined) return answer as Record<string, unknown>;
    const now = await tasks.store.get(id);
    if (!now || TERMINAL.has(now.status))
      throw new ProtocolError(ProtocolErrorCode.InternalError, 'the task ended before its client answered');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, RECHECK_MS);
      const off = tasks.events.on(id, done);
      signal.addEventListener('abort', done, { once: true });
      function done() {
        clearTimeout(timer);
        off();
        signal.removeEventListener('abort', done);
        resolve();
      }
    });
  }
}
