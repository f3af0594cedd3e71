import express, { type Request, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import { APPROVAL_STATES, type Approvals } from '../../approvals/index.js';
import { AirlockError, ErrorCode, httpStatus } from '../../errors.js';
import { approvalView, describeDecision } from './view.js';

export interface ConsoleApiOptions {
  approvals: Approvals;
  /** The admin behind a request's bearer token. */
  authenticate(req: Request): { ok: true; admin: string } | { ok: false; status: number; message: string };
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
 * requests, `POST /api/approvals/:id/approve|reject` to decide. Every route
 * needs an admin token; the deciding admin's name is the approver.
 */
export function consoleApiRoutes(options: ConsoleApiOptions): Router {
  const { approvals, logger } = options;
  const router = express.Router();
  router.use('/api', express.json({ limit: '16kb', type: () => true }));
  router.use('/api', (req, res, next) => {
    const identity = options.authenticate(req);
    if (identity.ok) {
      res.locals.admin = identity.admin;
      return next();
    }
    res.setHeader('WWW-Authenticate', 'Bearer realm="airlock-admin"');
    logger.warn({ method: req.method, path: req.path, status: identity.status, reason: identity.message }, 'admin request refused');
    return sendError(res, new AirlockError(ErrorCode.Unauthorized, `Unauthorized: ${identity.message}`));
  });

  router.get('/api/approvals', async (req, res) => {
    const query = parse(ListQuerySchema, req.query, 'query');
    const { state, ...filter } = query;
    const records = await approvals.list({ ...filter, ...(state !== 'all' && { state }) });
    res.json({ approvals: records.map((r) => approvalView(r, { arguments: false })) });
  });

  router.get('/api/approvals/:id', async (req, res) => {
    res.json({ approval: approvalView(await approvals.get(req.params.id)) });
  });

  router.post('/api/approvals/:id/:verdict', async (req, res) => {
    const verdict = req.params.verdict;
    if (verdict !== 'approve' && verdict !== 'reject') throw new AirlockError(ErrorCode.BadArguments, `unknown action ${JSON.stringify(verdict)}: use approve or reject`);
    const body = parse(DecisionBodySchema, req.body ?? {}, 'body');
    const admin = res.locals.admin as string;
    const result = await approvals.decide(req.params.id, { verdict, by: admin, reason: body.reason ?? '', via: 'console' });
    const message = describeDecision(result, verdict);
    logger.info({ approval_id: req.params.id, admin, verdict, outcome: result.outcome, state: result.record.status.state }, message);
    if (result.outcome === 'too_late') {
      return res.status(409).json({ error: { code: ErrorCode.ApprovalDecided, message }, approval: approvalView(result.record) });
    }
    return res.json({ outcome: result.outcome, message, approval: approvalView(result.record) });
  });

  router.use('/api', (_req, res) => sendError(res, new AirlockError(ErrorCode.BadArguments, 'no such API route')));
  router.use('/api', ((err, req, res, _next) => {
    if (err instanceof AirlockError) return sendError(res, err);
    if (err.type === 'entity.parse.failed') return sendError(res, new AirlockError(ErrorCode.BadArguments, `the body is not JSON: ${err.message}`));
    if (err.type === 'entity.too.large') return sendError(res, new AirlockError(ErrorCode.BadArguments, 'the body is larger than 16kb'));
    logger.error({ path: req.path, err: err.message }, 'admin request failed');
    return res.status(500).json({ error: { code: 'AIRLOCK_INTERNAL', message: 'internal error' } });
  }) as express.ErrorRequestHandler);
  return router;
}

function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${[where, ...i.path].join('.')}: ${i.message}`);
  throw new AirlockError(ErrorCode.BadArguments, problems.join('; '));
}

function sendError(res: Response, err: AirlockError): void {
  res.status(httpStatus(err.code)).json({ error: { code: err.code, message: err.message } });
}
