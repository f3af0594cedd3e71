import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { redisStep } from '../approvals/redis-step.js';
import { errorMessage } from '../errors.js';
import { waitingConnection } from '../redis/index.js';

/**
 * A lapsed lock is how a worker that died is noticed: another instance's
 * stalled check finds its job within about LOCK_MS + STALLED_CHECK_MS.
 */
const LOCK_MS = 10_000;
const STALLED_CHECK_MS = 5_000;
/** Upstream calls wait on the network, not the CPU: many run at once on one instance. */
const CONCURRENCY = 64;
const CLOSE_WAIT_MS = 1_000;
/** Tries of a run whose handler throws (1 s, 2 s, 4 s, 8 s apart). */
const RUN_ATTEMPTS = 5;

export interface TaskRunsOptions {
  redis: Redis;
  /** The configured key prefix (`{airlock}:`): the queue's keys share its hash tag. */
  prefix: string;
  timeoutMs: number;
  /** How long a finished run's job is kept (the task's own record says how it ended). */
  keepMs: number;
  logger: Logger;
}

/** One run as it was queued: the task, which try of its run this is, and the approval request it waited on when whoever queued it knew it. */
export interface QueuedRun {
  id: string;
  attempt: number;
  approval?: string;
}

export interface RunHandlers {
  /** Runs the task here; resolves once it has ended or was handed on (see TaskRunner). */
  run(queued: QueuedRun): Promise<void>;
  /** Task `id`'s worker stopped answering while the run was its (the instance died): see TaskRunner.stalled. */
  stalled(id: string, attempt: number): Promise<void>;
}

/**
 * The runs of tasks, one BullMQ job each, taken by whichever instance's
 * worker is free, so a task approved on one instance runs even when the one
 * that made it is gone. A job whose worker died is not run again (BullMQ
 * would, after a stall), but told to `stalled`, as its call may or may not
 * have reached its server; one whose handler threw is tried again, which the
 * handler's claim in Redis makes safe.
 */
export class TaskRuns {
  readonly #options: TaskRunsOptions;
  readonly #queue: Queue;
  #worker: Worker | undefined;
  #connection: Redis | undefined;

  constructor(options: TaskRunsOptions) {
    this.#options = options;
    const prefix = this.#prefix;
    const age = Math.ceil(options.keepMs / 1000);
    this.#queue = new Queue(QUEUE, {
      connection: options.redis,
      prefix,
      // A run that fails before it claims its task (Redis unreadable) is tried again; once claimed it never is (see TaskRunner).
      defaultJobOptions: {
        removeOnComplete: { age },
        removeOnFail: { age },
        attempts: RUN_ATTEMPTS,
        backoff: { type: 'exponential', delay: 1_000 },
      },
    });
    this.#queue.on('error', (err) => options.logger.debug({ err: err.message }, 'task queue error'));
  }

  /** Starts this instance's worker: from now on it takes runs too. */
  work(handlers: RunHandlers): void {
    const options = this.#options;
    if (this.#worker) return;
    this.#connection = waitingConnection(options.redis);
    this.#worker = new Worker(QUEUE, (job: Job) => handlers.run(queuedOf(job)), {
      connection: this.#connection,
      prefix: this.#prefix,
      concurrency: CONCURRENCY,
      lockDuration: LOCK_MS,
      stalledInterval: STALLED_CHECK_MS,
      maxStalledCount: 0,
      drainDelay: 1,
    });
    this.#worker.on('error', (err) => options.logger.debug({ err: err.message }, 'task worker error'));
    this.#worker.on('stalled', (jobId: string) => {
      const [id = '', attempt = '0'] = jobId.split(ATTEMPT_SEPARATOR);
      handlers
        .stalled(id, Number(attempt))
        .catch((err: unknown) =>
          options.logger.warn({ task_id: id, err: errorMessage(err) }, 'could not end a task whose instance stopped'),
        );
    });
  }

  /** Queues a run: once per attempt however often it is asked (the job id is the task's). */
  async add({ id, attempt, approval }: QueuedRun): Promise<void> {
    const jobId = attempt === 0 ? id : `${id}${ATTEMPT_SEPARATOR}${attempt}`;
    const data = { task_id: id, attempt, ...(approval !== undefined && { approval_id: approval }) };
    await redisStep(this.#queue.add('run', data, { jobId }), this.#options.timeoutMs, 'queueing a task run');
  }

  /** Takes no more runs; the ones in progress go on (a graceful stop waits for them as for any call). */
  async pause(): Promise<void> {
    await this.#worker?.pause(true);
  }

  /** Stops; runs still in progress are found stalled by another instance. */
  async close(): Promise<void> {
    const bounded = (work: Promise<unknown>) =>
      Promise.race([work.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS).unref())]);
    if (this.#worker) await bounded(this.#worker.close(true));
    this.#connection?.disconnect();
    await bounded(this.#queue.close());
  }

  get #prefix(): string {
    return this.#options.prefix.replace(/:$/, '');
  }
}

const QUEUE = 'tasks';
/** Not `:`, which BullMQ refuses in job ids. */
const ATTEMPT_SEPARATOR = '~';

function queuedOf(job: Job): QueuedRun {
  const data = job.data as { task_id?: unknown; attempt?: unknown; approval_id?: unknown };
  return {
    id: String(data.task_id),
    attempt: Number(data.attempt ?? 0),
    ...(typeof data.approval_id === 'string' && { approval: data.approval_id }),
  };
}
