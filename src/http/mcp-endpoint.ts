import { randomUUID } from 'node:crypto';
import { isInitializeRequest } from '@modelcontextprotocol/server';
import express, { type Request, type Response, type Router } from 'express';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RefusalSampler } from '../audit/index.js';
import { describeDuration } from '../config/index.js';
import { AirlockError, ErrorCode, errorMessage } from '../errors.js';
import { AGENT_DISCONNECTED, type SessionRegistry } from '../proxy/index.js';
import type { SessionDeps, SessionScope } from '../proxy/index.js';
import type { Identity } from './auth.js';
import { sendJsonRpcError } from './json-rpc-error.js';
import { createLocalSession, type HttpSession } from './local-session.js';
import { modernRequests, modernRoute } from './mcp-modern.js';
import { SessionAnswers } from './session-answers.js';
import { listenForEndedSessions } from './session-endings.js';
import { isSessionId } from './session-keys.js';
import { rebuildSession } from './session-rebuild.js';
import { SessionSlots, type SessionLimits } from './session-slots.js';
import { MAX_INITIALIZE_BYTES, SessionStore, type SessionRecord } from './session-store.js';
import { sweepSessions } from './session-sweep.js';

export interface McpEndpointOptions {
  deps: SessionDeps;
  servers: string[];
  authenticate: (req: Request) => Identity;
  sessions: SessionRegistry;
  bodyLimit: string | number;
  /** A session with no request open for this long is closed (clients that never send DELETE would otherwise pile up). */
  idleTimeoutMs: number;
  /** `listen.max_sessions_per_grant` and `listen.max_sessions`. */
  sessionLimits: SessionLimits;
  /** The config file, named in a refusal that tells how to raise a limit. */
  configFile: string;
  /** The request-path client: the sessions' records, shared by every instance, are kept there. */
  redis: Redis;
  /** `redis.prefix` and `redis.timeout`. */
  redisPrefix: string;
  redisTimeoutMs: number;
  logger: Logger;
}

export interface McpEndpoint {
  router: Router;
  /** Logs the sampled session-limit refusals not yet logged, stops the idle sweep and stops listening for sessions ended elsewhere (the gateway is stopping). */
  close(): void;
}

/** Session-limit refusals logged one by one: the first of each grant and limit per window; the rest are summed into one line. */
const REFUSAL_LOG_WINDOW_MS = 60_000;

/**
 * `/mcp/:server` for one server and `/mcp` for every server the grant may
 * use, as Streamable HTTP. A 2025 session is recorded in Redis when it opens,
 * so any instance can serve it: one that does not hold it rebuilds it from
 * the record (see rebuildSession), for the same grant on the same endpoint
 * only.
 */
export async function mcpRoutes(options: McpEndpointOptions): Promise<McpEndpoint> {
  const { deps, servers, authenticate, sessions, logger } = options;
  const byId = new Map<string, HttpSession>();
  /** Sessions being rebuilt here, so concurrent requests of one session rebuild it once. */
  const rebuilding = new Map<string, Promise<HttpSession | undefined>>();
  /** The 2026 listen streams open here, by their member of the grant's slots. */
  const listens = new Map<string, string | undefined>();
  const store = new SessionStore(options.redis, {
    prefix: options.redisPrefix,
    idleTimeoutMs: options.idleTimeoutMs,
    timeoutMs: options.redisTimeoutMs,
  });
  const slots = new SessionSlots(options.sessionLimits);
  deps.metrics.setSessionCounts(() => slots.counts());
  const limitRefusals = new RefusalSampler<string>({
    windowMs: REFUSAL_LOG_WINDOW_MS,
    now: Date.now,
    summarize: (kind, count, from, to) => {
      const [limit, grant] = JSON.parse(kind) as [string, string | null];
      logger.warn(
        { limit, ...(grant !== null && { grant }), refused: count, from: new Date(from).toISOString(), to: new Date(to).toISOString() },
        `${count} more initialize requests refused by ${limit} (airlock_sessions_refused_total counts each)`,
      );
      deps.audit.record({
        event: 'request_refused',
        grant,
        reason: `${count} more initialize request${count === 1 ? '' : 's'} refused by ${limit} from ${new Date(from).toISOString()} to ${new Date(to).toISOString()}, not audited one by one: of each grant and limit, the first of each minute is`,
        detail: 'answered 429',
      });
    },
  });
  const modern = modernRequests({ deps, sessions, maxListenStreams: options.sessionLimits.perGrant, logger });
  const router = express.Router();
  router.use(['/mcp', '/mcp/:server'], express.json({ limit: options.bodyLimit, type: () => true }));

  /** Every request the gateway turns away itself is logged, without its token or session id. */
  const refuse = (
    req: Request,
    res: Response,
    status: number,
    code: number,
    message: string,
    extra: { data?: Record<string, unknown>; grant?: string } = {},
  ) => {
    logger.warn(
      { method: req.method, path: req.path, status, ...(extra.grant !== undefined && { grant: extra.grant }), reason: message },
      'request refused',
    );
    sendJsonRpcError(res, status, code, message, extra.data);
  };

  const handle = async (req: Request, res: Response, server: string | undefined) => {
    const identity = authenticate(req);
    if (!identity.ok) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="airlock"');
      return refuse(req, res, identity.status, -32000, `Unauthorized: ${identity.message}`, {
        data: { airlock_code: ErrorCode.Unauthorized },
      });
    }
    if (server !== undefined && !servers.includes(server)) {
      return refuse(req, res, 404, -32000, `Not Found: no server named "${server}" behind this gateway`, {
        data: { airlock_code: ErrorCode.UnknownServer },
        grant: identity.grant,
      });
    }
    if (server !== undefined && !identity.servers.includes(server)) {
      return refuse(req, res, 403, -32000, `Forbidden: grant ${identity.grant ?? '(none)'} may not use server ${server}`, {
        data: { airlock_code: ErrorCode.Forbidden },
        grant: identity.grant,
      });
    }

    const scope: SessionScope =
      server === undefined
        ? { servers: servers.filter((s) => identity.servers.includes(s)), aggregated: true }
        : { servers: [server], aggregated: false };
    const route = modernRoute(req);
    if (route !== undefined) {
      if (deps.gate.closed) return refuseStopping(req, res, identity.grant, 'takes no new requests');
      // A 2026 listen stream is what stays open for a client without a session: it takes a session's slot while it is open.
      if (route.kind === 'modern' && (req.body as { method?: unknown }).method === 'subscriptions/listen') {
        const release = await takeListenSlot(req, res, identity.grant);
        if (!release) return;
        res.once('close', release);
      }
      return modern.serve(req, res, scope, identity.grant, route);
    }

    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      let session = byId.get(sessionId);
      if (!session) {
        try {
          const found = await elsewhere(req, res, sessionId, identity.grant, scope);
          if (found === 'answered') return;
          session = found;
        } catch (err) {
          return refuseUnavailable(req, res, identity.grant, err);
        }
      }
      // Another grant's session, or one opened on another endpoint, is answered as unknown: ids are not shared.
      if (!session || session.grant !== identity.grant || session.path !== req.path)
        return refuse(req, res, 404, -32001, 'Session not found', { grant: identity.grant });
      const ids = requestIdsOf(req.body);
      const reused = ids.find((id, i) => session.requestIds.has(idKey(id)) || ids.indexOf(id) !== i);
      if (reused !== undefined)
        return refuse(
          req,
          res,
          400,
          -32600,
          `Invalid Request: id ${JSON.stringify(reused)} is already used by a request of this session still being answered; send each request with an id of its own`,
          { grant: identity.grant },
        );
      let body: unknown = req.body;
      if (req.method === 'POST') {
        try {
          body = await answers.incoming(session.id, req.body);
        } catch (err) {
          return refuseUnavailable(req, res, identity.grant, err);
        }
        // Only answers to questions asked on other instances, sent on to them.
        if (body === undefined) return void res.status(202).end();
      }
      track(session, res, ids, changesState(body));
      return session.transport.handleNodeRequest(req, res, body);
    }
    if (req.method !== 'POST' || !isInitializeRequest(req.body)) {
      return refuse(req, res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required', { grant: identity.grant });
    }
    if (deps.gate.closed) return refuseStopping(req, res, identity.grant, 'opens no new sessions');
    const initialize = req.body.params as Record<string, unknown>;
    if (JSON.stringify(initialize).length > MAX_INITIALIZE_BYTES)
      return refuse(
        req,
        res,
        400,
        -32600,
        `Invalid Request: the initialize params are larger than ${MAX_INITIALIZE_BYTES / 1024} KiB, the most Airlock records for a session; send a smaller clientInfo and capabilities`,
        { grant: identity.grant },
      );
    const record: SessionRecord = {
      id: randomUUID(),
      grant: identity.grant,
      path: req.path,
      scope,
      initialize,
      state: { subscriptions: [] },
    };
    // The grant's limit first, across instances (its agents can do something about that one), then this instance's total.
    let taken: Awaited<ReturnType<SessionStore['open']>>;
    try {
      taken = await store.open(record, options.sessionLimits.perGrant);
    } catch (err) {
      return refuseUnavailable(req, res, identity.grant, err);
    }
    if (!taken.ok) {
      const reached = { limit: 'grant' as const, max: options.sessionLimits.perGrant, retryInMs: taken.retryInMs };
      return refuseSession(req, res, identity.grant, reached, 'initialize');
    }
    const slot = slots.take(identity.grant);
    if (!slot.ok) {
      void store.end(record.grant, record.id, false).catch(() => undefined);
      return refuseSession(req, res, identity.grant, slot, 'initialize');
    }
    const session = localSession(record, scope, slot.release);
    try {
      await session.server.connect(session.transport);
      track(session, res, requestIdsOf(req.body), false);
      await session.transport.handleNodeRequest(req, res, req.body);
    } finally {
      // An initialize the transport turned down (a wrong Accept header, say) opened no session: nothing may keep its slot.
      if (!session.opened) {
        slot.release();
        await session.server.close().catch(() => undefined);
        await store.end(record.grant, record.id, false).catch(() => undefined);
      }
    }
  };

  /** This instance's copy of a session: registered once its transport took the initialize, released however it closes. */
  const localSession = (record: SessionRecord, scope: SessionScope, release: () => void, rebuilt = false): HttpSession =>
    createLocalSession({
      deps,
      id: record.id,
      grant: record.grant,
      path: record.path,
      scope,
      initialize: record.initialize,
      logger,
      outgoing: (message) => answers.outgoing(message),
      onOpened: (session) => {
        byId.set(session.id, session);
        sessions.add(session);
        if (!rebuilt) logger.info({ session: session.id, grant: session.grant, servers: scope.servers }, 'session opened');
      },
      onDeleted: async (session) => {
        await store
          .end(session.grant, session.id, false)
          .catch((err: unknown) =>
            logger.warn(
              { session: session.id, err: errorMessage(err) },
              'a DELETEd session could not be ended in Redis: other instances may serve it until it is idle for listen.session_idle_timeout',
            ),
          );
      },
      // DELETE, the idle sweep, an end seen on another instance and a shutdown all end here, and so give the slot back.
      // A shutdown ends only this copy: the record stays, and another instance serves the session's next request.
      onClosed: (session) => {
        release();
        if (byId.get(session.id) !== session) return;
        byId.delete(session.id);
        sessions.delete(session);
        logger.info({ session: session.id }, 'session closed');
      },
    });

  /**
   * A session this instance does not hold: its record is looked up, and a
   * session of this grant opened on this endpoint is rebuilt here (or, for
   * a DELETE, ended everywhere without being rebuilt). Undefined for any
   * other id, which is then answered as unknown. Rejects when Redis cannot
   * say: a session is never made up.
   */
  const elsewhere = async (
    req: Request,
    res: Response,
    id: string,
    grant: string | undefined,
    scope: SessionScope,
  ): Promise<HttpSession | undefined | 'answered'> => {
    // Airlock's ids are UUIDs: anything else (forged, oversized) is unknown without a look in Redis.
    if (!isSessionId(id)) return undefined;
    if (deps.gate.closed) {
      refuseStopping(req, res, grant, 'rebuilds no sessions');
      return 'answered';
    }
    const pending = rebuilding.get(id);
    if (pending) return pending;
    const record = await store.read(id);
    // The binding is checked against this request's own token: a record naming another grant or endpoint serves nobody else.
    if (!record || record.grant !== grant || record.path !== req.path) return undefined;
    if (req.method === 'DELETE') {
      await store.end(record.grant, id, false);
      logger.info({ session: id, grant }, 'session ended (DELETE) on an instance that did not hold it');
      res.status(200).end();
      return 'answered';
    }
    // The servers the grant may still use on this endpoint, of those the session was opened with.
    const narrowed: SessionScope = { ...record.scope, servers: record.scope.servers.filter((name) => scope.servers.includes(name)) };
    const slot = slots.take(grant);
    if (!slot.ok) {
      refuseSession(req, res, grant, slot, 'a session opened elsewhere');
      return 'answered';
    }
    const session = localSession(record, narrowed, slot.release, true);
    const rebuilt = rebuildSession(session, record).then(
      () => {
        logger.info({ session: id, grant, servers: narrowed.servers }, 'session rebuilt from its record (opened on another instance)');
        return session;
      },
      async (err: unknown) => {
        slot.release();
        await session.server.close().catch(() => undefined);
        throw new AirlockError(ErrorCode.RedisUnavailable, `rebuilding session from its record failed: ${errorMessage(err)}`, {
          cause: err,
        });
      },
    );
    rebuilding.set(id, rebuilt);
    try {
      return await rebuilt;
    } finally {
      rebuilding.delete(id);
    }
  };

  /** A listen stream's slot of its grant's limit, across instances; undefined when the request was answered with a refusal. */
  const takeListenSlot = async (req: Request, res: Response, grant: string | undefined): Promise<(() => void) | undefined> => {
    const member = `listen:${randomUUID()}`;
    let taken: Awaited<ReturnType<SessionStore['takeSlot']>>;
    try {
      taken = await store.takeSlot(grant, member, options.sessionLimits.perGrant);
    } catch (err) {
      return void refuseUnavailable(req, res, grant, err);
    }
    if (!taken.ok) {
      const reached = { limit: 'grant' as const, max: options.sessionLimits.perGrant, retryInMs: taken.retryInMs };
      return void refuseSession(req, res, grant, reached, 'subscriptions/listen');
    }
    const slot = slots.take(grant);
    if (!slot.ok) {
      void store.releaseSlot(grant, member).catch(() => undefined);
      return void refuseSession(req, res, grant, slot, 'subscriptions/listen');
    }
    listens.set(member, grant);
    return () => {
      slot.release();
      listens.delete(member);
      store
        .releaseSlot(grant, member)
        .catch((err: unknown) =>
          logger.debug({ err: errorMessage(err) }, 'a closed listen stream keeps its slot until it goes idle: Redis did not answer'),
        );
    };
  };

  /** Redis could not say whether a session exists, or could not record one: retryable, never a session made up. */
  const refuseUnavailable = (req: Request, res: Response, grant: string | undefined, err: unknown) => {
    logger.warn({ err: errorMessage(err) }, 'a session request needs Redis, which did not answer');
    res.setHeader('Retry-After', '1');
    refuse(
      req,
      res,
      503,
      -32000,
      `Service Unavailable: ${errorMessage(err)}; every Airlock instance keeps its MCP sessions in Redis, so the session can be neither opened nor served from another instance now; retry in a moment`,
      { data: { airlock_code: ErrorCode.RedisUnavailable }, grant },
    );
  };

  const refuseStopping = (req: Request, res: Response, grant: string | undefined, what: string) => {
    res.setHeader('Retry-After', '1');
    refuse(req, res, 503, -32000, `Service Unavailable: Airlock is shutting down and ${what}; connect again in a moment`, {
      data: { airlock_code: ErrorCode.ShuttingDown },
      grant,
    });
  };

  const refuseSession = (
    req: Request,
    res: Response,
    grant: string | undefined,
    reached: { limit: 'grant'; max: number; retryInMs: number } | { limit: 'total'; max: number },
    opening: 'initialize' | 'subscriptions/listen' | 'a session opened elsewhere',
  ) => {
    deps.metrics.sessionRefused(grant, reached.limit);
    const key = reached.limit === 'grant' ? 'listen.max_sessions_per_grant' : 'listen.max_sessions';
    const who =
      reached.limit === 'total'
        ? 'this Airlock instance has'
        : grant === undefined
          ? 'the agents of this gateway (it has no grants) have'
          : `grant ${grant} has`;
    const where = reached.limit === 'total' ? 'open on it' : 'open across every Airlock instance';
    const retryAfter = reached.limit === 'grant' ? Math.max(1, Math.ceil(reached.retryInMs / 1000)) : secondsUntilASlotMayFree();
    res.setHeader('Retry-After', String(retryAfter));
    const message =
      `Too Many Requests: ${who} ${reached.max} MCP sessions ${where} (a 2026 client's open subscriptions/listen stream counts as one), the most ${key} allows. ` +
      `End sessions no longer in use (HTTP DELETE with their Mcp-Session-Id; a session without a request open is closed after listen.session_idle_timeout, ${describeDuration(options.idleTimeoutMs)}) or listen streams, ` +
      `or raise ${key} in ${options.configFile}; retry in ${retryAfter} s`;
    const data = { airlock_code: ErrorCode.SessionLimit, limit: key, max: reached.max, retry_after_s: retryAfter };
    if (limitRefusals.admit(JSON.stringify([key, grant ?? null]))) {
      deps.audit.record({
        event: 'request_refused',
        grant: grant ?? null,
        reason: message,
        detail: `${req.method} ${req.path}: ${opening} answered 429 (${key})`,
      });
      return refuse(req, res, 429, -32000, message, { data, grant });
    }
    sendJsonRpcError(res, 429, -32000, message, data);
  };

  /**
   * When a slot of this instance's total may free up without the agents'
   * help: the soonest one of its sessions reaches the idle timeout; a whole
   * idle timeout from now when every one of them has a request open. (The
   * per-grant limit's answer comes from Redis, which knows every instance's.)
   */
  const secondsUntilASlotMayFree = (): number => {
    const now = Date.now();
    let soonest = now + options.idleTimeoutMs;
    for (const session of byId.values()) if (session.open === 0) soonest = Math.min(soonest, session.lastActive + options.idleTimeoutMs);
    return Math.max(1, Math.ceil((soonest - now) / 1000));
  };

  /**
   * Counts the request as open and its ids as in flight until its response
   * closes; one dropped before its answer is withdrawn. A request that may
   * have changed what the record keeps (a subscription, the log level) writes
   * it once answered; no other request waits on Redis here.
   */
  const track = (session: HttpSession, res: Response, ids: (string | number)[], recordState: boolean) => {
    session.open++;
    session.lastActive = Date.now();
    for (const id of ids) session.requestIds.add(idKey(id));
    res.once('close', () => {
      session.open--;
      session.lastActive = Date.now();
      for (const id of ids) session.requestIds.delete(idKey(id));
      // The response stream closed before the answer: the agent dropped the request, so its tool calls are withdrawn.
      if (!res.writableFinished) abortDropped(session, ids);
      if (recordState) void recordStateOf(session);
    });
  };
  const recordStateOf = async (session: HttpSession) => {
    const { subscriptions, logLevel } = session.identity;
    const state = { subscriptions: [...subscriptions], ...(logLevel !== undefined && { logLevel }) };
    await store
      .touch([{ grant: session.grant, member: session.id, idleMs: 0, session: true, state }])
      .catch((err: unknown) =>
        logger.warn(
          { session: session.id, err: errorMessage(err) },
          "the session's subscriptions and log level could not be recorded: an instance that rebuilds it will not know them",
        ),
      );
  };
  const abortDropped = (session: HttpSession, ids: (string | number)[]) => {
    for (const id of ids) {
      // Each request (a held tool call, a list walking an upstream's pages) ends as if the agent had cancelled it, which is
      // what it did: the SDK then aborts the handler's signal, which it does not do for a dropped connection.
      session.transport.onmessage?.({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: id, reason: AGENT_DISCONNECTED },
      });
    }
  };
  const sweep = setInterval(
    () => void sweepSessions({ sessions: byId.values(), listens, store, idleTimeoutMs: options.idleTimeoutMs, logger }),
    Math.min(60_000, Math.max(100, options.idleTimeoutMs / 4)),
  );
  sweep.unref();
  // An agent's answer to a question this instance asked, POSTed to another, comes here to the copy that asked.
  const answers = await SessionAnswers.start(options.redis, options.redisPrefix, (id, message) =>
    byId.get(id)?.transport.onmessage?.(message),
  );
  // A session ended on another instance (DELETE, idle) is closed here too; one whose message is missed is found by the sweep.
  const stopListening = await listenForEndedSessions(options.redis, store.endedChannel, (id) => {
    const session = byId.get(id);
    if (!session) return;
    logger.info({ session: id }, 'session ended on another instance');
    void session.close();
  }).catch((err: unknown) => {
    answers.close();
    clearInterval(sweep);
    throw err;
  });

  router.all('/mcp', (req, res) => handle(req, res, undefined));
  router.all('/mcp/:server', (req, res) => handle(req, res, req.params.server));
  return {
    router,
    close: () => {
      clearInterval(sweep);
      stopListening();
      answers.close();
      limitRefusals.flush();
    },
  };
}

/**
 * The ids of the requests in a POST body (notifications and responses have
 * none). Within a session an id names one request until it is answered: the
 * SDK routes its answer, and Airlock its withdrawal, by it.
 */
function requestIdsOf(body: unknown): (string | number)[] {
  const ids: (string | number)[] = [];
  for (const message of Array.isArray(body) ? body : [body]) {
    const { id, method } = (message ?? {}) as { id?: unknown; method?: unknown };
    if ((typeof id === 'string' || typeof id === 'number') && typeof method === 'string') ids.push(id);
  }
  return ids;
}

/** Whether a POST body asks for what the session's record keeps: a resource subscription, or a log level. */
function changesState(body: unknown): boolean {
  return (Array.isArray(body) ? body : [body]).some((message) => {
    const { method } = (message ?? {}) as { method?: unknown };
    return method === 'resources/subscribe' || method === 'resources/unsubscribe' || method === 'logging/setLevel';
  });
}

/** An id as a key of `requestIds`, typed: the number 5 and the string "5" are two ids, as JSON-RPC has them. */
function idKey(id: string | number): string {
  return typeof id === 'number' ? `n${id}` : `s${id}`;
}
