import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { TaskEvents } from './task-events.js';
import { TaskRuns, type QueuedRun, type RunHandlers } from './task-runs.js';
import { TaskStore } from './task-store.js';
import type { TaskStatus } from './task-record.js';

export interface TasksConfig {
  /** Offer the extension at all (`tasks.enabled`). */
  enabled: boolean;
  /** How long an ended task stays readable. */
  retentionMs: number;
  /** The pollIntervalMs clients are given. */
  pollMs: number;
  /** Largest result (JSON bytes) a task keeps. */
  maxResultBytes: number;
}

/** How a run is done: given by the proxy, which knows what a call is (see task-run.ts). */
export type TaskRunner = RunHandlers;

interface Connection {
  redis: Redis;
  prefix: string;
  timeoutMs: number;
  logger: Logger;
}

/**
 * The MCP tasks of every instance: their records in Redis, the changes to
 * them heard here, and the queue their runs are taken from. What a task's
 * run does is the runner's (see `serve`).
 */
export class Tasks {
  readonly config: TasksConfig;
  readonly store: TaskStore;
  readonly events: TaskEvents;
  readonly #runs: TaskRuns;

  private constructor(config: TasksConfig, store: TaskStore, events: TaskEvents, runs: TaskRuns) {
    this.config = config;
    this.store = store;
    this.events = events;
    this.#runs = runs;
  }

  /** `counted`: each task created here (`working`) and each ended here (see TaskStore). */
  static async open(options: Connection & { config: TasksConfig; counted?: (status: TaskStatus) => void }): Promise<Tasks> {
    const store = new TaskStore(options.redis, { prefix: options.prefix, timeoutMs: options.timeoutMs, counted: options.counted });
    const events = await TaskEvents.start(options.redis, store.events);
    return new Tasks(options.config, store, events, new TaskRuns({ ...options, keepMs: options.config.retentionMs }));
  }

  /** Starts taking runs (this instance's worker), once the runner can run every server's calls (`airlock start`). */
  serve(runner: TaskRunner): void {
    this.#runs.work(runner);
  }

  /** Queues a run of task `id`, taken by whichever instance is free; asking twice for one attempt queues it once. */
  async queue(id: string, run: Partial<Omit<QueuedRun, 'id'>> = {}): Promise<void> {
    await this.#runs.add({ id, attempt: run.attempt ?? 0, ...(run.approval !== undefined && { approval: run.approval }) });
  }

  /** Takes no more runs (a graceful stop); those in progress go on. */
  async pause(): Promise<void> {
    await this.#runs.pause();
  }

  async close(): Promise<void> {
    await this.#runs.close();
    this.events.close();
  }
}
