export { Tasks, type TaskRunner, type TasksConfig } from './tasks.js';
export { TaskStore, type AnswerResult, type StepFrom, type StepResult, type StepTo } from './task-store.js';
export {
  isTaskId,
  keptOutcome,
  newTaskId,
  TASK_STATUSES,
  TERMINAL,
  type RunState,
  type TaskFacts,
  type TaskOutcome,
  type TaskRecord,
  type TaskStatus,
} from './task-record.js';
export { createTaskResult, detailedTask, offersTasks, REQUIRES_TASKS, TASK_META_KEY, TASKS_EXTENSION } from './wire.js';
