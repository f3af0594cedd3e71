import type { Request, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { RefusalSampler, type AuditRecorder } from '../audit/index.js';
import { AirlockError, ErrorCode, httpStatus } from '../errors.js';
import { sendApiError } from './admin-api.js';
import { cut, type HostCheck, type RefusedHeader } from './host-check.js';
import { sendJsonRpcError } from './json-rpc-error.js';

export interface HostGuardOptions {
  audit: AuditRecorder;
  logger: Logger;
  now: () => number;
  /** Every refusal, by the header refused (for metrics); the audit only samples them. */
  onRefused?: (kind: RefusedHeader) => void;
}

/** Of each kind, one refusal a minute is audited in full; the rest are counted (see RefusalSampler). */
const SAMPLE_WINDOW_MS = 60_000;

const HEADER: Record<RefusedHeader, string> = { host: 'Host', origin: 'Origin' };

/**
 * Refuses, before any route, a request whose Host or Origin does not name
 * Airlock (see `hostCheck`): 403 `AIRLOCK_HOST_NOT_ALLOWED`, in the JSON
 * error shape of `/api` there and as a JSON-RPC error elsewhere. Each
 * refusal is logged; a web page can send them as fast as it likes, so they
 * are audited by sample, as `request_refused`. `protect` makes the
 * middleware of one listener (each has its own names); `flush` writes the
 * pending summaries, when the gateway stops.
 */
export function hostGuard(options: HostGuardOptions): { protect(check: HostCheck | undefined): RequestHandler; flush(): void } {
  const { audit, logger } = options;
  const sampler = new RefusalSampler<RefusedHeader>({
    windowMs: SAMPLE_WINDOW_MS,
    now: options.now,
    summarize: (kind, count, from, to) => {
      const reason = `${count} more request${count === 1 ? '' : 's'} refused the same way (${HEADER[kind]} not one of Airlock's names) from ${new Date(from).toISOString()} to ${new Date(to).toISOString()}, not audited one by one: of each kind, the first of each minute is`;
      logger.warn({ status: 403, kind, count }, 'requests refused for their Host or Origin');
      audit.record({ event: 'request_refused', reason, detail: `${HEADER[kind]} refused; answered 403` });
    },
  });
  const protect = (check: HostCheck | undefined): RequestHandler => {
    if (check === undefined) return (_req, _res, next) => next();
    return (req, res, next) => {
      if (exempt(req)) return next();
      const verdict = check(req.headersDistinct.host, req.headersDistinct.origin);
      if (verdict.ok) return next();
      options.onRefused?.(verdict.kind);
      const path = cut(req.path);
      logger.warn(
        { method: req.method, path, status: 403, kind: verdict.kind, header: verdict.header },
        'request refused: Host or Origin not allowed',
      );
      if (sampler.admit(verdict.kind))
        audit.record({ event: 'request_refused', reason: verdict.message, detail: `${req.method} ${path}: ${verdict.header}` });
      const err = new AirlockError(ErrorCode.HostNotAllowed, verdict.message);
      // Express routes paths case-insensitively: /API/approvals is still /api.
      if (/^\/api(\/|$)/i.test(req.path)) return sendApiError(res, err);
      return sendJsonRpcError(res, httpStatus(err.code), -32000, err.message, { airlock_code: err.code });
    };
  };
  return { protect, flush: () => sampler.flush() };
}

/** Requests answered whatever their Host or Origin. */
function exempt(req: Request): boolean {
  // Load balancers and orchestrators probe with a Host of their own (often an IP); the answers say only up or ready, unless the admin token is sent.
  if ((req.method === 'GET' || req.method === 'HEAD') && (req.path === '/healthz' || req.path === '/readyz')) return true;
  // Each request here must carry Slack's signature, which no web page can make; a tunnel in front of it may present any Host.
  return req.method === 'POST' && req.path === '/slack/events';
}
