import express, { type Request, type Router } from 'express';
import type { Logger } from 'pino';
import { ErrorCode } from '../errors.js';
import type { GatewayMetrics } from '../metrics/index.js';
import type { AdminIdentity } from './auth.js';

/**
 * `GET /metrics` in Prometheus' text format. On the gateway's own port it
 * takes an admin token (`authenticate`); on the separate `metrics.listen`
 * address it is open, as scrapers expect.
 */
export function metricsRoutes(options: { metrics: GatewayMetrics; authenticate?: (req: Request) => AdminIdentity; logger: Logger }): Router {
  const { metrics, authenticate, logger } = options;
  const router = express.Router();
  router.get('/metrics', async (req, res) => {
    if (authenticate) {
      const identity = authenticate(req);
      if (!identity.ok) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="airlock-admin"');
        logger.warn({ method: req.method, path: req.path, status: identity.status, reason: identity.message }, 'metrics request refused');
        res.status(identity.status).json({ error: { code: ErrorCode.Unauthorized, message: `Unauthorized: ${identity.message}` } });
        return;
      }
    }
    const { contentType, body } = await metrics.exposition();
    res.setHeader('Content-Type', contentType);
    res.send(body);
  });
  return router;
}
