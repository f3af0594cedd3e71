import type { Redis } from 'ioredis';
import { z } from 'zod';
import { AirlockError, ErrorCode } from '../errors.js';
import { LuaScript, defineLuaScripts, withDeadline, type LuaCommands } from '../redis/index.js';
import { sessionKeys, type SessionKeys } from './session-keys.js';

/**
 * What another instance needs to serve a 2025 session it did not open: who
 * it belongs to, where it was opened, and what the client said in its
 * `initialize`. Never a token: the grant binding is checked against each
 * request's own token.
 */
export interface SessionRecord {
  id: string;
  grant: string | undefined;
  /** The endpoint it was opened on (`/mcp`, `/mcp/<server>`): a session id is good only there. */
  path: string;
  scope: { servers: string[]; aggregated: boolean };
  /** The client's `initialize` params, replayed where the session is rebuilt. */
  initialize: Record<string, unknown>;
  state: SessionState;
}

/** What the session changed since: its resource subscriptions (as subscriptionKey) and its `logging/setLevel`. */
export interface SessionState {
  subscriptions: string[];
  logLevel?: string;
}

/** One member an instance still serves: a session (with its record) or a 2026 listen stream (slot only). */
export interface Touch {
  grant: string | undefined;
  member: string;
  /** Ms since this instance saw it in use; 0 while a request is open. */
  idleMs: number;
  /** Sessions only: true when it has a record (a listen stream has none). */
  session: boolean;
  /** A changed state to record, sessions only. */
  state?: SessionState;
}

export type TouchOutcome = 'ok' | 'ended' | 'missing';

/**
 * The largest `initialize` params recorded: a client's capabilities and info
 * are small, and an agent must not be able to park megabytes in Redis per
 * session it opens.
 */
export const MAX_INITIALIZE_BYTES = 64 * 1024;

const RecordField = z.object({
  v: z.literal(1),
  grant: z.string().nullable(),
  path: z.string(),
  scope: z.object({ servers: z.array(z.string()), aggregated: z.boolean() }),
  initialize: z.record(z.string(), z.unknown()),
});
const StateField = z.object({ subscriptions: z.array(z.string()), log_level: z.string().optional() });

const SCRIPTS = {
  take: new LuaScript<[number, number?]>({ name: 'airlockSessionTake', file: new URL('./session-take.lua', import.meta.url) }),
  touch: new LuaScript<TouchOutcome>({ name: 'airlockSessionTouch', file: new URL('./session-touch.lua', import.meta.url) }),
  end: new LuaScript<'ended' | 'active' | 'missing'>({
    name: 'airlockSessionEnd',
    file: new URL('./session-end.lua', import.meta.url),
    numberOfKeys: 3,
  }),
};

export interface SessionStoreOptions {
  prefix: string;
  idleTimeoutMs: number;
  /** `redis.timeout`: each operation's deadline. */
  timeoutMs: number;
}

/**
 * The 2025 sessions in Redis, shared by every instance: their records, the
 * per-grant slots that make `listen.max_sessions_per_grant` count across
 * instances (a sorted set per grant, scored by when each member goes idle),
 * and the channel that tells every instance a session was ended. Every
 * operation rejects with AIRLOCK_REDIS_UNAVAILABLE when Redis does not answer.
 */
export class SessionStore {
  readonly #redis: Redis;
  readonly #options: SessionStoreOptions;
  readonly #keys: SessionKeys;
  readonly #scripts: LuaCommands<typeof SCRIPTS>;

  constructor(redis: Redis, options: SessionStoreOptions) {
    this.#redis = redis;
    this.#options = options;
    this.#keys = sessionKeys(options.prefix);
    this.#scripts = defineLuaScripts(redis, SCRIPTS);
  }

  get endedChannel(): string {
    return this.#keys.ended;
  }

  /**
   * Writes a new session's record and takes its grant's slot, unless the
   * grant already holds `max` (then: ms until the soonest may go idle).
   * `max` 0 restores the record of a live session Redis lost, unchecked.
   */
  async open(record: SessionRecord, max: number): Promise<{ ok: true } | { ok: false; retryInMs: number }> {
    const fields = JSON.stringify({
      v: 1,
      grant: record.grant ?? null,
      path: record.path,
      scope: record.scope,
      initialize: record.initialize,
    });
    const [ok, ms] = await this.#run(
      this.#scripts.take(
        [this.#keys.slots(record.grant), this.#keys.record(record.id)],
        [record.id, this.#options.idleTimeoutMs, max, fields, stateJson(record.state)],
      ),
      'recording a new session',
    );
    return ok === 1 ? { ok: true } : { ok: false, retryInMs: ms ?? this.#options.idleTimeoutMs };
  }

  /** A 2026 listen stream's slot of its grant's limit (it has no record). */
  async takeSlot(grant: string | undefined, member: string, max: number): Promise<{ ok: true } | { ok: false; retryInMs: number }> {
    const [ok, ms] = await this.#run(
      this.#scripts.take([this.#keys.slots(grant)], [member, this.#options.idleTimeoutMs, max]),
      'counting a listen stream',
    );
    return ok === 1 ? { ok: true } : { ok: false, retryInMs: ms ?? this.#options.idleTimeoutMs };
  }

  async releaseSlot(grant: string | undefined, member: string): Promise<void> {
    await this.#run(this.#redis.zrem(this.#keys.slots(grant), member), 'freeing a listen stream slot');
  }

  /** The session's record; undefined when there is none, it cannot be read as one, or nobody used it within the idle timeout. */
  async read(id: string): Promise<SessionRecord | undefined> {
    const replies = await this.#run(this.#redis.multi().hgetall(this.#keys.record(id)).time().exec(), 'looking up a session');
    const [[, hash], [, time]] = (replies ?? []) as [[unknown, Record<string, string>], [unknown, [string, string]]];
    const record = RecordField.safeParse(parseJson(hash.record));
    const state = StateField.safeParse(parseJson(hash.state));
    const active = Number(hash.active);
    if (!record.success || !state.success || !Number.isFinite(active)) return undefined;
    const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    if (active + this.#options.idleTimeoutMs <= now) return undefined;
    const { grant, path, scope, initialize } = record.data;
    return {
      id,
      grant: grant ?? undefined,
      path,
      scope,
      initialize,
      state: { subscriptions: state.data.subscriptions, ...(state.data.log_level !== undefined && { logLevel: state.data.log_level }) },
    };
  }

  /** Moves on the members this instance still serves (the idle sweep's refresh), in one round of commands. */
  async touch(touches: readonly Touch[]): Promise<TouchOutcome[]> {
    return this.#run(
      Promise.all(
        touches.map((t) =>
          this.#scripts.touch(
            t.session
              ? [this.#keys.slots(t.grant), this.#keys.record(t.member), this.#keys.tombstone(t.member)]
              : [this.#keys.slots(t.grant)],
            [t.member, this.#options.idleTimeoutMs, Math.max(0, Math.round(t.idleMs)), t.state ? stateJson(t.state) : ''],
          ),
        ),
      ),
      'refreshing sessions',
    );
  }

  /** Ends the session on every instance (DELETE); with `onlyIfIdle`, only when no instance used it within the idle timeout. */
  async end(grant: string | undefined, id: string, onlyIfIdle: boolean): Promise<'ended' | 'active' | 'missing'> {
    return this.#run(
      this.#scripts.end(
        [this.#keys.slots(grant), this.#keys.record(id), this.#keys.tombstone(id)],
        [id, this.#options.idleTimeoutMs, onlyIfIdle ? '1' : '0', this.#keys.ended],
      ),
      'ending a session',
    );
  }

  #run<T>(work: Promise<T>, what: string): Promise<T> {
    return withDeadline(work, this.#options.timeoutMs, what).catch((err: unknown) => {
      if (err instanceof AirlockError) throw err;
      throw new AirlockError(ErrorCode.RedisUnavailable, `${what}: Redis failed: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    });
  }
}

function stateJson(state: SessionState): string {
  return JSON.stringify({ subscriptions: state.subscriptions, ...(state.logLevel !== undefined && { log_level: state.logLevel }) });
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
