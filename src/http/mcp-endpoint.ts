import { randomUUID } from 'node:crypto';
import { NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node';
import { isInitializeRequest } from '@modelcontextprotocol/server';
import express, { type Request, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import { RefusalSampler } from '../audit/index.js';
import { describeDuration } from '../config/index.js';
import { ErrorCode } from '../errors.js';
import type { SessionRegistry } from '../proxy/index.js';
import { createSessionServer, type SessionDeps, type SessionScope, type Session, type SessionIdentity } from '../proxy/index.js';
import type { Identity } from './auth.js';
import { sendJsonRpcError } from './json-rpc-error.js';
import { RESUME_RETRY_MS, SessionEvents } from './session-events.js';
import { modernRequests, modernRoute } from './mcp-modern.js';
import { SessionSlots, type SessionLimits } from './session-slots.js';

interface HttpSession extends Session {
  id: string;
  transport: NodeStreamableHTTPServerTransport;
  /** The path it was opened on: a session id is only good on its own endpoint. */
  path: string;
  identity: SessionIdentity;
  /** Requests still being answered (an open GET stream for notifications counts). */
  open: number;
  /** The JSON-RPC ids (as idKey) of its requests still being answered. */
  requestIds: Set<string>;
  lastActive: number;
}

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
  logger: Logger;
}

export interface McpEndpoint {
  router: Router;
  /** Logs the sampled session-limit refusals not yet logged, and stops the idle sweep (the gateway is stopping). */
  close(): void;
}

/** Session-limit refusals logged one by one: the first of each grant and limit per window; the rest are summed into one line. */
const REFUSAL_LOG_WINDOW_MS = 60_000;

/** `/mcp/:server` for one server and `/mcp` for every server the grant may use, as Streamable HTTP. */
export function mcpRoutes(options: McpEndpointOptions): McpEndpoint {
  const { deps, servers, authenticate, sessions, logger } = options;
  const byId = new Map<string, HttpSession>();
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
        const slot = slots.take(identity.grant);
        if (!slot.ok) return refuseSession(req, res, identity.grant, slot, 'subscriptions/listen');
        res.once('close', slot.release);
      }
      return modern.serve(req, res, scope, identity.grant, route);
    }

    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      const session = byId.get(sessionId);
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
      track(session, res, ids);
      return session.transport.handleRequest(req, res, req.body);
    }
    if (req.method !== 'POST' || !isInitializeRequest(req.body)) {
      return refuse(req, res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required', { grant: identity.grant });
    }
    if (deps.gate.closed) return refuseStopping(req, res, identity.grant, 'opens no new sessions');
    const slot = slots.take(identity.grant);
    if (!slot.ok) return refuseSession(req, res, identity.grant, slot, 'initialize');

    const identityOfSession: SessionIdentity = { grant: identity.grant, subscriptions: new Set(), calls: new Map() };
    // Airlock closes a call's stream only to mirror its server's own close, so resumption (an event store, a priming
    // event on every POST stream: about 1.5 ms a call, measured) is offered only where a server of the session may close one.
    const events = scope.servers.some((name) => deps.upstream(name).mayCloseStreams) ? new SessionEvents() : undefined;
    const session: HttpSession = {
      id: '',
      path: req.path,
      open: 0,
      requestIds: new Set(),
      lastActive: Date.now(),
      grant: identity.grant,
      identity: identityOfSession,
      subscriptions: identityOfSession.subscriptions,
      scope,
      server: createSessionServer(deps, scope, identityOfSession),
      transport: new NodeStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        ...(events && { eventStore: events, retryInterval: RESUME_RETRY_MS }),
        onsessioninitialized: (id) => {
          session.id = id;
          identityOfSession.sessionId = id;
          byId.set(id, session);
          sessions.add(session);
          logger.info({ session: id, grant: identity.grant, servers: scope.servers }, 'session opened');
        },
      }),
      close: async () => {
        await session.server.close();
      },
    };
    // DELETE, the idle sweep and a shutdown all end here, and so give the slot back.
    session.transport.onclose = () => {
      slot.release();
      events?.clear();
      if (!byId.delete(session.id)) return;
      sessions.delete(session);
      logger.info({ session: session.id }, 'session closed');
    };
    session.server.onerror = (err) => logger.debug({ session: session.id, err: err.message }, 'session protocol error');
    try {
      await session.server.connect(session.transport);
      track(session, res, requestIdsOf(req.body));
      await session.transport.handleRequest(req, res, req.body);
    } finally {
      // An initialize the transport turned down (a wrong Accept header, say) opened no session: nothing may keep its slot.
      if (session.id === '') {
        slot.release();
        await session.server.close().catch(() => undefined);
      }
    }
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
    reached: { limit: 'grant' | 'total'; max: number },
    opening: 'initialize' | 'subscriptions/listen',
  ) => {
    deps.metrics.sessionRefused(grant, reached.limit);
    const key = reached.limit === 'grant' ? 'listen.max_sessions_per_grant' : 'listen.max_sessions';
    const who =
      reached.limit === 'total'
        ? 'this gateway has'
        : grant === undefined
          ? 'the agents of this gateway (it has no grants) have'
          : `grant ${grant} has`;
    const retryAfter = secondsUntilASlotMayFree(reached.limit === 'grant' ? grant : undefined, reached.limit === 'total');
    res.setHeader('Retry-After', String(retryAfter));
    const message =
      `Too Many Requests: ${who} ${reached.max} MCP sessions open on this Airlock instance (a 2026 client's open subscriptions/listen stream counts as one), the most ${key} allows. ` +
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
   * When a slot may free up without the agent's help: the soonest one of the
   * sessions counted against the limit reaches the idle timeout; a whole idle
   * timeout from now when every one of them has a request open.
   */
  const secondsUntilASlotMayFree = (grant: string | undefined, everyGrant: boolean): number => {
    const now = Date.now();
    let soonest = now + options.idleTimeoutMs;
    for (const session of byId.values()) {
      if ((everyGrant || session.grant === grant) && session.open === 0)
        soonest = Math.min(soonest, session.lastActive + options.idleTimeoutMs);
    }
    return Math.max(1, Math.ceil((soonest - now) / 1000));
  };

  /** Counts the request as open and its ids as in flight until its response closes; one dropped before its answer is withdrawn. */
  const track = (session: HttpSession, res: Response, ids: (string | number)[]) => {
    session.open++;
    session.lastActive = Date.now();
    for (const id of ids) session.requestIds.add(idKey(id));
    res.once('close', () => {
      session.open--;
      session.lastActive = Date.now();
      for (const id of ids) session.requestIds.delete(idKey(id));
      // The response stream closed before the answer: the agent dropped the request, so its tool calls are withdrawn.
      if (!res.writableFinished) abortDropped(session, ids);
    });
  };
  const abortDropped = (session: HttpSession, ids: (string | number)[]) => {
    for (const id of ids) {
      session.identity.calls.get(id)?.abort(new Error('the agent disconnected before the call was answered'));
      // Any other request (a list walking an upstream's pages, say) ends as if the agent had cancelled it, which is what it
      // did: the SDK then aborts the handler's signal, which it does not do for a dropped connection.
      session.transport.onmessage?.({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: id, reason: 'the agent disconnected before the request was answered' },
      });
    }
  };
  const sweep = setInterval(
    () => {
      const idleSince = Date.now() - options.idleTimeoutMs;
      for (const session of byId.values()) {
        if (session.open > 0 || session.lastActive > idleSince) continue;
        logger.info({ session: session.id, idle_ms: Date.now() - session.lastActive }, 'closing an idle session');
        void session.close();
      }
    },
    Math.min(60_000, Math.max(100, options.idleTimeoutMs / 4)),
  );
  sweep.unref();

  router.all('/mcp', (req, res) => handle(req, res, undefined));
  router.all('/mcp/:server', (req, res) => handle(req, res, req.params.server));
  return {
    router,
    close: () => {
      clearInterval(sweep);
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

/** An id as a key of `requestIds`, typed: the number 5 and the string "5" are two ids, as JSON-RPC has them. */
function idKey(id: string | number): string {
  return typeof id === 'number' ? `n${id}` : `s${id}`;
}
