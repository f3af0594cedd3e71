import type { ClientCapabilities } from '@modelcontextprotocol/server';
import type { TaskRecord } from './task-record.js';

/** The extension's name, in both sides' capabilities (`extensions`). */
export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';

/** Where a task's result and the answer to tasks/get name the approval and the call it stands for. */
export const TASK_META_KEY = 'airlock/task';

/** Whether a request's client declared the extension: only such a client may be answered with a task. */
export function offersTasks(capabilities: ClientCapabilities | undefined): boolean {
  const extensions = (capabilities as { extensions?: Record<string, unknown> } | undefined)?.extensions;
  return extensions !== undefined && extensions !== null && typeof extensions === 'object' && TASKS_EXTENSION in extensions;
}

/** The `requiredCapabilities` of a -32021 that asks for the extension. */
export const REQUIRES_TASKS = { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } };

/** The Task fields every answer about a task carries (CreateTaskResult, tasks/get). */
function taskFields(task: TaskRecord): Record<string, unknown> {
  return {
    taskId: task.id,
    status: task.status,
    ...(task.message !== undefined && { statusMessage: task.message }),
    createdAt: new Date(task.created_at).toISOString(),
    lastUpdatedAt: new Date(task.updated_at).toISOString(),
    ttlMs: task.ttl_ms,
    pollIntervalMs: task.facts.poll_ms,
    _meta: {
      [TASK_META_KEY]: {
        request_id: task.facts.request_id,
        ...(task.approval !== undefined && { approval_id: task.approval }),
      },
    },
  };
}

/** The answer to the call that made the task: the task's seed state, flat (no `task` wrapper, no result). */
export function createTaskResult(task: TaskRecord): Record<string, unknown> {
  return { resultType: 'task', ...taskFields(task) };
}

/** tasks/get's answer: the task, with its open questions, its result or its error inlined as its status has them. */
export function detailedTask(task: TaskRecord): Record<string, unknown> {
  const detail = taskFields(task);
  if (task.status === 'input_required') detail.inputRequests = task.inputs;
  // The result as the call would have answered it: a 2026 result says it is complete (a 2025 server's says nothing).
  if (task.status === 'completed' && task.outcome && 'result' in task.outcome)
    detail.result = { resultType: 'complete', ...task.outcome.result };
  if (task.status === 'failed' && task.outcome && 'error' in task.outcome) detail.error = task.outcome.error;
  return detail;
}
