import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ArgumentsDigest } from '../arguments-digest.js';
import { describeDuration } from '../config/index.js';
import { AirlockError, ErrorCode, errorMessage } from '../errors.js';
import { Deciders, describeVoter, voterKey, type Decider, type Entitlement } from './deciders.js';
import { watchPending, type PendingWatchHandlers } from './arrivals.js';
import { HeldCalls } from './holding.js';
import { indexPendingRequests, listPending } from './pending-index.js';
import { approvalKeys, type ApprovalKeys } from './keys.js';
import { RequestQueue, type JobState } from './queue.js';
import { redisStep } from './redis-step.js';
import {
  isApprovalId,
  newApprovalId,
  type ApprovalRecord,
  type ApprovalRequest,
  type ApprovalState,
  type ApprovalStatus,
  type Execution,
} from './request.js';
import { ApprovalStore, type RedeemCode, type VoteInput } from './store.js';

export interface ApprovalsOptions {
  /** The request-path client (fails fast while Redis is down). */
  redis: Redis;
  prefix: string;
  /** Deadline of every Redis step, as for rate limits. */
  redisTimeoutMs: number;
  /** How long a decided request stays readable. */
  retentionMs: number;
  logger: Logger;
  /**
   * Hold calls and run the expiry worker (a gateway); false for a process
   * that only reads and decides (the CLI).
   */
  holder: boolean;
  /** How arguments are digested (the deployment's keyed digest): what an approval binds to. */
  digest: ArgumentsDigest;
  /** Who may decide, and which identities are one person (`people`); default: every identity its own person. */
  deciders?: Deciders;
  /** How long held calls outlive a lost Redis before they end [UNAVAILABLE]. */
  redisGraceMs?: number;
  /**
   * A request this instance ended while no instance holds its call (it
   * expired after its holder died, or an approve found the holder gone): the
   * channel hears of it from here, as nobody else will tell it.
   */
  onOrphaned?: (record: ApprovalRecord) => void;
  /**
   * A request a task holds has ended (decided, expired or withdrawn), heard
   * on whichever instance ends it or runs its timeout: the task's run takes
   * it from there (see Tasks). Called at least once per request; a throw is
   * retried.
   */
  onTaskDecided?: (request: ApprovalRequest) => Promise<void>;
}

export interface NewApproval {
  request_id?: string;
  grant: string | undefined;
  session: string | undefined;
  client: string | undefined;
  server: string;
  tool: string;
  risk?: { class: string; level: string };
  args: Record<string, unknown>;
  rule: string;
  reason: string;
  approvers: readonly string[];
  /** Whose list `approvers` is: the rule's, `approvals.approvers`, or none (console admins only). */
  approvers_from?: 'rule' | 'config';
  min_approvals: number;
  channel: string | undefined;
  timeout_ms: number;
}

export interface Held {
  request: ApprovalRequest;
  /** The request's final status; rejects AIRLOCK_REDIS_UNAVAILABLE when Redis is lost while waiting. */
  outcome: Promise<ApprovalStatus>;
}

/** A reviewer's vote as a channel hands it over; Approvals finds the person it counts for. */
export interface ReviewerVote extends Omit<VoteInput, 'person'> {
  /** User groups the decider belongs to (Slack `S…` ids), for rules that name a group. */
  memberOf?: readonly string[];
}

export type DecideResult =
  | { outcome: 'decided' | 'counted'; record: ApprovalRecord }
  /** Nothing changed: it was decided before (or expired, or its holder was gone), and `record` says by whom and when. */
  | { outcome: 'too_late'; record: ApprovalRecord };

export interface ListFilter {
  state?: ApprovalState;
  server?: string;
  tool?: string;
  grant?: string;
  limit?: number;
}

/**
 * Approval requests: one per held call, shared by every gateway instance
 * through Redis. The first decision wins; a timeout fires on any live
 * instance; the instance holding the call learns the outcome at once.
 * Knows nothing of Slack or the console: channels call `decide`.
 */
export class Approvals {
  readonly #options: ApprovalsOptions;
  readonly #keys: ApprovalKeys;
  readonly #store: ApprovalStore;
  readonly #queue: RequestQueue;
  readonly #deciders: Deciders;
  #held: HeldCalls | undefined;

  private constructor(options: ApprovalsOptions) {
    this.#options = options;
    this.#keys = approvalKeys(options.prefix);
    this.#deciders = options.deciders ?? new Deciders();
    this.#store = new ApprovalStore(options.redis, this.#keys, { timeoutMs: options.redisTimeoutMs, retentionMs: options.retentionMs });
    this.#queue = new RequestQueue({
      redis: options.redis,
      keys: this.#keys,
      timeoutMs: options.redisTimeoutMs,
      retentionMs: options.retentionMs,
      logger: options.logger,
      ...(options.holder && { onDue: (request) => this.#due(request) }),
    });
  }

  static async open(options: ApprovalsOptions): Promise<Approvals> {
    const approvals = new Approvals(options);
    try {
      await approvals.#indexEarlierRequests();
    } catch (err) {
      await approvals.#queue.close();
      throw err;
    }
    if (options.holder) {
      approvals.#held = await HeldCalls.start({
        redis: options.redis,
        store: approvals.#store,
        keys: approvals.#keys,
        redisGraceMs: options.redisGraceMs ?? DEFAULT_REDIS_GRACE_MS,
        logger: options.logger,
      });
    }
    return approvals;
  }

  /** The id this instance's held calls name as their holder (its lease key's suffix); undefined without `holder`. */
  get instance(): string | undefined {
    return this.#held?.instance;
  }

  /** How many calls this instance holds now. */
  get holding(): number {
    return this.#held?.size ?? 0;
  }

  /**
   * Opens a request for one call and holds it until the request ends.
   * `signal` aborting (the agent cancelled, or went away) withdraws it.
   */
  async hold(input: NewApproval, signal: AbortSignal, withdrawReason: (signal: AbortSignal) => string): Promise<Held> {
    const held = this.#held;
    if (!held) throw new Error('this Approvals was opened without holder: true');
    const id = newApprovalId();
    const digest = this.#options.digest(input.args);
    const times = await this.#store.create(id, {
      holder: held.instance,
      min_approvals: input.min_approvals,
      timeout_ms: input.timeout_ms,
      digest,
    });
    if (!times) throw new Error(`approval id ${id} is already taken`);
    const request = this.#request(id, input, digest, null, times);
    // Wait before the request can be seen (it is listed once queued), so no decision can slip past.
    const outcome = held.wait(request, signal, withdrawReason);
    outcome.catch(() => undefined);
    try {
      await this.#queue.add(request);
    } catch (err) {
      await this.#store.settle(id, 'withdrawn', 'it could not be queued').catch(() => undefined);
      throw err;
    }
    return { request, outcome };
  }

  /**
   * Opens a request for a call a task holds: no instance waits for it. The
   * task's lease, alive as long as the task, is its holder, so a reviewer can
   * decide it while the instance that made it is gone; its end reaches
   * `onTaskDecided`. `id` lets the task know its request's id before
   * anyone can decide it.
   */
  async open(
    input: NewApproval,
    task: { id: string; ttlMs: number },
    id: string = newApprovalId(),
  ): Promise<{ request: ApprovalRequest; outcome: undefined }> {
    return { request: await this.#openUnheld(input, `task:${task.id}`, task.ttlMs, task.id, id), outcome: undefined };
  }

  /**
   * Opens the request of a call in approval pending mode (`id`: its claim's,
   * see claimPending): the call was answered at once, so no instance waits
   * for it. Its holder is a lease of its own that lives through the timeout
   * and the repeat window (`leaseMs`): a reviewer can approve it until it
   * expires, and once the lease lapses an approval nobody repeated the call
   * for is ended as not sent.
   */
  async openPending(input: NewApproval, id: string, leaseMs: number): Promise<{ request: ApprovalRequest; outcome: undefined }> {
    return { request: await this.#openUnheld(input, `${PENDING_HOLDER}${id}`, leaseMs, null, id), outcome: undefined };
  }

  /**
   * The request of a call in approval pending mode, found by what binds it
   * (grant, session, server, tool, rule and the arguments' digest), or a
   * claim to open one for it with a new id: the first of identical calls
   * racing gets the claim, the rest its id. `ttlMs`: the timeout and the
   * repeat window, after which the call is a new one.
   */
  async claimPending(call: PendingBinding, ttlMs: number): Promise<PendingClaim> {
    const digest = this.#options.digest(call.args);
    const binding = JSON.stringify([call.grant ?? null, call.session ?? null, call.server, call.tool, call.rule, digest]);
    const key = this.#keys.pendingCall(createHash('sha256').update(binding).digest('base64url'));
    const found = await this.#store.claimPending(key, newApprovalId(), ttlMs);
    return { ...found, key, digest };
  }

  /** Gives up a claim whose request was not opened after all, so the next identical call is a new one. */
  async dropPending(claim: PendingClaim): Promise<void> {
    await this.#store.dropPending(claim.key, claim.id);
  }

  /**
   * One repeat's try at the approval of its call (see pending-redeem.lua):
   * `ok` when it alone runs under it, with the arguments to be sent checked
   * against those approved and stored (`tampered` otherwise, and the approval
   * is spent).
   */
  async redeemPending(claim: PendingClaim, args: Record<string, unknown>, windowMs: number): Promise<Redeemed> {
    const sending = this.#options.digest(args);
    const [step, request] = await Promise.all([
      this.#store.redeemPending(claim.id, claim.key, sending, windowMs),
      this.#queue.get(claim.id),
    ]);
    if (step.code === 'moved' || step.code === 'missing') return { code: step.code };
    if (!request) return { code: 'missing' };
    const record = { request, status: step.status };
    if (step.code !== 'ok') return { code: step.code, record };
    const mismatch = argumentsMismatch(claim.id, {
      sending,
      held: claim.digest,
      requested: request.digest,
      approved: step.status.digest,
      stored: this.#options.digest(request.arguments),
    });
    return mismatch === undefined ? { code: 'ok', record } : { code: 'tampered', record, detail: mismatch };
  }

  async #openUnheld(input: NewApproval, holder: string, leaseMs: number, taskId: string | null, id: string): Promise<ApprovalRequest> {
    assertApprovalId(id);
    const digest = this.#options.digest(input.args);
    await redisStep(
      this.#options.redis.set(this.#keys.lease(holder), '1', 'PX', leaseMs),
      this.#options.redisTimeoutMs,
      'opening an approval request',
    );
    const times = await this.#store.create(id, {
      holder,
      min_approvals: input.min_approvals,
      timeout_ms: input.timeout_ms,
      digest,
    });
    if (!times) throw new Error(`approval id ${id} is already taken`);
    const request = this.#request(id, input, digest, taskId, times);
    try {
      await this.#queue.add(request);
    } catch (err) {
      await this.#store.settle(id, 'withdrawn', 'it could not be queued').catch(() => undefined);
      throw err;
    }
    return request;
  }

  /** Whether `decider` may decide this request, and the person they count as: `decide` refuses whoever may not. */
  entitlement(request: ApprovalRequest, decider: Decider): Entitlement {
    return this.#deciders.entitlement(request, decider);
  }

  /** The `people` name an identity belongs to, if one links it. */
  personOf(decider: Pick<Decider, 'via' | 'id'>): string | undefined {
    return this.#deciders.personOf(decider);
  }

  async decide(id: string, decision: ReviewerVote): Promise<DecideResult> {
    const record = await this.get(id);
    const entitled = this.#deciders.entitlement(record.request, {
      via: decision.via,
      id: decision.by,
      ...(decision.memberOf && { memberOf: decision.memberOf }),
    });
    if (!entitled.ok) throw new AirlockError(ErrorCode.NotApprover, entitled.message);
    const { memberOf: _memberOf, ...vote } = decision;
    const step = await this.#store.decide(id, this.#keys.lease(record.status.holder), {
      ...vote,
      ...(entitled.person !== undefined && { person: entitled.person }),
    });
    if (step.code === 'missing') throw notFound(id);
    const after = { request: record.request, status: step.status };
    if (step.code === 'duplicate') {
      const key = voterKey({ by: decision.by, via: decision.via, ...(entitled.person !== undefined && { person: entitled.person }) });
      const earlier = step.status.votes.find((v) => v.verdict === 'approve' && voterKey(v) === key);
      const who = earlier
        ? `${describeVoter(earlier)}${earlier.person !== undefined ? ` (as ${earlier.via === 'slack' ? 'Slack user' : 'admin'} ${earlier.by})` : ''}`
        : decision.by;
      throw new AirlockError(
        ErrorCode.ApprovalDecided,
        `${id} was already approved by ${who}; one person approves once, and ${step.status.min_approvals} different people must approve`,
      );
    }
    if (step.code === 'counted') return { outcome: 'counted', record: after };
    if (step.code === 'orphaned') this.#orphaned(after, true);
    if (step.code === 'expired') await this.#endedHere(after);
    if (step.code !== 'decided') return { outcome: 'too_late', record: after };
    // Awaited: a CLI process exits right after deciding, and the worker's check that an approval gets used starts here.
    // A task's run is queued from here at once, beside the promotion; the worker's step after it queues it too, had this failed.
    await Promise.all([
      this.#queue.promote(id),
      record.request.task_id !== null &&
        this.#options
          .onTaskDecided?.(record.request)
          .catch((err: unknown) =>
            this.#options.logger.warn({ approval_id: id, err: errorMessage(err) }, 'could not start the run of an approved task'),
          ),
    ]);
    return { outcome: 'decided', record: after };
  }

  /** Marks an approved request used by the one call it covers; throws unless it was approved, unused and for exactly these arguments. */
  async consume(request: ApprovalRequest, args: Record<string, unknown>): Promise<ApprovalStatus> {
    // The stored arguments are read beside the step, not after it: a released call waits for both.
    const [step, stored] = await Promise.all([this.#store.consume(request.id), this.#queue.get(request.id)]);
    if (step.code === 'missing') throw notFound(request.id);
    if (step.code !== 'ok')
      throw new AirlockError(
        ErrorCode.ApprovalDecided,
        `approval ${request.id} ${step.code === 'used' ? 'already covered a call' : `is ${step.status.state}, not approved`}`,
      );
    const mismatch = argumentsMismatch(request.id, {
      sending: this.#options.digest(args),
      held: request.digest,
      approved: step.status.digest,
      stored: stored ? this.#options.digest(stored.arguments) : 'missing',
    });
    if (mismatch !== undefined) throw new AirlockError(ErrorCode.ApprovalTampered, mismatch);
    return step.status;
  }

  async recordExecution(id: string, execution: Execution): Promise<void> {
    await this.#store.annotate(id, { execution });
  }

  async setChannelRef(id: string, ref: string): Promise<void> {
    await this.#store.annotate(id, { channel_ref: ref });
  }

  /** Withdraws a request whose call will not wait for it (its channel could not post it). */
  async withdraw(id: string, reason: string): Promise<void> {
    const step = await this.#store.settle(id, 'withdrawn', reason);
    if (step.code === 'settled') void this.#queue.promote(id);
  }

  async get(id: string): Promise<ApprovalRecord> {
    assertApprovalId(id);
    const [request, status] = await Promise.all([this.#queue.get(id), this.#store.status(id)]);
    if (!request || !status) throw notFound(id);
    return { request, status };
  }

  async list(filter: ListFilter = {}): Promise<ApprovalRecord[]> {
    const limit = filter.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1)
      throw new AirlockError(ErrorCode.BadArguments, `a listing's limit must be a whole number of at least 1, got ${String(limit)}`);
    if (filter.state === 'pending') return listPending({ store: this.#store, queue: this.#queue }, filter, limit);
    // Other states are not indexed: the newest jobs are read and filtered (a decided request's job may still be delayed).
    const jobStates: JobState[] = ['delayed', 'waiting', 'active', 'completed', 'failed'];
    const candidates = (await this.#queue.list(jobStates, LIST_SCAN)).filter(
      (r) =>
        (filter.server === undefined || r.server === filter.server) &&
        (filter.tool === undefined || r.tool === filter.tool) &&
        (filter.grant === undefined || r.grant === filter.grant),
    );
    const statuses = await this.#store.statuses(candidates.map((r) => r.id));
    const records: ApprovalRecord[] = [];
    candidates.forEach((request, i) => {
      const status = statuses[i];
      if (status && (filter.state === undefined || status.state === filter.state)) records.push({ request, status });
    });
    return records.slice(0, limit);
  }

  /**
   * Tells `handlers` of each pending request once: those pending now, then
   * each new one as it is queued, across Redis restarts (see watchPending).
   */
  watchPending(handlers: PendingWatchHandlers): Promise<{ close(): Promise<void> }> {
    return watchPending({ queue: this.#queue, list: (filter) => this.list(filter), get: (id) => this.get(id) }, handlers);
  }

  /** How many processes hold calls through this Redis now (each subscribes to the decisions channel): 0 says no gateway uses it. */
  async holders(): Promise<number> {
    const reply = (await redisStep(
      this.#options.redis.pubsub('NUMSUB', this.#keys.events),
      this.#options.redisTimeoutMs,
      'counting the gateways',
    )) as [string, number];
    return Number(reply[1] ?? 0);
  }

  /** Ends every call this instance holds as withdrawn, saying why: reviewers see it, and each agent is told to call again. */
  async withdrawHeld(reason: string): Promise<void> {
    await this.#held?.withdrawAll(reason);
  }

  async close(): Promise<void> {
    await this.#held?.close();
    await this.#queue.close();
  }

  /**
   * Requests opened by an earlier Airlock are missing from the index of
   * pending requests, and a pending list must not hide them. A gateway
   * indexes every pending request when it starts and marks the index kept;
   * a process that only reads and decides (the CLI) indexes them itself
   * until a gateway has. One an instance still on the earlier version opens
   * later is indexed when the next gateway starts (after a rolling upgrade's
   * last restart at the latest); a watch is told of it as it arrives anyway.
   */
  async #indexEarlierRequests(): Promise<void> {
    const { redis, redisTimeoutMs, holder, logger } = this.#options;
    if (!holder && (await redisStep(redis.exists(this.#keys.pendingKept), redisTimeoutMs, 'reading the index of pending requests')) === 1)
      return;
    const pending = await indexPendingRequests({ store: this.#store, queue: this.#queue });
    if (holder) await redisStep(redis.set(this.#keys.pendingKept, '1'), redisTimeoutMs, 'marking the index of pending requests');
    logger.debug({ pending }, 'indexed the approval requests pending now');
  }

  #request(
    id: string,
    input: NewApproval,
    digest: string,
    taskId: string | null,
    times: { created_at: number; expires_at: number },
  ): ApprovalRequest {
    return {
      id,
      request_id: input.request_id ?? null,
      grant: input.grant ?? null,
      session: input.session ?? null,
      client: input.client ?? null,
      server: input.server,
      tool: input.tool,
      risk: input.risk ?? null,
      arguments: input.args,
      digest,
      rule: input.rule,
      reason: input.reason,
      approvers: [...input.approvers],
      approvers_from: input.approvers.length > 0 ? (input.approvers_from ?? null) : null,
      min_approvals: input.min_approvals,
      channel: input.channel ?? null,
      timeout_ms: input.timeout_ms,
      task_id: taskId,
      ...times,
    };
  }

  /**
   * The worker's step when a request's delay is over: at its timeout it
   * expires; promoted after an approval, it checks that the approval is used,
   * until it is or its holder is gone (then nobody ever will: see #forsakeIfUnheld).
   * Returns when to run again, if ever.
   */
  async #due(request: ApprovalRequest): Promise<{ again?: number }> {
    try {
      return await this.#dueStep(request);
    } catch (err) {
      // A failed step would fail the job for good, and then nobody would expire the request or check its approval again.
      const now = Date.now();
      const fields = { approval_id: request.id, request_id: request.request_id, err: errorMessage(err) };
      if (now - request.expires_at > FORSAKE_CHECKS_MS) {
        this.#options.logger.error(fields, "an approval request's timeout step kept failing; no longer retrying it");
        return {};
      }
      this.#options.logger.warn(fields, "an approval request's timeout step failed; retrying it");
      return { again: now + this.#recheckMs };
    }
  }

  async #dueStep(request: ApprovalRequest): Promise<{ again?: number }> {
    const step = await this.#store.settle(request.id, 'expired', `nobody decided within ${describeDuration(request.timeout_ms)}`);
    if (step.code === 'early') return { again: request.expires_at };
    // A task holds it: however it ended, the task's run says so to the agent, the channel and the trail.
    if (request.task_id !== null) {
      if (step.code !== 'missing') await this.#options.onTaskDecided?.(request);
      return {};
    }
    if (step.code === 'settled') await this.#endedHere({ request, status: step.status });
    if (step.code === 'already' && step.status.state === 'approved') return this.#forsakeIfUnheld({ request, status: step.status });
    return {};
  }

  /**
   * An approval whose holder died before it could use it (killed between the
   * click and the call) would stay "approved" with nothing run and nobody to
   * say so: once the holder's lease has lapsed it is ended here, marked used
   * and recorded as not sent, and the channel and the audit trail are told.
   */
  async #forsakeIfUnheld(record: ApprovalRecord): Promise<{ again?: number }> {
    const { request, status } = record;
    const detail = isPendingHolder(status.holder)
      ? 'approved, but the agent did not repeat the call within the pending window (approvals.pending.window): the call was not sent'
      : 'approved, but the gateway instance holding the call stopped before sending it: the call was not sent';
    const step = await this.#store.forsake(request.id, this.#keys.lease(status.holder), { result: 'refused', ms: 0, detail });
    if (step.code === 'forsaken') {
      this.#orphaned({ request, status: step.status }, true);
      return {};
    }
    if (step.code !== 'holder_alive') return {};
    const now = Date.now();
    // A pending call's lease ends with its repeat window, however long: look again then, not every few seconds.
    if (isPendingHolder(status.holder)) {
      const left = await this.#options.redis.pttl(this.#keys.lease(status.holder));
      return { again: now + Math.max(this.#recheckMs, left) };
    }
    if (now - (status.decided_at ?? now) > FORSAKE_CHECKS_MS) {
      this.#options.logger.warn(
        { approval_id: request.id, request_id: request.request_id, holder: status.holder },
        'an approval is still unused by its live holder; no longer checking it',
      );
      return {};
    }
    return { again: now + this.#recheckMs };
  }

  /** How long the worker waits before it looks again at a step that failed or an approval not yet used. */
  get #recheckMs(): number {
    return this.#options.redisGraceMs ?? DEFAULT_REDIS_GRACE_MS;
  }

  /** This instance ended a request without a reviewer: a live holder hears it over pub/sub, a dead one cannot. */
  async #endedHere(record: ApprovalRecord): Promise<void> {
    // A pending call's lease is no call waiting: nobody else would tell the channel and the trail.
    const holderAlive =
      !isPendingHolder(record.status.holder) &&
      (await this.#options.redis.exists(this.#keys.lease(record.status.holder)).catch(() => 1)) === 1;
    if (!holderAlive) this.#orphaned(record, true);
    else void this.#queue.promote(record.request.id);
  }

  #orphaned(record: ApprovalRecord, holderGone: boolean): void {
    this.#options.logger.info(
      { approval_id: record.request.id, request_id: record.request.request_id, state: record.status.state, holder_gone: holderGone },
      'approval request ended with no instance holding its call',
    );
    void this.#queue.promote(record.request.id);
    this.#options.onOrphaned?.(record);
  }
}

/** Why the arguments about to be sent under approval `id` are not the ones approved, unless every digest of them agrees. */
function argumentsMismatch(id: string, digests: Record<string, string>): string | undefined {
  if (new Set(Object.values(digests)).size === 1) return undefined;
  return `the arguments about to be sent do not match the ones approved for ${id} (${JSON.stringify(digests)})`;
}

/** The holder of a call in approval pending mode's request: `pending:<approval id>`, a lease of its own. */
const PENDING_HOLDER = 'pending:';

/** Whether a request's holder is a call in approval pending mode's lease: nobody waits for its end. */
export function isPendingHolder(holder: string): boolean {
  return holder.startsWith(PENDING_HOLDER);
}

/** What binds a call in approval pending mode to its request: a repeat that differs in any of them is another call. */
export interface PendingBinding {
  grant: string | undefined;
  session: string | undefined;
  server: string;
  tool: string;
  /** The rule that holds it: a changed tool or policy that holds it by another rule asks anew. */
  rule: string;
  args: Record<string, unknown>;
}

/** A call's claim on its request (see claimPending): `claimed` when this call opens it. */
export interface PendingClaim {
  claimed: boolean;
  id: string;
  /** Its pending key. */
  key: string;
  /** Its arguments' digest. */
  digest: string;
}

/** What a repeat found (see pending-redeem.lua): `moved`, the request is over and the repeat is a new call; `missing`, it is not readable (yet). */
export type Redeemed =
  | { code: 'moved' | 'missing' }
  | { code: Exclude<RedeemCode, 'tampered'>; record: ApprovalRecord }
  | { code: 'tampered'; record: ApprovalRecord; detail?: string };

/** `redisGraceMs` unless given; also how often the worker looks again at an approval its holder has not used yet. */
const DEFAULT_REDIS_GRACE_MS = 2_000;

/** How long after an approval the worker keeps checking that its live holder used it, and after a timeout it retries a failing step. */
const FORSAKE_CHECKS_MS = 10 * 60_000;

/** The most requests one listing reads before filtering. */
const LIST_SCAN = 10_000;

/** Refuses text that is not an approval id (before anything asks Redis about it). */
export function assertApprovalId(id: string): void {
  if (!isApprovalId(id))
    throw new AirlockError(
      ErrorCode.BadArguments,
      `${JSON.stringify(id)} is not an approval id (they look like apr_ followed by 22 letters, digits, - or _)`,
    );
}

function notFound(id: string): AirlockError {
  return new AirlockError(ErrorCode.ApprovalNotFound, `no approval request ${id} (unknown, or decided longer ago than the retention)`);
}
