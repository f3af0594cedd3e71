import express, { type ErrorRequestHandler, type Express, type Request, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { AdminIdentity } from './auth.js';
import { sendJsonRpcError } from './json-rpc-error.js';
import { errorMessage } from '../errors.js';

export interface ReadinessCheck {
  name: string;
  check(): Promise<{ ok: boolean; detail?: string }>;
}

export interface HttpAppOptions {
  /** Runs before every route: refuses a request whose Host or Origin does not name Airlock (see `hostGuard`). */
  hostGuard: RequestHandler;
  routers: express.Router[];
  readiness: ReadinessCheck[];
  /** Set when the gateway is shutting down: /readyz answers 503 at once. */
  isStopping: () => boolean;
  /** The admin behind a request's bearer token: only admins see /readyz's checks. */
  authenticateAdmin(req: Request): AdminIdentity;
  bodyLimit: string | number;
  logger: Logger;
}

/** The one port: MCP endpoints, health and readiness. Body parsers are mounted per route, never globally (Bolt needs the raw body later). */
export function createHttpApp(options: HttpAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(options.hostGuard);
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (req, res) => {
    const results = await Promise.all(
      options.readiness.map(async (r) => ({
        name: r.name,
        ...(await r.check().catch((err: unknown) => ({ ok: false, detail: errorMessage(err) }))),
      })),
    );
    const stopping = options.isStopping();
    const ready = !stopping && results.every((r) => r.ok);
    res.status(ready ? 200 : 503);
    // Server names, tool counts and upstream errors are for admins; a probe (never refused: a wrong token is no reason to take an instance out) needs only the verdict.
    if (!options.authenticateAdmin(req).ok) return res.json({ ready });
    return res.json({ ready, ...(stopping && { stopping: true }), checks: results });
  });
  for (const router of options.routers) app.use(router);
  app.use(errorHandler(options));
  return app;
}

function errorHandler({ logger, bodyLimit }: HttpAppOptions): ErrorRequestHandler {
  return (err: { type?: string; status?: number; message?: string }, req, res, _next) => {
    if (err.type === 'entity.too.large') {
      logger.warn({ path: req.path, limit: bodyLimit }, 'request body over the limit');
      return sendJsonRpcError(res, 413, -32600, `Request body is larger than the ${String(bodyLimit)} limit`);
    }
    if (err.type === 'entity.parse.failed') {
      logger.warn({ path: req.path }, 'request body is not JSON');
      return sendJsonRpcError(res, 400, -32700, `Parse error: ${err.message ?? 'invalid JSON'}`);
    }
    if (typeof err.status === 'number' && err.status >= 400 && err.status < 500) {
      logger.warn({ path: req.path, err: err.message }, 'bad request');
      return sendJsonRpcError(res, err.status, -32600, `Invalid Request: ${err.message ?? ''}`);
    }
    logger.error({ path: req.path, err: err.message }, 'request failed');
    return sendJsonRpcError(res, 500, -32603, 'Internal error');
  };
}
