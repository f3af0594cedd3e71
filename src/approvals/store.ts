import { readFileSync } from 'node:fs';
import type { Redis, Result } from 'ioredis';
import type { ApprovalKeys } from './keys.js';
import { redisStep } from './redis-step.js';
import { parseStatus, type ApprovalStatus, type Execution } from './request.js';

const lua = (name: string) => readFileSync(new URL(`./${name}.lua`, import.meta.url), 'utf8');
// Redis scripts cannot import: the helpers they share are put in front of each.
const script = (name: string) => `${lua('state')}\n${lua(name)}`;
const SCRIPTS = {
  airlockApprovalCreate: { lua: script('create'), numberOfKeys: 1 },
  airlockApprovalDecide: { lua: script('decide'), numberOfKeys: 2 },
  airlockApprovalSettle: { lua: script('settle'), numberOfKeys: 1 },
  airlockApprovalConsume: { lua: script('consume'), numberOfKeys: 1 },
  airlockApprovalAnnotate: { lua: script('annotate'), numberOfKeys: 1 },
  airlockApprovalForsake: { lua: script('forsake'), numberOfKeys: 2 },
};

declare module 'ioredis' {
  // ioredis adds commands made with defineCommand at run time; this tells TypeScript about ours.
  interface RedisCommander<Context> {
    airlockApprovalCreate(key: string, ...args: (string | number)[]): Result<number[], Context>;
    airlockApprovalDecide(state: string, lease: string, ...args: (string | number)[]): Result<string[], Context>;
    airlockApprovalSettle(key: string, ...args: (string | number)[]): Result<string[], Context>;
    airlockApprovalConsume(key: string): Result<string[], Context>;
    airlockApprovalAnnotate(key: string, ...fieldsAndValues: string[]): Result<number, Context>;
    airlockApprovalForsake(state: string, lease: string, ...args: string[]): Result<string[], Context>;
  }
}

export type DecideCode = 'decided' | 'counted' | 'already' | 'duplicate' | 'expired' | 'orphaned';
export type SettleCode = 'settled' | 'already' | 'early';
export type ConsumeCode = 'ok' | 'not_approved' | 'used';
export type ForsakeCode = 'forsaken' | 'holder_alive' | 'done' | 'not_approved';
export type Step<C extends string> = { code: C; status: ApprovalStatus } | { code: 'missing' };

export interface Verdict {
  verdict: 'approve' | 'reject';
  by: string;
  reason: string;
  /** The channel it came through: `console`, `slack`. */
  via: string;
  /** A display name when `by` is an id (a Slack user's real name). */
  name?: string;
  /** The `people` entry `by` belongs to, if one links it: one person's votes count once. */
  person?: string;
}

/**
 * The state of every approval request, in Redis hashes changed only by the
 * scripts beside this file: each step is atomic, so concurrent decisions on
 * any number of instances leave exactly one outcome.
 */
export class ApprovalStore {
  readonly #redis: Redis;
  readonly #keys: ApprovalKeys;
  readonly #timeoutMs: number;
  readonly #retentionMs: number;

  constructor(redis: Redis, keys: ApprovalKeys, options: { timeoutMs: number; retentionMs: number }) {
    this.#redis = redis;
    this.#keys = keys;
    this.#timeoutMs = options.timeoutMs;
    this.#retentionMs = options.retentionMs;
    for (const [name, definition] of Object.entries(SCRIPTS)) redis.defineCommand(name, definition);
  }

  /** Opens a pending request; resolves with its created and expiry times (Redis clock), or undefined if the id is taken. */
  async create(id: string, fields: { holder: string; min_approvals: number; timeout_ms: number; digest: string }): Promise<{ created_at: number; expires_at: number } | undefined> {
    const reply = await this.#deadline(
      this.#redis.airlockApprovalCreate(this.#keys.state(id), fields.holder, fields.min_approvals, fields.timeout_ms, fields.digest, this.#retentionMs),
      'opening an approval request',
    );
    const [created_at = -1, expires_at = -1] = reply;
    return created_at < 0 ? undefined : { created_at, expires_at };
  }

  async decide(id: string, lease: string, vote: Verdict): Promise<Step<DecideCode>> {
    const reply = await this.#deadline(
      this.#redis.airlockApprovalDecide(this.#keys.state(id), lease, vote.verdict, vote.by, vote.reason, vote.via, this.#retentionMs, this.#keys.events, id, vote.name ?? '', vote.person ?? ''),
      'recording a decision',
    );
    return step<DecideCode>(reply);
  }

  async settle(id: string, to: 'expired' | 'withdrawn', reason: string): Promise<Step<SettleCode>> {
    const reply = await this.#deadline(this.#redis.airlockApprovalSettle(this.#keys.state(id), to, reason, this.#retentionMs, this.#keys.events, id), 'ending an approval request');
    return step<SettleCode>(reply);
  }

  async consume(id: string): Promise<Step<ConsumeCode>> {
    return step<ConsumeCode>(await this.#deadline(this.#redis.airlockApprovalConsume(this.#keys.state(id)), 'using an approval'));
  }

  /** Ends an approved request nobody can use any more (its holder's lease is gone), recording why its call was not sent. */
  async forsake(id: string, lease: string, execution: Execution): Promise<Step<ForsakeCode>> {
    const reply = await this.#deadline(this.#redis.airlockApprovalForsake(this.#keys.state(id), lease, JSON.stringify(execution), this.#keys.events, id), 'ending an unused approval');
    return step<ForsakeCode>(reply);
  }

  async status(id: string): Promise<ApprovalStatus | undefined> {
    const fields = await this.#deadline(this.#redis.hgetall(this.#keys.state(id)), 'reading an approval request');
    return Object.keys(fields).length === 0 ? undefined : parseStatus(fields);
  }

  async statuses(ids: readonly string[]): Promise<(ApprovalStatus | undefined)[]> {
    if (ids.length === 0) return [];
    const pipeline = this.#redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.#keys.state(id));
    const replies = (await this.#deadline(pipeline.exec(), 'reading approval requests')) ?? [];
    return replies.map(([err, fields]) => {
      if (err) throw err;
      const object = fields as Record<string, string>;
      return Object.keys(object).length === 0 ? undefined : parseStatus(object);
    });
  }

  /** Fields only the holder writes after the outcome (what the server answered) or the channel (its message handle). */
  async annotate(id: string, fields: { execution?: Execution; channel_ref?: string }): Promise<void> {
    const values: string[] = [];
    if (fields.execution) values.push('execution', JSON.stringify(fields.execution));
    if (fields.channel_ref !== undefined) values.push('channel_ref', fields.channel_ref);
    if (values.length === 0) return;
    await this.#deadline(this.#redis.airlockApprovalAnnotate(this.#keys.state(id), ...values), 'annotating an approval request');
  }

  #deadline<T>(work: Promise<T>, what: string): Promise<T> {
    return redisStep(work, this.#timeoutMs, what);
  }
}

function step<C extends string>(reply: string[]): Step<C> {
  const [code, ...fields] = reply;
  if (code === 'missing') return { code };
  return { code: code as C, status: parseStatus(fields) };
}
