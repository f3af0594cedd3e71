import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import { AirlockError, ErrorCode, httpStatus } from '../errors.js';
import type { AdminIdentity } from './auth.js';

export interface AdminApiOptions {
  /** The admin behind a request's bearer token. */
  authenticate(req: Request): AdminIdentity;
  /** The routes under `/api`, each finding the admin's name in `res.locals.admin`. */
  routers: Router[];
  logger: Logger;
}

/**
 * `/api`: a JSON body parser, the admin token check, the routes, and one
 * error shape for all of them, `{"error": {"code", "message"}}` with the
 * status of the code.
 */
export function adminApi(options: AdminApiOptions): Router {
  const { logger } = options;
  const router = express.Router();
  router.use('/api', express.json({ limit: '16kb', type: () => true }));
  router.use('/api', adminOnly(options.authenticate, logger));
  for (const routes of options.routers) router.use(routes);
  router.use('/api', (_req, res) => sendApiError(res, new AirlockError(ErrorCode.BadArguments, 'no such API route')));
  router.use('/api', ((err, req, res, _next) => {
    if (err instanceof AirlockError) return sendApiError(res, err);
    if (err.type === 'entity.parse.failed')
      return sendApiError(res, new AirlockError(ErrorCode.BadArguments, `the body is not JSON: ${err.message}`));
    if (err.type === 'entity.too.large') return sendApiError(res, new AirlockError(ErrorCode.BadArguments, 'the body is larger than 16kb'));
    logger.error({ path: req.path, err: err.message }, 'admin request failed');
    return res.status(500).json({ error: { code: 'AIRLOCK_INTERNAL', message: 'internal error' } });
  }) as ErrorRequestHandler);
  return router;
}

/** Lets a request on with the admin's name in `res.locals.admin`, or answers 401 with the JSON error shape of `/api`. */
export function adminOnly(authenticate: (req: Request) => AdminIdentity, logger: Logger): RequestHandler {
  return (req, res, next) => {
    const identity = authenticate(req);
    if (identity.ok) {
      res.locals.admin = identity.admin;
      return next();
    }
    res.setHeader('WWW-Authenticate', 'Bearer realm="airlock-admin"');
    logger.warn({ method: req.method, path: req.path, status: identity.status, reason: identity.message }, 'admin request refused');
    return sendApiError(res, new AirlockError(ErrorCode.Unauthorized, `Unauthorized: ${identity.message}`));
  };
}

/** An error in the shape of every `/api` answer, `{"error": {"code", "message"}}`, with the status of its code. */
export function sendApiError(res: Response, err: AirlockError): void {
  res.status(httpStatus(err.code)).json({ error: { code: err.code, message: err.message } });
}
