import { randomUUID } from 'node:crypto';
import type { CallToolResult } from '@modelcontextprotocol/server';
import { errorMessage } from '../errors.js';
import { ProtocolError } from './errors.js';
import { INTERNAL_ERROR, type Question } from './questions.js';

/** What a parked call's client is answered with next: the call's result, or the questions its server is waiting on. */
export type Round = { result: CallToolResult } | { questions: Record<string, Question> };

/** How long a parked call waits for its client's next retry before its questions are refused and the call abandoned. */
export const PARKED_CALL_TTL_MS = 5 * 60_000;

/** Most calls one instance keeps parked: each holds an upstream call open. */
export const MAX_PARKED_CALLS = 1_000;

interface Pending {
  question: Question;
  answer: (result: Record<string, unknown>) => void;
  refuse: (err: Error) => void;
}

/**
 * A 2026 client's call to a 2025 server that asked something mid-call: the
 * upstream call goes on running here while the client is answered
 * `input_required` and gathers the answers, which come back in a retry (on
 * this instance, or forwarded here). Questions that arrive together are asked
 * together; a retry that leaves one unanswered is asked it again, as the
 * spec has a server do.
 */
export class ParkedCall {
  readonly id = randomUUID();
  readonly #controller = new AbortController();
  readonly #pending = new Map<string, Pending>();
  #settled: { result: CallToolResult } | { error: unknown } | undefined;
  #abandoned: string | undefined;
  #ended = false;
  /** The retries waiting for the next round (one, as a state is good once; more only in a race): every one is woken. */
  readonly #waiters = new Set<() => void>();
  #timer: NodeJS.Timeout | undefined;
  readonly #ttlMs: number;
  readonly #onEnd: () => void;

  constructor(ttlMs: number, onEnd: () => void) {
    this.#ttlMs = ttlMs;
    this.#onEnd = onEnd;
    this.#arm();
  }

  /** The upstream call's signal: aborted when the call is abandoned (its client stopped retrying, or cancelled). */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Follows the call's own promise: its end is the last round. */
  run(call: Promise<CallToolResult>): void {
    call.then(
      (result) => this.#settle({ result }),
      (error: unknown) => this.#settle({ error }),
    );
  }

  /** A question of the server, asked of the client in the next round; resolves with its answer from a retry. */
  ask(question: Question): Promise<Record<string, unknown>> {
    return new Promise((answer, refuse) => {
      this.#pending.set(`q${this.#pending.size + 1}-${randomUUID().slice(0, 8)}`, { question, answer, refuse });
      this.#wakeAll();
    });
  }

  /**
   * Answers the questions `responses` has keys for (other keys are ignored,
   * as the spec asks), then waits for the next round: the questions still
   * pending, at once, or the next one the server asks, or the result.
   * `signal` is the request waiting for it: when it ends first, the call is
   * abandoned, as the client withdrew it.
   */
  async next(responses: Record<string, unknown> | undefined, signal: AbortSignal): Promise<Round> {
    for (const [key, response] of Object.entries(responses ?? {})) {
      const pending = this.#pending.get(key);
      if (!pending || typeof response !== 'object' || response === null) continue;
      this.#pending.delete(key);
      pending.answer(response as Record<string, unknown>);
    }
    // While a retry waits the client is connected: the clock for its next retry starts when a round is handed back.
    clearTimeout(this.#timer);
    // An answer lets the server go on: give it a turn to finish or ask again before this round is decided.
    if (responses !== undefined) await new Promise((resolve) => setImmediate(resolve));
    const onAbort = () => this.abandon('the agent withdrew the call');
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (this.#pending.size === 0 && this.#settled === undefined && this.#abandoned === undefined) {
        await new Promise<void>((resolve) => this.#waiters.add(resolve));
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (!this.#ended) this.#arm();
    }
    if (this.#pending.size > 0) return { questions: Object.fromEntries([...this.#pending].map(([key, p]) => [key, p.question])) };
    const settled = this.#settled;
    if (settled === undefined) throw new ProtocolError(INTERNAL_ERROR, `the call was abandoned: ${this.#abandoned}`);
    this.#end();
    if ('error' in settled) throw settled.error;
    return { result: settled.result };
  }

  /** Refuses what is pending and aborts the upstream call: its client will not come back. */
  abandon(reason: string): void {
    if (this.#abandoned !== undefined) return;
    // A result nobody came back for is dropped.
    if (this.#settled !== undefined) return this.#end();
    this.#abandoned = reason;
    for (const pending of this.#pending.values()) pending.refuse(new ProtocolError(INTERNAL_ERROR, `the agent did not answer: ${reason}`));
    this.#pending.clear();
    this.#controller.abort(new Error(reason));
    this.#end();
  }

  #settle(settled: { result: CallToolResult } | { error: unknown }): void {
    this.#settled = settled;
    this.#wakeAll();
  }

  #wakeAll(): void {
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  /** The client has PARKED_CALL_TTL_MS from its last retry to send the next. */
  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.abandon(`no retry came within ${Math.round(this.#ttlMs / 1000)} s`), this.#ttlMs).unref();
  }

  #end(): void {
    this.#ended = true;
    clearTimeout(this.#timer);
    this.#wakeAll();
    this.#onEnd();
  }
}

/** The calls this instance keeps parked, by id (see ParkedCall). */
export class ParkedCalls {
  readonly #calls = new Map<string, ParkedCall>();
  readonly #ttlMs: number;
  readonly #max: number;

  constructor(options: { ttlMs?: number; max?: number } = {}) {
    this.#ttlMs = options.ttlMs ?? PARKED_CALL_TTL_MS;
    this.#max = options.max ?? MAX_PARKED_CALLS;
  }

  /** A new parked call, or an error when this instance holds as many as it may. */
  open(): ParkedCall {
    if (this.#calls.size >= this.#max)
      throw new ProtocolError(
        INTERNAL_ERROR,
        `this Airlock instance already holds ${this.#max} calls waiting for their agents' answers; retry later`,
      );
    const call: ParkedCall = new ParkedCall(this.#ttlMs, () => this.#calls.delete(call.id));
    this.#calls.set(call.id, call);
    return call;
  }

  get(id: string): ParkedCall | undefined {
    return this.#calls.get(id);
  }

  /** Every parked call abandoned (the instance is stopping). */
  close(reason: string): void {
    for (const call of [...this.#calls.values()]) call.abandon(reason);
  }
}

/** A round as JSON for another instance, and back: an error travels as its JSON-RPC code and message. */
export type WireRound = Round | { error: { code: number; message: string } };

export function toWire(round: Promise<Round>): Promise<WireRound> {
  return round.catch((err: unknown) => ({
    error: { code: err instanceof ProtocolError ? err.code : INTERNAL_ERROR, message: errorMessage(err) },
  }));
}

export function fromWire(round: WireRound): Round {
  if ('error' in round) throw new ProtocolError(round.error.code, round.error.message);
  return round;
}
