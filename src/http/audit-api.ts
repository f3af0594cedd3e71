import express, { type Router } from 'express';
import { parseAuditQuery, type AuditReader } from '../audit/index.js';

/**
 * `GET /api/audit`: the trail, oldest first, filtered (`since`, `until`,
 * `server`, `tool`, `grant`, `approver`, `decision`, `approval_id`,
 * `request_id`, `task_id`) and paged (`limit`, and `cursor` from the page before's
 * `next`). Mounted behind the admin API.
 */
export function auditApiRoutes(reader: AuditReader): Router {
  const router = express.Router();
  router.get('/api/audit', async (req, res) => {
    res.json(await reader.query(parseAuditQuery(req.query)));
  });
  return router;
}
