import type { ClientCapabilities, JSONRPCMessage } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import { createSessionServer, type SessionDeps, type SessionScope, type Session, type SessionIdentity } from '../proxy/index.js';
import { RESUME_RETRY_MS, SessionEvents } from './session-events.js';
import { SessionTransport } from './session-transport.js';

/** This instance's copy of a 2025 session: the one it opened, or one it rebuilt from the session's record in Redis. */
export interface HttpSession extends Session {
  id: string;
  transport: SessionTransport;
  /** The path it was opened on: a session id is only good on its own endpoint. */
  path: string;
  identity: SessionIdentity;
  /** The client's `initialize` params, kept for the record should Redis lose it. */
  initialize: Record<string, unknown>;
  /** Requests still being answered (an open GET stream for notifications counts). */
  open: number;
  /** The JSON-RPC ids (as idKey) of its requests still being answered. */
  requestIds: Set<string>;
  lastActive: number;
  /** When this instance last told Redis the session is in use (see the idle sweep). */
  touchedAt: number;
  /** True once the transport has taken its initialize (the client's own, or the replayed one). */
  opened: boolean;
  /** Set while the idle sweep asks Redis whether to end it. */
  retiring: boolean;
}

export interface LocalSessionOptions {
  deps: SessionDeps;
  id: string;
  grant: string | undefined;
  path: string;
  scope: SessionScope;
  initialize: Record<string, unknown>;
  /** The transport took its initialize: the session is served from now on. */
  onOpened(session: HttpSession): void;
  /** Tags the ids of the questions the session asks its agent with this instance (see SessionAnswers). */
  outgoing: (message: JSONRPCMessage) => JSONRPCMessage;
  /** The client sent DELETE: the session ends on every instance. */
  onDeleted(session: HttpSession): Promise<void>;
  /** The transport closed, whatever the reason (DELETE, the idle sweep, an end seen elsewhere, a shutdown). */
  onClosed(session: HttpSession): void;
  logger: Logger;
}

/**
 * A session's Server and transport. The id is chosen before the transport
 * exists (a fresh `randomUUID()`, or the recorded id of a session being
 * rebuilt), never taken from a client: the transport's sessionIdGenerator
 * only returns it.
 */
export function createLocalSession(options: LocalSessionOptions): HttpSession {
  const { deps, id, scope } = options;
  const identity: SessionIdentity = { grant: options.grant, sessionId: id, subscriptions: new Set() };
  // Airlock closes a call's stream only to mirror its server's own close, so resumption (an event store, a priming
  // event on every POST stream: about 1.5 ms a call, measured) is offered only where a server of the session may close one.
  const capabilities = (options.initialize.capabilities ?? undefined) as ClientCapabilities | undefined;
  const events = scope.servers.some((name) => deps.upstream(name).mayCloseStreams(capabilities)) ? new SessionEvents() : undefined;
  const now = Date.now();
  const session: HttpSession = {
    id,
    path: options.path,
    open: 0,
    requestIds: new Set(),
    lastActive: now,
    touchedAt: now,
    opened: false,
    retiring: false,
    grant: options.grant,
    identity,
    initialize: options.initialize,
    subscriptions: identity.subscriptions,
    scope,
    server: createSessionServer(deps, scope, identity),
    transport: new SessionTransport({
      sessionIdGenerator: () => id,
      ...(events && { eventStore: events, retryInterval: RESUME_RETRY_MS }),
      onsessioninitialized: () => {
        session.opened = true;
        options.onOpened(session);
      },
      onsessionclosed: () => options.onDeleted(session),
    }),
    close: async () => {
      await session.server.close();
    },
  };
  session.transport.outgoing = options.outgoing;
  session.transport.onclose = () => {
    events?.clear();
    options.onClosed(session);
  };
  session.server.onerror = (err) => options.logger.debug({ session: id, err: err.message }, 'session protocol error');
  return session;
}
