import express, { type Router } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import { APPROVAL_STATES, type Approvals } from '../../approvals/index.js';
import type { AuditRecorder } from '../../audit/index.js';
import { AirlockError, ErrorCode, httpStatus } from '../../errors.js';
import { parseInput } from '../../parse-input.js';
import { decideAsAdmin } from './decide.js';
import { approvalView, describeDecision } from './view.js';

export interface ConsoleApiOptions {
  approvals: Approvals;
  audit: AuditRecorder;
  logger: Logger;
}

const ListQuerySchema = z
  .object({
    state: z.enum([...APPROVAL_STATES, 'all']).default('pending'),
    server: z.string().min(1).optional(),
    tool: z.string().min(1).optional(),
    grant: z.string().min(1).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();
const DecisionBodySchema = z.object({ reason: z.string().max(2000).optional() }).strict();

/**
 * The console channel's HTTP side: `/api/approvals` to list and show
 * requests, `POST /api/approvals/:id/approve|reject` to decide. Mounted
 * behind the admin API (`src/http/admin-api.ts`), which has already parsed
 * the body and set `res.locals.admin`: the deciding admin is the approver.
 */
export function consoleApiRoutes(options: ConsoleApiOptions): Router {
  const { approvals, audit, logger } = options;
  const router = express.Router();
  router.get('/api/approvals', async (req, res) => {
    const query = parseInput(ListQuerySchema, req.query, 'query');
    const { state, ...filter } = query;
    const records = await approvals.list({ ...filter, ...(state !== 'all' && { state }) });
    res.json({ approvals: records.map((r) => approvalView(r, { arguments: false })) });
  });

  router.get('/api/approvals/:id', async (req, res) => {
    res.json({ approval: approvalView(await approvals.get(req.params.id)) });
  });

  router.post('/api/approvals/:id/:verdict', async (req, res) => {
    const verdict = req.params.verdict;
    if (verdict !== 'approve' && verdict !== 'reject')
      throw new AirlockError(ErrorCode.BadArguments, `unknown action ${JSON.stringify(verdict)}: use approve or reject`);
    const body = parseInput(DecisionBodySchema, req.body ?? {}, 'body');
    const admin = res.locals.admin as string;
    const result = await decideAsAdmin(approvals, audit, { id: req.params.id, verdict, admin, reason: body.reason ?? '' });
    const message = describeDecision(result, verdict);
    logger.info(
      {
        approval_id: req.params.id,
        request_id: result.record.request.request_id,
        admin,
        verdict,
        outcome: result.outcome,
        state: result.record.status.state,
      },
      message,
    );
    if (result.outcome === 'too_late') {
      return res
        .status(httpStatus(ErrorCode.ApprovalDecided))
        .json({ error: { code: ErrorCode.ApprovalDecided, message }, approval: approvalView(result.record) });
    }
    return res.json({ outcome: result.outcome, message, approval: approvalView(result.record) });
  });

  return router;
}
