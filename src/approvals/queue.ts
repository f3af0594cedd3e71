import { waitingConnection } from '../redis/index.js';
import { DelayedError, Queue, QueueEvents, Worker, type Job, type RedisOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ApprovalKeys } from './keys.js';
import { reconnectDelayMs } from '../redis/index.js';
import { redisStep } from './redis-step.js';
import { ApprovalRequestSchema, type ApprovalRequest } from './request.js';
import { errorMessage } from '../errors.js';

const CLOSE_WAIT_MS = 1_000;

export type JobState = 'delayed' | 'active' | 'waiting' | 'completed' | 'failed';

export interface RequestQueueOptions {
  /** The request-path client: commands fail at once while Redis is down. */
  redis: Redis;
  keys: ApprovalKeys;
  timeoutMs: number;
  retentionMs: number;
  logger: Logger;
  /** Runs when a request's delay is over: its timeout, or sooner when it was promoted after a decision; `again` delays it once more, until then. */
  onDue?: (request: ApprovalRequest) => Promise<{ again?: number }>;
}

/**
 * One BullMQ job per approval request. The job carries the request as the
 * reviewer sees it and stays delayed until the request's timeout, so the
 * timeout fires on whichever instance's worker is running, even when the one
 * holding the call has died. After a decision the job is promoted: it
 * completes at once and is kept (with its request) for the retention time.
 */
export class RequestQueue {
  readonly #queue: Queue;
  readonly #worker: Worker | undefined;
  readonly #workerConnection: Redis | undefined;
  readonly #options: RequestQueueOptions;

  constructor(options: RequestQueueOptions) {
    this.#options = options;
    const { redis, keys, retentionMs } = options;
    const age = Math.ceil(retentionMs / 1000);
    this.#queue = new Queue(keys.queue, {
      connection: redis,
      prefix: keys.queuePrefix,
      defaultJobOptions: { removeOnComplete: { age }, removeOnFail: { age }, attempts: 1 },
    });
    this.#queue.on('error', (err) => options.logger.debug({ err: err.message }, 'approval queue error'));
    if (options.onDue) {
      const onDue = options.onDue;
      // BullMQ's blocking reads need a client that waits for Redis rather than failing fast, and no command timeout.
      const connection = waitingConnection(redis);
      this.#workerConnection = connection;
      this.#worker = new Worker(
        keys.queue,
        async (job: Job, token?: string) => {
          const request = ApprovalRequestSchema.parse(job.data);
          const { again } = await onDue(request);
          if (again === undefined) return;
          // Promoted before its time with nothing decided, or approved and not yet used: wait again.
          await job.moveToDelayed(again, token);
          throw new DelayedError();
        },
        // An idle worker blocks for drainDelay seconds unless told of a due job, and only one worker is told:
        // when that one's instance dies, the others find its due jobs within drainDelay.
        { connection, prefix: keys.queuePrefix, concurrency: 16, drainDelay: 1 },
      );
      this.#worker.on('error', (err) => options.logger.debug({ err: err.message }, 'approval worker error'));
    }
  }

  async add(request: ApprovalRequest): Promise<void> {
    const delay = Math.max(0, request.expires_at - request.created_at);
    await this.#deadline(this.#queue.add('approval', request, { jobId: request.id, delay }), 'queueing an approval request');
  }

  /** The request behind an id, validated; undefined when there is none (or its retention ran out). */
  async get(id: string): Promise<ApprovalRequest | undefined> {
    const job = await this.#deadline(this.#queue.getJob(id), 'reading an approval request');
    return job ? ApprovalRequestSchema.parse(job.data) : undefined;
  }

  /** The requests behind `ids` in one round trip, each validated; undefined where a job is missing (not queued yet, or gone). */
  async requests(ids: readonly string[]): Promise<(ApprovalRequest | undefined)[]> {
    if (ids.length === 0) return [];
    const pipeline = this.#options.redis.pipeline();
    for (const id of ids) pipeline.hget(this.#queue.toKey(id), 'data');
    const replies = (await this.#deadline(pipeline.exec(), 'reading approval requests')) ?? [];
    return replies.map(([err, data]) => {
      if (err) throw err;
      return typeof data === 'string' ? parseRequest(data) : undefined;
    });
  }

  /** The ids of every job in these states. */
  async ids(states: JobState[]): Promise<string[]> {
    return this.#deadline(this.#queue.getRanges(states, 0, -1), 'listing approval requests');
  }

  /** Requests by job state, newest first, at most `limit`. */
  async list(states: JobState[], limit: number): Promise<ApprovalRequest[]> {
    const jobs = await this.#deadline(this.#queue.getJobs(states, 0, limit - 1, false), 'listing approval requests');
    const requests = jobs.flatMap((job) => {
      const parsed = ApprovalRequestSchema.safeParse(job?.data);
      return parsed.success ? [parsed.data] : [];
    });
    return requests.sort((a, b) => b.created_at - a.created_at).slice(0, limit);
  }

  /**
   * Tells `added` the id of every request queued from now on, from BullMQ's
   * event stream of the queue (no polling): read from the stream's end as
   * it is now, so a request queued while the caller lists the pending ones
   * is told too. The stream's connection waits for Redis and reconnects;
   * `connection` hears when it is lost and back, since what was queued
   * meanwhile may have been missed (a Redis restarted empty starts a new
   * stream).
   */
  async arrivals(handlers: { added(id: string): void; connection(state: 'lost' | 'back'): void }): Promise<{ close(): Promise<void> }> {
    const { redis, keys } = this.#options;
    const newest = await this.#deadline(redis.xrevrange(keys.queueEvents, '+', '-', 'COUNT', 1), 'reading the approval event stream');
    // No stream yet: from its very start, which is as new as anything listed after this.
    const lastEventId = newest[0]?.[0] ?? '0-0';
    // A blocking read needs a client that waits for Redis rather than failing fast (see the worker's). BullMQ makes
    // its own connection for it from these options (from an instance too: it duplicates one), and closes it.
    const connection: RedisOptions = {
      ...redis.options,
      lazyConnect: false,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      commandTimeout: undefined,
      autoResendUnfulfilledCommands: true,
      retryStrategy: reconnectDelayMs,
    };
    const events = new QueueEvents(keys.queue, {
      connection,
      prefix: keys.queuePrefix,
      lastEventId,
    });
    let lost = false;
    let closing = false;
    events.on('ioredis:close', () => {
      if (!lost && !closing) handlers.connection('lost');
      lost = true;
    });
    events.backend.on('ready', () => {
      if (lost) handlers.connection('back');
      lost = false;
    });
    events.on('added', ({ jobId }) => handlers.added(jobId));
    events.on('error', (err) => this.#options.logger.debug({ err: err.message }, 'approval event stream error'));
    await events.waitUntilReady();
    return {
      close: async () => {
        closing = true;
        await Promise.race([events.close().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS).unref())]);
      },
    };
  }

  /** After a decision: let the worker complete the job now rather than at the timeout. Best effort: the timeout completes it anyway. */
  async promote(id: string): Promise<void> {
    try {
      const job = await this.#deadline(this.#queue.getJob(id), 'promoting an approval request');
      if (job && (await job.isDelayed())) await job.promote();
    } catch (err) {
      this.#options.logger.debug({ approval_id: id, err: errorMessage(err) }, 'could not promote a decided approval job');
    }
  }

  /**
   * BullMQ's close waits for Redis (forever, while it is down), and a gateway
   * told to stop must stop: the worker only ever runs short expiry steps, so
   * it is forced, and each close gets a bounded wait.
   */
  async close(): Promise<void> {
    const bounded = (work: Promise<unknown>) =>
      Promise.race([work.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS).unref())]);
    if (this.#worker) await bounded(this.#worker.close(true));
    this.#workerConnection?.disconnect();
    await bounded(this.#queue.close());
  }

  #deadline<T>(work: Promise<T>, what: string): Promise<T> {
    return redisStep(work, this.#options.timeoutMs, what);
  }
}

/** A job's data as BullMQ stores it (JSON), validated; undefined when it is not a request (as a listing of jobs skips those). */
function parseRequest(data: string): ApprovalRequest | undefined {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return undefined;
  }
  const parsed = ApprovalRequestSchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}
