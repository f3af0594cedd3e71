import express, { type Request, type Router } from 'express';
import type { Logger } from 'pino';
import type { GatewayMetrics } from '../metrics/index.js';
import { adminOnly } from './admin-api.js';
import type { AdminIdentity } from './auth.js';

/**
 * `GET /metrics` in Prometheus' text format. On the gateway's own port it
 * takes an admin token (`authenticate`); on the separate `metrics.listen`
 * address it is open, as scrapers expect.
 */
export function metricsRoutes(options: {
  metrics: GatewayMetrics;
  authenticate?: (req: Request) => AdminIdentity;
  logger: Logger;
}): Router {
  const { metrics, authenticate, logger } = options;
  const router = express.Router();
  if (authenticate) router.get('/metrics', adminOnly(authenticate, logger));
  router.get('/metrics', async (_req, res) => {
    const { contentType, body } = await metrics.exposition();
    res.setHeader('Content-Type', contentType);
    res.send(body);
  });
  return router;
}
