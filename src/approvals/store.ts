import type { Redis } from 'ioredis';
import { defineLuaScripts, LuaScript, type LuaCommands } from '../redis/index.js';
import type { ApprovalKeys } from './keys.js';
import { redisStep } from './redis-step.js';
import { parseStatus, type ApprovalStatus, type Execution } from './request.js';

const file = (name: string) => new URL(`./${name}.lua`, import.meta.url);
// KEYS, then ARGV, as each script's header lists them.
const SCRIPTS = {
  create: new LuaScript<
    number[],
    [state: string, pending: string],
    [holder: string, minApprovals: number, timeoutMs: number, digest: string, retentionMs: number, id: string]
  >({ name: 'airlockApprovalCreate', file: file('create'), numberOfKeys: 2 }),
  decide: new LuaScript<
    string[],
    [state: string, lease: string, pending: string],
    [
      verdict: 'approve' | 'reject',
      by: string,
      reason: string,
      via: string,
      retentionMs: number,
      events: string,
      id: string,
      name: string,
      person: string,
    ]
  >({
    name: 'airlockApprovalDecide',
    file: file('decide'),
    numberOfKeys: 3,
  }),
  settle: new LuaScript<
    string[],
    [state: string, pending: string],
    [to: 'expired' | 'withdrawn', reason: string, retentionMs: number, events: string, id: string]
  >({ name: 'airlockApprovalSettle', file: file('settle'), numberOfKeys: 2 }),
  reindex: new LuaScript<0 | 1, [state: string, pending: string], [id: string]>({
    name: 'airlockApprovalReindex',
    file: file('reindex'),
    numberOfKeys: 2,
  }),
  consume: new LuaScript<string[], [state: string], []>({ name: 'airlockApprovalConsume', file: file('consume'), numberOfKeys: 1 }),
  annotate: new LuaScript<number, [state: string], string[]>({ name: 'airlockApprovalAnnotate', file: file('annotate'), numberOfKeys: 1 }),
  forsake: new LuaScript<string[], [state: string, lease: string], [execution: string, events: string, id: string]>({
    name: 'airlockApprovalForsake',
    file: file('forsake'),
    numberOfKeys: 2,
  }),
  pendingClaim: new LuaScript<[code: 'claimed' | 'existing', id: string], [pending: string], [id: string, ttlMs: number]>({
    name: 'airlockApprovalPendingClaim',
    file: file('pending-claim'),
    numberOfKeys: 1,
  }),
  pendingDrop: new LuaScript<number, [pending: string], [id: string]>({
    name: 'airlockApprovalPendingDrop',
    file: file('pending-drop'),
    numberOfKeys: 1,
  }),
  pendingRedeem: new LuaScript<string[], [state: string, pending: string], [id: string, digest: string, windowMs: number]>({
    name: 'airlockApprovalPendingRedeem',
    file: file('pending-redeem'),
    numberOfKeys: 2,
  }),
};

export type DecideCode = 'decided' | 'counted' | 'already' | 'duplicate' | 'expired' | 'orphaned';
export type SettleCode = 'settled' | 'already' | 'early';
export type ConsumeCode = 'ok' | 'not_approved' | 'used';
export type ForsakeCode = 'forsaken' | 'holder_alive' | 'done' | 'not_approved';
export type RedeemCode = 'ok' | 'pending' | 'used' | 'lapsed' | 'ended' | 'tampered';
export type Step<C extends string> = { code: C; status: ApprovalStatus } | { code: 'missing' };

export interface VoteInput {
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
  readonly #run: LuaCommands<typeof SCRIPTS>;

  constructor(redis: Redis, keys: ApprovalKeys, options: { timeoutMs: number; retentionMs: number }) {
    this.#redis = redis;
    this.#keys = keys;
    this.#timeoutMs = options.timeoutMs;
    this.#retentionMs = options.retentionMs;
    this.#run = defineLuaScripts(redis, SCRIPTS);
  }

  /** Opens a pending request; resolves with its created and expiry times (Redis clock), or undefined if the id is taken. */
  async create(
    id: string,
    fields: { holder: string; min_approvals: number; timeout_ms: number; digest: string },
  ): Promise<{ created_at: number; expires_at: number } | undefined> {
    const reply = await this.#deadline(
      this.#run.create(
        [this.#keys.state(id), this.#keys.pending],
        [fields.holder, fields.min_approvals, fields.timeout_ms, fields.digest, this.#retentionMs, id],
      ),
      'opening an approval request',
    );
    const [created_at = -1, expires_at = -1] = reply;
    return created_at < 0 ? undefined : { created_at, expires_at };
  }

  async decide(id: string, lease: string, vote: VoteInput): Promise<Step<DecideCode>> {
    const reply = await this.#deadline(
      this.#run.decide(
        [this.#keys.state(id), lease, this.#keys.pending],
        [vote.verdict, vote.by, vote.reason, vote.via, this.#retentionMs, this.#keys.events, id, vote.name ?? '', vote.person ?? ''],
      ),
      'recording a decision',
    );
    return step<DecideCode>(reply);
  }

  async settle(id: string, to: 'expired' | 'withdrawn', reason: string): Promise<Step<SettleCode>> {
    const reply = await this.#deadline(
      this.#run.settle([this.#keys.state(id), this.#keys.pending], [to, reason, this.#retentionMs, this.#keys.events, id]),
      'ending an approval request',
    );
    return step<SettleCode>(reply);
  }

  async consume(id: string): Promise<Step<ConsumeCode>> {
    return step<ConsumeCode>(await this.#deadline(this.#run.consume([this.#keys.state(id)], []), 'using an approval'));
  }

  /** Ends an approved request nobody can use any more (its holder's lease is gone), recording why its call was not sent. */
  async forsake(id: string, lease: string, execution: Execution): Promise<Step<ForsakeCode>> {
    const reply = await this.#deadline(
      this.#run.forsake([this.#keys.state(id), lease], [JSON.stringify(execution), this.#keys.events, id]),
      'ending an unused approval',
    );
    return step<ForsakeCode>(reply);
  }

  /** The request of a call in approval pending mode (`pending`: its key), or a claim to open `id` for it. */
  async claimPending(pending: string, id: string, ttlMs: number): Promise<{ claimed: boolean; id: string }> {
    const [code, found] = await this.#deadline(this.#run.pendingClaim([pending], [id, ttlMs]), 'looking up a pending approval');
    return { claimed: code === 'claimed', id: found };
  }

  async dropPending(pending: string, id: string): Promise<void> {
    await this.#deadline(this.#run.pendingDrop([pending], [id]), 'dropping a pending approval');
  }

  /** One repeat's try at the approval of a call in approval pending mode: see pending-redeem.lua. */
  async redeemPending(id: string, pending: string, digest: string, windowMs: number): Promise<Step<RedeemCode> | { code: 'moved' }> {
    const reply = await this.#deadline(
      this.#run.pendingRedeem([this.#keys.state(id), pending], [id, digest, windowMs]),
      'using a pending approval',
    );
    if (reply[0] === 'moved') return { code: 'moved' };
    return step<RedeemCode>(reply);
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

  /**
   * Up to `count` ids from the index of pending requests, newest first,
   * starting after `after` (the last one a previous page returned). The
   * cursor is a score and an id, not an offset, so requests ending while
   * a listing reads page after page cannot make it skip one still pending.
   */
  async pendingPage(after: PendingEntry | undefined, count: number): Promise<PendingEntry[]> {
    const key = this.#keys.pending;
    if (!after) return entries(await this.#deadline(this.#redis.zrevrange(key, 0, count - 1, 'WITHSCORES'), 'listing pending requests'));
    // Redis orders equal scores (requests opened in one millisecond) by id, descending, as this reads them.
    const [ties, older] = await this.#deadline(
      Promise.all([
        this.#redis.zrevrangebyscore(key, after.score, after.score, 'WITHSCORES'),
        this.#redis.zrevrangebyscore(key, `(${after.score}`, '-inf', 'WITHSCORES', 'LIMIT', 0, count),
      ]),
      'listing pending requests',
    );
    return [...entries(ties).filter((e) => e.id < after.id), ...entries(older)].slice(0, count);
  }

  /**
   * Makes each request's entry in the index of pending requests agree with
   * its record (see reindex.lua); resolves with which of them are pending.
   */
  async reindex(ids: readonly string[]): Promise<boolean[]> {
    const replies = await this.#deadline(
      Promise.all(ids.map((id) => this.#run.reindex([this.#keys.state(id), this.#keys.pending], [id]))),
      'indexing pending requests',
    );
    return replies.map((reply) => reply === 1);
  }

  /** Fields only the holder writes after the outcome (what the server answered) or the channel (its message handle). */
  async annotate(id: string, fields: { execution?: Execution; channel_ref?: string }): Promise<void> {
    const values: string[] = [];
    if (fields.execution) values.push('execution', JSON.stringify(fields.execution));
    if (fields.channel_ref !== undefined) values.push('channel_ref', fields.channel_ref);
    if (values.length === 0) return;
    await this.#deadline(this.#run.annotate([this.#keys.state(id)], values), 'annotating an approval request');
  }

  #deadline<T>(work: Promise<T>, what: string): Promise<T> {
    return redisStep(work, this.#timeoutMs, what);
  }
}

/** One entry of the index of pending requests: an id and its created_at. */
export interface PendingEntry {
  id: string;
  score: number;
}

function entries(flat: string[]): PendingEntry[] {
  const out: PendingEntry[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: flat[i] as string, score: Number(flat[i + 1]) });
  return out;
}

function step<C extends string>(reply: string[]): Step<C> {
  const [code, ...fields] = reply;
  if (code === 'missing') return { code };
  return { code: code as C, status: parseStatus(fields) };
}
