import type { ApprovalRequest, Approvals } from '../../approvals/index.js';
import type { SlackDirectory } from './directory.js';

/** Whether a Slack user may decide a request, and if not why; `memberOf`: the approver groups that entitle them. */
export type SlackEntitlement =
  | { ok: true; memberOf: string[] }
  | { ok: false; why: 'console_only' | 'not_approver'; message: string }
  | { ok: false; why: 'membership_unknown'; groups: string[] };

/**
 * The check `Approvals.decide` makes, made before any modal opens (a
 * decision's, or the arguments'); user groups are resolved here, as only
 * Slack knows their members, and only when the user is not entitled
 * without them.
 */
export async function slackEntitlement(
  approvals: Approvals,
  directory: SlackDirectory,
  request: ApprovalRequest,
  user: string,
): Promise<SlackEntitlement> {
  const direct = approvals.entitlement(request, { via: 'slack', id: user });
  if (direct.ok) return { ok: true, memberOf: [] };
  if (direct.why === 'console_only') return { ok: false, why: 'console_only', message: direct.message };
  const membership = await directory.membership(user, request.approvers);
  if (membership.memberOf.length > 0 && approvals.entitlement(request, { via: 'slack', id: user, memberOf: membership.memberOf }).ok)
    return { ok: true, memberOf: membership.memberOf };
  if (membership.unknown.length > 0) return { ok: false, why: 'membership_unknown', groups: membership.unknown };
  return { ok: false, why: 'not_approver', message: direct.message };
}
