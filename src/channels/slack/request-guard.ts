import { createHash } from 'node:crypto';
import { verifySlackRequest } from '@slack/bolt';
import express, { type Request, type RequestHandler, type Response } from 'express';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RefusalSampler, type AuditRecorder } from '../../audit/index.js';
import { withDeadline } from '../../redis/index.js';
import type { SlackKeys } from './keys.js';
import { claimOf } from './payloads.js';
import { errorMessage } from '../../errors.js';

/** Slack signs each request with its time; one more than five minutes off either way is refused (Slack's own rule). */
const MAX_SKEW_S = 5 * 60;
/** Kept past the end of a request's window, for clocks that differ between instances. */
const SEEN_MARGIN_MS = 60_000;
/** Interaction payloads are a few kB; Bolt's own cap is 4 MB. */
const BODY_LIMIT = '512kb';

export interface RequestGuardOptions {
  signingSecret: string;
  redis: Redis;
  keys: SlackKeys;
  redisTimeoutMs: number;
  audit: AuditRecorder;
  logger: Logger;
  now: () => number;
  /** Every refused request, by reason (for metrics); none of them reaches Bolt. */
  onRefused?: (reason: RefusalReason) => void;
}

export type RefusalReason = Unauthenticated | 'replayed' | 'unparsable' | 'replay_check_unavailable';

/** Why a request is not taken as Slack's: none of these needs Slack's signing secret to send. */
export type Unauthenticated = 'unsigned' | 'bad_timestamp' | 'stale' | 'bad_signature';

export type RequestCheck = { ok: true; timestamp: string } | { ok: false; kind: Unauthenticated; reason: string };

/** Of each kind of unauthenticated request, one a minute is audited in full; the rest are counted (see RefusalSampler). */
const SAMPLE_WINDOW_MS = 60_000;

const UNAUTHENTICATED: Record<Unauthenticated, string> = {
  unsigned: 'not signed',
  bad_timestamp: 'X-Slack-Request-Timestamp not a number',
  stale: 'stale timestamp',
  bad_signature: 'bad signature',
};

/**
 * Is this request from Slack, and fresh? The signature is Bolt's check; the
 * time must be within five minutes either way (Bolt refuses only old ones,
 * and a far-future one would outlive the replay record below).
 */
export function checkSlackRequest(signingSecret: string, headers: Request['headers'], body: string, nowMs: number): RequestCheck {
  const signature = headers['x-slack-signature'];
  const timestamp = headers['x-slack-request-timestamp'];
  if (typeof signature !== 'string' || typeof timestamp !== 'string')
    return { ok: false, kind: 'unsigned', reason: 'the request is not signed (no X-Slack-Signature or X-Slack-Request-Timestamp)' };
  if (!/^\d{1,12}$/.test(timestamp))
    return { ok: false, kind: 'bad_timestamp', reason: 'X-Slack-Request-Timestamp is not a number of seconds' };
  const skew = Math.abs(nowMs / 1000 - Number(timestamp));
  if (skew > MAX_SKEW_S)
    return {
      ok: false,
      kind: 'stale',
      reason: `the request was signed ${Math.round(skew)} s away from now; more than ${MAX_SKEW_S} s is refused as stale`,
    };
  try {
    verifySlackRequest({
      signingSecret,
      body,
      headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': Number(timestamp) },
      nowMilliseconds: nowMs,
    });
  } catch (err) {
    return { ok: false, kind: 'bad_signature', reason: `bad signature (${errorMessage(err)})` };
  }
  return { ok: true, timestamp };
}

/** The payload as Bolt will read it: form-encoded with a JSON `payload` field (interactivity), or JSON. */
export function parseSlackBody(
  body: string,
  contentType: string | undefined,
): { ok: true; value: unknown } | { ok: false; reason: string } {
  let value: unknown;
  try {
    if (contentType === 'application/x-www-form-urlencoded') {
      const payload = new URLSearchParams(body).get('payload');
      value = payload === null ? Object.fromEntries(new URLSearchParams(body)) : JSON.parse(payload);
    } else {
      value = JSON.parse(body);
    }
  } catch (err) {
    return { ok: false, reason: `the payload is not JSON (${errorMessage(err)})` };
  }
  // Every Slack payload is an object; Bolt throws (HTTP 500) on null, a number or an array.
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return {
      ok: false,
      reason: `the payload is ${value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`}, not a JSON object`,
    };
  return { ok: true, value };
}

/**
 * Runs before Bolt on `POST /slack/events`: reads the body, refuses unsigned,
 * stale, replayed and unparsable requests (and audits each), then hands the
 * raw body on as `req.rawBody`, which Bolt reads instead of the consumed
 * stream. Bolt checks the signature again; nothing here relies on that.
 *
 * Replays: Bolt processes a signed request again if it is re-sent within its
 * five minutes. Each genuine request is recorded in Redis (SET NX) for as long
 * as its timestamp is accepted, so a second delivery is refused on any instance.
 *
 * Unauthenticated requests are audited by sample (RefusalSampler); signed ones,
 * which only Slack can send, each in full. `flush` writes the pending samples.
 */
export function slackRequestGuard(options: RequestGuardOptions): { handlers: RequestHandler[]; flush(): void } {
  const { audit, logger } = options;
  const sampler = new RefusalSampler<Unauthenticated>({
    windowMs: SAMPLE_WINDOW_MS,
    now: options.now,
    summarize: (kind, count, from, to) => {
      const reason = `${count} more request${count === 1 ? '' : 's'} refused the same way (${UNAUTHENTICATED[kind]}) from ${new Date(from).toISOString()} to ${new Date(to).toISOString()}, not audited one by one: of each kind of unauthenticated request, the first of each minute is`;
      logger.warn({ status: 401, kind, count }, 'unauthenticated Slack requests refused');
      audit.record({ event: 'decision_refused', channel: 'slack', reason, detail: 'POST /slack/events answered 401' });
    },
  });
  const unauthenticated = (req: Request, res: Response, check: Extract<RequestCheck, { ok: false }>) => {
    if (sampler.admit(check.kind)) return refuse(req, res, 401, check.kind, check.reason);
    options.onRefused?.(check.kind);
    logger.debug({ status: 401, reason: check.reason }, 'Slack request refused (counted for the next summary)');
    res.status(401).send();
  };
  /** Answers `status`, counts the refusal by `why`, logs and audits it in full. */
  const refuse = (
    req: Request,
    res: Response,
    status: number,
    why: RefusalReason,
    reason: string,
    claim: { user?: string; approvalId?: string } = {},
  ) => {
    options.onRefused?.(why);
    const digest = createHash('sha256').update(rawBodyOf(req)).digest('hex');
    logger.warn({ status, reason, approval_id: claim.approvalId, user: claim.user, body_sha256: digest }, 'Slack request refused');
    audit.record({
      event: 'decision_refused',
      channel: 'slack',
      reason,
      ...(claim.approvalId && { approval_id: claim.approvalId }),
      ...(claim.user && { approvers: [{ id: claim.user, via: 'slack' }] }),
      detail: `POST /slack/events answered ${status}; body sha256 ${digest}`,
    });
    res.status(status).send();
  };

  const guard: RequestHandler = async (req, res, next) => {
    const body = rawBodyOf(req).toString('utf8');
    const check = checkSlackRequest(options.signingSecret, req.headers, body, options.now());
    if (!check.ok) return unauthenticated(req, res, check);
    const parsed = parseSlackBody(body, req.headers['content-type']);
    if (!parsed.ok) return refuse(req, res, 400, 'unparsable', parsed.reason);
    const claim = claimOf(parsed.value);
    const ttlMs = Number(check.timestamp) * 1000 + MAX_SKEW_S * 1000 + SEEN_MARGIN_MS - options.now();
    let first: string | null;
    try {
      first = await withDeadline(
        options.redis.set(options.keys.seen(check.timestamp, body), '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'),
        options.redisTimeoutMs,
        'slack replay check',
      );
    } catch (err) {
      // Without the replay record a replay could not be told apart: refuse rather than risk it.
      return refuse(req, res, 503, 'replay_check_unavailable', `the replay check could not reach Redis (${errorMessage(err)})`, claim);
    }
    if (first === null) return refuse(req, res, 401, 'replayed', 'replayed request: this signed payload was already received', claim);
    (req as Request & { rawBody?: Buffer }).rawBody = rawBodyOf(req);
    return next();
  };

  return { handlers: [express.raw({ type: () => true, limit: BODY_LIMIT }), guard], flush: () => sampler.flush() };
}

function rawBodyOf(req: Request): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}
