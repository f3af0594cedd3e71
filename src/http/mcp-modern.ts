import { toNodeHandler, type NodeMcpRequestHandler } from '@modelcontextprotocol/node';
import {
  classifyInboundRequest,
  CLIENT_INFO_META_KEY,
  createMcpHandler,
  PROTOCOL_VERSION_META_KEY,
  type InboundClassificationOutcome,
  type McpHttpHandler,
  type Notification,
} from '@modelcontextprotocol/server';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { isResourceHidden } from '../policy/index.js';
import { sseAfter } from './delayed-sse.js';
import { paramHeaderProblem, HEADER_MISMATCH } from './param-check.js';
import {
  admitListenSubscriptions,
  createSessionServer,
  MAX_ARGUMENT_DEPTH,
  nestsDeeperThan,
  type SessionDeps,
  type SessionRegistry,
  type SessionScope,
} from '../proxy/index.js';

/** One endpoint's view for one grant: the handlers its 2026 requests are served by. */
interface GrantHandlers {
  /** `tools/call`: a stream once it has run `CALL_SSE_AFTER_MS`, so a held call is kept open by keep-alive frames (see sseAfter). */
  calls: NodeMcpRequestHandler;
  /** Everything else, listen streams included: one JSON body unless the answer streams. */
  rest: NodeMcpRequestHandler;
  handlers: McpHttpHandler[];
}

/**
 * How long a 2026 `tools/call` may run before its answer becomes a stream:
 * an allowed call is answered well inside it, as one JSON body with the
 * specification's HTTP status; a held or slow one gets its headers then.
 */
const CALL_SSE_AFTER_MS = 2_000;
/** Comment frames on such a stream, as often as the SDK's own. */
const KEEP_ALIVE_MS = 15_000;

/** How deep a 2026 request may nest: arguments up to well past the pipeline's own limit reach it and get its refusal. */
const MAX_MODERN_DEPTH = MAX_ARGUMENT_DEPTH * 4;

/**
 * How the 2026 leg sees a request, or `undefined` when it is a 2025
 * session's. A POST is classified by its body before any session is looked
 * up, as the SDK does: a 2026 request has no session, and a stale
 * Mcp-Session-Id on it is ignored, as the specification asks. Whatever is
 * not plainly 2025 (a bad 2026 request too) is the 2026 leg's, which owns
 * those answers, except a body that is no JSON-RPC message at all sent in a
 * session: it claims no generation, and the session answers it as before.
 */
export function modernRoute(req: Request): InboundClassificationOutcome | undefined {
  if (req.method !== 'POST') return undefined;
  const header = (name: string) => {
    const value = req.headers[name];
    return typeof value === 'string' ? value : undefined;
  };
  const route = classifyInboundRequest({
    httpMethod: req.method,
    protocolVersionHeader: header('mcp-protocol-version'),
    mcpMethodHeader: header('mcp-method'),
    mcpNameHeader: header('mcp-name'),
    body: req.body as unknown,
  });
  if (route.kind === 'legacy') return undefined;
  if (route.kind === 'reject' && route.rung === 'jsonrpc-shape' && header('mcp-session-id') !== undefined) return undefined;
  return route;
}

export interface ModernRequests {
  /** Serves one 2026 request (already authenticated and allowed on this path) with its grant's handlers. */
  serve(req: Request, res: Response, scope: SessionScope, grant: string | undefined, route: InboundClassificationOutcome): Promise<void>;
}

/**
 * The 2026-07-28 clients of `/mcp` and `/mcp/:server`: stateless, one
 * `Server` per request, built by a handler per endpoint and grant. Each grant
 * having its own handler means `server/discover`, the capabilities and the
 * instructions are that grant's, and a handler's listen streams (its `notify`
 * reaches all of them) belong to one grant only. Handlers are made on a
 * grant's first request and closed with the sessions when the gateway stops.
 */
export function modernRequests(options: {
  deps: SessionDeps;
  sessions: SessionRegistry;
  /** Most listen streams one handler keeps open. */
  maxListenStreams: number;
  logger: Logger;
}): ModernRequests {
  const { deps, sessions, logger } = options;
  const byKey = new Map<string, GrantHandlers>();

  const handlersFor = (path: string, scope: SessionScope, grant: string | undefined): GrantHandlers => {
    // By what the endpoint serves, not by how its path was spelled (routes match /MCP and /mcp/ too): one per server and grant.
    const key = JSON.stringify([scope.aggregated ? null : scope.servers[0], grant ?? null]);
    const found = byKey.get(key);
    if (found) return found;
    const factory = () => createSessionServer(deps, scope, { grant, subscriptions: new Set(), modern: true });
    const onerror = (err: Error) => logger.info({ path, ...(grant !== undefined && { grant }), reason: err.message }, 'request refused');
    const common = { legacy: 'reject', onerror, maxSubscriptions: options.maxListenStreams } as const;
    const calls = createMcpHandler(factory, { ...common, responseMode: 'auto' });
    const rest = createMcpHandler(factory, { ...common, responseMode: 'auto' });
    const made: GrantHandlers = {
      calls: toNodeHandler(sseAfter(calls, { graceMs: CALL_SSE_AFTER_MS, keepAliveMs: KEEP_ALIVE_MS })),
      rest: toNodeHandler(rest),
      handlers: [calls, rest],
    };
    byKey.set(key, made);
    sessions.addSink({
      scope,
      deliver: (upstream, notification) => notifyListeners(rest, deps, upstream, notification),
      close: async () => {
        byKey.delete(key);
        await Promise.all(made.handlers.map((h) => h.close()));
      },
    });
    return made;
  };

  return {
    serve: async (req, res, scope, grant, route) => {
      const refuse = (status: number, code: number, message: string, id: unknown = null) => {
        logger.info(
          { method: req.method, path: req.path, status, ...(grant !== undefined && { grant }), reason: message },
          'request refused',
        );
        res.status(status).json({ jsonrpc: '2.0', id, error: { code, message } });
      };
      // No JSON-RPC message: the classifier's answer stands; the handler would only parse it again.
      if (route.kind === 'reject' && route.rung === 'jsonrpc-shape') return refuse(route.httpStatus, route.code, route.message);
      // The SDK's 2026 handler walks a body recursively and answers 500 once it overflows the stack (100,000 levels do).
      // Arguments deeper than MAX_ARGUMENT_DEPTH are the pipeline's to refuse, as for 2025; far deeper, the request is.
      if (nestsDeeperThan(req.body, MAX_MODERN_DEPTH))
        return refuse(400, -32600, `Bad Request: the request nests deeper than ${MAX_MODERN_DEPTH} levels`);
      // Only a request the SDK's ladder would pass: its version and standard headers are answered first, as the specification orders them.
      const problem =
        route.kind !== 'modern'
          ? undefined
          : paramHeaderProblem(deps, scope, req.body, (name) => {
              const value = req.headers[name.toLowerCase()];
              return typeof value === 'string' ? value : undefined;
            });
      // The request's id is echoed: the client matches the answer to its call.
      if (problem !== undefined)
        return refuse(400, HEADER_MISMATCH, `Header mismatch: ${problem}`, (req.body as { id?: unknown }).id ?? null);
      if (route.kind === 'modern' && !(await listenAdmitted(deps, req, res, scope, grant))) return;
      const handlers = handlersFor(req.path, scope, grant);
      const method = (req.body as { method?: unknown } | undefined)?.method;
      await (method === 'tools/call' ? handlers.calls : handlers.rest)(req, res, req.body);
    },
  };
}

/**
 * Whether a `subscriptions/listen` may open: each resource it names must pass
 * the policy and be subscribed to upstream (see admitListenSubscriptions).
 * A refusal is answered in-band, as the handler answers a JSON-RPC error.
 */
async function listenAdmitted(
  deps: SessionDeps,
  req: Request,
  res: Response,
  scope: SessionScope,
  grant: string | undefined,
): Promise<boolean> {
  const body = req.body as {
    id?: unknown;
    method?: unknown;
    params?: { _meta?: Record<string, unknown>; notifications?: { resourceSubscriptions?: unknown } };
  };
  const uris = body.params?.notifications?.resourceSubscriptions;
  // Anything but a list of strings is the SDK's to refuse, by its schema.
  if (body.method !== 'subscriptions/listen' || !Array.isArray(uris) || !uris.every((u) => typeof u === 'string')) return true;
  const meta = body.params?._meta ?? {};
  const client = (meta[CLIENT_INFO_META_KEY] as { name?: unknown } | undefined)?.name;
  const protocol = meta[PROTOCOL_VERSION_META_KEY];
  const caller = {
    grant,
    session: undefined,
    client: typeof client === 'string' ? client : undefined,
    protocol: typeof protocol === 'string' ? protocol : undefined,
  };
  const gone = new AbortController();
  res.once('close', () => gone.abort());
  try {
    await admitListenSubscriptions(deps, scope, caller, uris, gone.signal);
    return true;
  } catch (err) {
    const { code, message, data } = err as { code?: unknown; message?: unknown; data?: unknown };
    res.status(200).json({
      jsonrpc: '2.0',
      id: body.id ?? null,
      error: {
        code: Number.isSafeInteger(code) ? code : -32603,
        message: typeof message === 'string' ? message : 'Internal error',
        ...(data !== undefined && { data }),
      },
    });
    return false;
  }
}

/** An upstream's change, told to the listen streams of one grant's handler; a resource update only when its policy shows the URI. */
function notifyListeners(handler: McpHttpHandler, deps: SessionDeps, upstream: string, notification: Notification): void {
  switch (notification.method) {
    case 'notifications/tools/list_changed':
      return handler.notify.toolsChanged();
    case 'notifications/prompts/list_changed':
      return handler.notify.promptsChanged();
    case 'notifications/resources/list_changed':
      return handler.notify.resourcesChanged();
    case 'notifications/resources/updated': {
      const uri = String(notification.params?.uri);
      if (!isResourceHidden(deps.policyFor(upstream), uri)) handler.notify.resourceUpdated(uri);
      return;
    }
  }
}
