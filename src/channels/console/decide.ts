import type { ApprovalRecord, Approvals, DecideResult } from '../../approvals/index.js';
import type { AuditRecorder } from '../../audit/index.js';
import { AirlockError, ErrorCode } from '../../errors.js';
import { describeEnd } from './view.js';

const REFUSALS = new Set<ErrorCode>([ErrorCode.NotApprover, ErrorCode.ApprovalDecided, ErrorCode.ApprovalNotFound]);

export interface AdminDecision {
  id: string;
  verdict: 'approve' | 'reject';
  admin: string;
  reason: string;
}

/**
 * An admin's approve or reject from the console (`/api/approvals`, `airlock
 * approvals`). A decision that changes nothing (not an approver, already
 * decided, voted twice) is audited as `decision_refused`; one that does is
 * audited by the instance holding the call, when it acts on it.
 */
export async function decideAsAdmin(approvals: Approvals, audit: AuditRecorder, decision: AdminDecision): Promise<DecideResult> {
  const { id, verdict, admin, reason } = decision;
  const person = approvals.personOf({ via: 'console', id: admin });
  const refused = (why: string, record: ApprovalRecord | undefined) =>
    audit.record({
      event: 'decision_refused',
      approval_id: id,
      ...(record && { server: record.request.server, tool: record.request.tool, grant: record.request.grant }),
      channel: 'console',
      approvers: [{ id: admin, ...(person !== undefined && { person }), via: 'console', verdict }],
      reason: why,
    });
  let result: DecideResult;
  try {
    result = await approvals.decide(id, { verdict, by: admin, reason, via: 'console' });
  } catch (err) {
    if (err instanceof AirlockError && REFUSALS.has(err.code)) refused(err.message, await approvals.get(id).catch(() => undefined));
    throw err;
  }
  if (result.outcome === 'too_late') refused(`it was already ${describeEnd(result.record)}`, result.record);
  return result;
}
