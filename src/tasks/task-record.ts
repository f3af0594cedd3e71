import { randomBytes } from 'node:crypto';
import type { ClientCapabilities } from '@modelcontextprotocol/server';

export const TASK_STATUSES = ['working', 'input_required', 'completed', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const TERMINAL: ReadonlySet<TaskStatus> = new Set(['completed', 'failed', 'cancelled']);

/**
 * Where a task's call is: `waiting` for its approval, `queued` for an
 * instance to run it, `running` on `runner`, `upstream` when its server
 * answered with a task of its own (polled there), `ended`.
 */
export type RunState = 'waiting' | 'queued' | 'running' | 'upstream' | 'ended';

const ID_PATTERN = /^tsk_[A-Za-z0-9_-]{32}$/;

/** `tsk_` and 192 random bits: a task id is all its client holds, so it must not be guessable (and BullMQ takes it as a job id). */
export function newTaskId(): string {
  return `tsk_${randomBytes(24).toString('base64url')}`;
}

export function isTaskId(id: unknown): id is string {
  return typeof id === 'string' && ID_PATTERN.test(id);
}

/** What a task is of, fixed when it is made: whose it is, and the call it stands for. */
export interface TaskFacts {
  /** `held`: waits for an approval, then runs; `slow`: an allowed call run as a task; `upstream`: its server's own task, polled there. */
  kind: 'held' | 'slow' | 'upstream';
  /** Only this grant, on this endpoint, may read, answer or cancel it. */
  grant: string | null;
  endpoint: string;
  server: string;
  tool: string;
  request_id: string;
  client: string | null;
  protocol: string | null;
  /** The call, as the agent sent it: run later, on whichever instance takes it. */
  args: Record<string, unknown>;
  meta?: Record<string, unknown>;
  /** What the client's request said it can answer, for the server's questions while the task runs. */
  capabilities?: ClientCapabilities;
  /** The rule that admitted it, for the audit of its run. */
  decision: { action: string; rule: string; reason: string };
  poll_ms: number;
}

/** How a task ended, as tasks/get inlines it. */
export type TaskOutcome = { result: Record<string, unknown> } | { error: { code: number; message: string; data?: unknown } };

export interface TaskRecord {
  id: string;
  facts: TaskFacts;
  status: TaskStatus;
  message?: string;
  created_at: number;
  updated_at: number;
  ttl_ms: number;
  run: RunState;
  /** The approval request it waits for (a held task): its id is chosen before the request is opened. */
  approval?: string;
  runner?: string;
  /** The server's own task id, for a task its server runs (run `upstream`). */
  upstream?: string;
  outcome?: TaskOutcome;
  /** The questions still open, by the key the client answers under. */
  inputs: Record<string, Record<string, unknown>>;
}

/**
 * What a task keeps of how it ended: a result or an error no larger than
 * `maxBytes` (as JSON). A larger result is replaced by an error saying the
 * call ran and what was not kept; a larger error keeps its code and the
 * start of its message, not its data.
 */
export function keptOutcome(outcome: TaskOutcome, maxBytes: number): TaskOutcome {
  const bytes = Buffer.byteLength(JSON.stringify(outcome));
  if (bytes <= maxBytes) return outcome;
  const kib = (n: number) => `${Math.ceil(n / 1024)} KiB`;
  if ('result' in outcome)
    return {
      error: {
        code: INTERNAL_ERROR,
        message: `the call ran, but its result (${kib(bytes)}) is larger than tasks.max_result (${kib(maxBytes)}) and was not kept`,
      },
    };
  const code = Number.isSafeInteger(outcome.error.code) ? outcome.error.code : INTERNAL_ERROR;
  const message = String(outcome.error.message).slice(0, 1_000);
  return {
    error: {
      code,
      message: `${message} (the error, ${kib(bytes)}, is larger than tasks.max_result (${kib(maxBytes)}): its data was not kept)`,
    },
  };
}

/** JSON-RPC's internal error, which a task that lost its result or its run ends with. */
const INTERNAL_ERROR = -32603;

/** A task's hash as Redis returns it (HGETALL, or a script's flat field/value list). */
export function parseTask(id: string, fields: Record<string, string> | string[]): TaskRecord | undefined {
  const object = Array.isArray(fields) ? pairs(fields) : fields;
  if (object.facts === undefined || object.status === undefined) return undefined;
  const inputs: Record<string, Record<string, unknown>> = {};
  for (const [field, value] of Object.entries(object)) {
    if (field.startsWith('input:')) inputs[field.slice('input:'.length)] = JSON.parse(value) as Record<string, unknown>;
  }
  return {
    id,
    facts: JSON.parse(object.facts) as TaskFacts,
    status: object.status as TaskStatus,
    ...(object.message !== undefined && object.message !== '' && { message: object.message }),
    created_at: Number(object.created_at),
    updated_at: Number(object.updated_at),
    ttl_ms: Number(object.ttl_ms),
    run: (object.run ?? 'ended') as RunState,
    ...(object.approval !== undefined && object.approval !== '' && { approval: object.approval }),
    ...(object.runner !== undefined && object.runner !== '' && { runner: object.runner }),
    ...(object.upstream !== undefined && object.upstream !== '' && { upstream: object.upstream }),
    ...(object.outcome !== undefined && object.outcome !== '' && { outcome: JSON.parse(object.outcome) as TaskOutcome }),
    inputs,
  };
}

function pairs(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}
