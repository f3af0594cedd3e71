import type { Redis } from 'ioredis';
import { redisStep } from '../approvals/redis-step.js';
import { defineLuaScripts, LuaScript, type LuaCommands } from '../redis/index.js';
import { parseTask, TERMINAL, type RunState, type TaskFacts, type TaskOutcome, type TaskRecord, type TaskStatus } from './task-record.js';

const file = (name: string) => new URL(`./${name}.lua`, import.meta.url);
// KEYS, then ARGV, as each script's header lists them.
const SCRIPTS = {
  create: new LuaScript<number, [task: string], (string | number)[]>({
    name: 'airlockTaskCreate',
    file: file('task-create'),
    numberOfKeys: 1,
  }),
  step: new LuaScript<string[], [task: string], (string | number)[]>({ name: 'airlockTaskStep', file: file('task-step'), numberOfKeys: 1 }),
  ask: new LuaScript<string[], [task: string], [question: string, events: string, id: string, maxOpen: number, maxBytes: number]>({
    name: 'airlockTaskAsk',
    file: file('task-ask'),
    numberOfKeys: 1,
  }),
  answer: new LuaScript<(string | number)[], [task: string], string[]>({
    name: 'airlockTaskAnswer',
    file: file('task-answer'),
    numberOfKeys: 1,
  }),
};

/** Where a step may start from: statuses and run states ('*': any). */
export interface StepFrom {
  status?: readonly TaskStatus[];
  run?: readonly RunState[];
}

/** What a step sets; `liveMs`: how long the task lives from now on (an ended one: how long it stays readable). */
export interface StepTo {
  status?: TaskStatus;
  message?: string;
  run?: RunState;
  runner?: string;
  upstream?: string;
  outcome?: TaskOutcome;
  liveMs?: number;
}

export type StepResult = { code: 'ok' | 'refused'; task: TaskRecord } | { code: 'missing' };

export type AnswerResult =
  { code: 'ok'; status: TaskStatus; accepted: number; ignored: string[] } | { code: 'refused'; status: TaskStatus } | { code: 'missing' };

/**
 * Every task, in one Redis hash each, changed only by the scripts beside
 * this file: a step happens only from where its caller expects the task to
 * be, so concurrent instances (a cancel racing the run, two workers) leave
 * one outcome. Each change is published on `events` with the task's id.
 */
export class TaskStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #run: LuaCommands<typeof SCRIPTS>;
  /** The pub/sub channel of task changes. */
  readonly events: string;

  readonly #counted: ((status: TaskStatus) => void) | undefined;

  /** `counted` hears of each task this store creates (`working`) and each it ends (in the status it ended in). */
  constructor(redis: Redis, options: { prefix: string; timeoutMs: number; counted?: (status: TaskStatus) => void }) {
    this.#redis = redis;
    this.#counted = options.counted;
    this.#prefix = options.prefix;
    this.#timeoutMs = options.timeoutMs;
    this.events = `${options.prefix}tasks:events`;
    this.#run = defineLuaScripts(redis, SCRIPTS);
  }

  /** Stores a new task; resolves with it as stored (Redis clock), or undefined when the id is taken. */
  async create(
    id: string,
    task: { facts: TaskFacts; status: TaskStatus; message: string; run: RunState; ttlMs: number; approval?: string },
  ): Promise<TaskRecord | undefined> {
    const fields = ['facts', JSON.stringify(task.facts), 'status', task.status, 'message', task.message, 'run', task.run];
    if (task.approval !== undefined) fields.push('approval', task.approval);
    const created = await this.#deadline(this.#run.create([this.#key(id)], [task.ttlMs, ...fields]), 'storing a task');
    if (created < 0) return undefined;
    this.#counted?.(task.status);
    return {
      id,
      facts: task.facts,
      status: task.status,
      message: task.message,
      created_at: created,
      updated_at: created,
      ttl_ms: task.ttlMs,
      run: task.run,
      ...(task.approval !== undefined && { approval: task.approval }),
      inputs: {},
    };
  }

  /** Removes a task its client was never told of (its approval request could not be opened). */
  async remove(id: string): Promise<void> {
    await this.#deadline(this.#redis.del(this.#key(id)), 'removing a task');
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    const fields = await this.#deadline(this.#redis.hgetall(this.#key(id)), 'reading a task');
    return parseTask(id, fields);
  }

  async step(id: string, from: StepFrom, to: StepTo): Promise<StepResult> {
    const sets: string[] = [];
    if (to.status !== undefined) sets.push('status', to.status);
    if (to.message !== undefined) sets.push('message', to.message);
    if (to.run !== undefined) sets.push('run', to.run);
    if (to.runner !== undefined) sets.push('runner', to.runner);
    if (to.upstream !== undefined) sets.push('upstream', to.upstream);
    if (to.outcome !== undefined) sets.push('outcome', JSON.stringify(to.outcome));
    const reply = await this.#deadline(
      this.#run.step(
        [this.#key(id)],
        [(from.status ?? ['*']).join(','), (from.run ?? ['*']).join(','), to.liveMs ?? 0, this.events, id, ...sets],
      ),
      'updating a task',
    );
    const [code, ...fields] = reply;
    if (code === 'missing') return { code };
    if (code === 'ok' && to.status !== undefined && TERMINAL.has(to.status)) this.#counted?.(to.status);
    return { code: code as 'ok' | 'refused', task: parseTask(id, fields)! };
  }

  /**
   * Opens a question for the task's client: the key it is answered under;
   * `full` when it would pass the bounds on what may be open at once (how
   * many, how many bytes); `ended` when the task asks nothing any more.
   */
  async ask(
    id: string,
    question: Record<string, unknown>,
    bounds: { maxOpen: number; maxBytes: number },
  ): Promise<{ key: string } | { full: 'questions' | 'bytes' } | { ended: true }> {
    const [code, detail] = await this.#deadline(
      this.#run.ask([this.#key(id)], [JSON.stringify(question), this.events, id, bounds.maxOpen, bounds.maxBytes]),
      'asking a task',
    );
    if (code === 'ok') return { key: detail! };
    if (code === 'full') return { full: detail as 'questions' | 'bytes' };
    return { ended: true };
  }

  /** Takes the client's answers to open questions (see task-answer.lua). */
  async answer(id: string, answers: Record<string, unknown>): Promise<AnswerResult> {
    const pairs = Object.entries(answers).flatMap(([key, value]) => [key, JSON.stringify(value)]);
    const reply = await this.#deadline(this.#run.answer([this.#key(id)], [this.events, id, ...pairs]), 'answering a task');
    const [code, status, accepted, ...ignored] = reply;
    if (code === 'missing') return { code };
    if (code === 'refused') return { code, status: status as TaskStatus };
    return { code: 'ok', status: status as TaskStatus, accepted: Number(accepted), ignored: ignored.map(String) };
  }

  /** The answer given to one question, taken (read once, by the instance running the task); undefined until there is one. */
  async takeAnswer(id: string, key: string): Promise<unknown> {
    const field = `answer:${key}`;
    const replies = await this.#deadline(
      this.#redis.multi().hget(this.#key(id), field).hdel(this.#key(id), field).exec(),
      'reading an answer',
    );
    const value = replies?.[0]?.[1];
    return typeof value === 'string' ? (JSON.parse(value) as unknown) : undefined;
  }

  #key(id: string): string {
    return `${this.#prefix}task:${id}`;
  }

  #deadline<T>(work: Promise<T>, what: string): Promise<T> {
    return redisStep(work, this.#timeoutMs, what);
  }
}
