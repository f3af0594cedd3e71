import { createHmac } from 'node:crypto';

export const SIGNING_SECRET = 'test-signing-secret-0123456789abcdef';
export const TEAM = 'T0AIRLOCK';
export const CHANNEL = 'C0APPROVALS';

/** A click on Approve, Reject or Show all arguments in an approval message, as Slack posts it to the interactivity URL. */
export function blockActions(options: {
  user: string;
  action: 'approve' | 'reject' | 'show_arguments';
  approvalId: string;
  team?: string;
  channel?: string;
}): Record<string, unknown> {
  return {
    type: 'block_actions',
    team: { id: options.team ?? TEAM, domain: 'airlock-test' },
    user: { id: options.user, username: options.user.toLowerCase(), team_id: options.team ?? TEAM },
    api_app_id: 'A0AIRLOCK',
    token: 'legacy-verification-token',
    container: { type: 'message', message_ts: '1700000001.000100', channel_id: options.channel ?? CHANNEL },
    trigger_id: `trigger-${Date.now()}-${Math.random().toString(36).slice(2)}`,
    channel: { id: options.channel ?? CHANNEL, name: 'approvals' },
    message: { ts: '1700000001.000100', text: 'Approval needed' },
    response_url: 'http://127.0.0.1:1/unused',
    actions: [
      {
        type: 'button',
        action_id: `airlock_${options.action}`,
        block_id: 'b1',
        value: options.approvalId,
        action_ts: `${Date.now() / 1000}`,
      },
    ],
  };
}

/** The reject modal submitted: `privateMetadata` is what views.open was given, handed back as Slack does. */
export function viewSubmission(options: {
  user: string;
  privateMetadata: string;
  reason: string | null;
  team?: string;
}): Record<string, unknown> {
  return {
    type: 'view_submission',
    team: { id: options.team ?? TEAM, domain: 'airlock-test' },
    user: { id: options.user, username: options.user.toLowerCase(), team_id: options.team ?? TEAM },
    api_app_id: 'A0AIRLOCK',
    trigger_id: `trigger-${Date.now()}`,
    view: {
      id: 'V0MODAL',
      type: 'modal',
      callback_id: 'airlock_reject_reason',
      private_metadata: options.privateMetadata,
      state: { values: { reason: { reason: { type: 'plain_text_input', value: options.reason } } } },
    },
  };
}

export interface SignedRequest {
  body: string;
  headers: Record<string, string>;
}

/**
 * An interactivity request as Slack sends it: form-encoded `payload=<json>`,
 * signed `v0=HMAC-SHA256(secret, "v0:<ts>:<body>")`. `timestampS` defaults to
 * now; `body` replaces the encoded payload (for malformed bodies).
 */
export function signed(payload: unknown, options: { secret?: string; timestampS?: number; body?: string } = {}): SignedRequest {
  const body = options.body ?? new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const timestamp = String(options.timestampS ?? Math.floor(Date.now() / 1000));
  const signature = `v0=${createHmac('sha256', options.secret ?? SIGNING_SECRET)
    .update(`v0:${timestamp}:${body}`)
    .digest('hex')}`;
  return {
    body,
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      'X-Slack-Request-Timestamp': timestamp,
      'X-Slack-Signature': signature,
    },
  };
}

/** POSTs a signed request to the gateway's `/slack/events`; resolves with the HTTP status and body text. */
export async function deliver(gatewayUrl: string, request: SignedRequest): Promise<{ status: number; text: string }> {
  const response = await fetch(`${gatewayUrl}/slack/events`, { method: 'POST', headers: request.headers, body: request.body });
  return { status: response.status, text: await response.text() };
}

/** Signs and delivers a payload as Slack would. */
export function sendInteraction(gatewayUrl: string, payload: unknown): Promise<{ status: number; text: string }> {
  return deliver(gatewayUrl, signed(payload));
}
