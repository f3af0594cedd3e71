import { toNodeHandler, type NodeMcpRequestHandler } from '@modelcontextprotocol/node';
import {
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
import { paramHeaderProblem, HEADER_MISMATCH } from './param-check.js';
import {
  admitListenSubscriptions,
  createSessionServer,
  type SessionDeps,
  type SessionRegistry,
  type SessionScope,
} from '../proxy/index.js';

/** One endpoint's view for one grant: the handlers its 2026 requests are served by. */
interface GrantHandlers {
  /** `tools/call`: always a stream, so a held call is kept open by keep-alive frames (see serveModern). */
  calls: NodeMcpRequestHandler;
  /** Everything else, listen streams included: one JSON body unless the answer streams. */
  rest: NodeMcpRequestHandler;
  handlers: McpHttpHandler[];
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
    const factory = () => createSessionServer(deps, scope, { grant, subscriptions: new Set(), calls: new Map() });
    const onerror = (err: Error) => logger.info({ path, ...(grant !== undefined && { grant }), reason: err.message }, 'request refused');
    const common = { legacy: 'reject', onerror, maxSubscriptions: options.maxListenStreams } as const;
    // A held call without a progress token sends nothing until it is decided: answered as one JSON body, its
    // response headers would wait as long, and fetch gives up on headers after 300 s (undici's headersTimeout),
    // well inside approvals.timeout. As an SSE stream the headers go at once and keep-alive frames follow.
    const calls = createMcpHandler(factory, { ...common, responseMode: 'sse' });
    const rest = createMcpHandler(factory, { ...common, responseMode: 'auto' });
    const made: GrantHandlers = { calls: toNodeHandler(calls), rest: toNodeHandler(rest), handlers: [calls, rest] };
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
      // Only a request the SDK's ladder would pass: its version and standard headers are answered first, as the specification orders them.
      const problem =
        route.kind !== 'modern'
          ? undefined
          : paramHeaderProblem(deps, scope, req.body, (name) => {
              const value = req.headers[name.toLowerCase()];
              return typeof value === 'string' ? value : undefined;
            });
      if (problem !== undefined) {
        logger.info(
          { method: req.method, path: req.path, status: 400, ...(grant !== undefined && { grant }), reason: problem },
          'request refused',
        );
        // The request's id is echoed: the client matches the answer to its call.
        res.status(400).json({
          jsonrpc: '2.0',
          id: (req.body as { id?: unknown }).id ?? null,
          error: { code: HEADER_MISMATCH, message: `Header mismatch: ${problem}` },
        });
        return;
      }
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
