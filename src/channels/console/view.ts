import type { ApprovalRecord, DecideResult } from '../../approvals/index.js';
import { fieldsWithInvisible } from '../invisible-fields.js';

/**
 * A request as the console API and `airlock approvals --json` show it: the
 * values as they are (they are data), and `invisible_characters` naming the
 * fields that hold invisible or direction-changing characters, for a
 * program that shows them to people.
 */
export function approvalView(record: ApprovalRecord, options: { arguments: boolean } = { arguments: true }): Record<string, unknown> {
  const { request, status } = record;
  return {
    id: request.id,
    request_id: request.request_id,
    task_id: request.task_id,
    state: status.state,
    server: request.server,
    tool: request.tool,
    grant: request.grant,
    client: request.client,
    session: request.session,
    rule: request.rule,
    reason: request.reason,
    ...(options.arguments && { arguments: request.arguments }),
    digest: request.digest,
    invisible_characters: fieldsWithInvisible(request),
    approvers: request.approvers,
    approvers_from: request.approvers_from,
    min_approvals: request.min_approvals,
    votes: status.votes.map((v) => ({ ...v, at: new Date(v.at).toISOString() })),
    created_at: iso(request.created_at),
    expires_at: iso(request.expires_at),
    decided_by: status.decided_by ?? null,
    decided_at: iso(status.decided_at),
    decision_reason: status.reason ?? null,
    execution: status.execution ?? null,
  };
}

/** "approved by alice at 2026-11-25T15:00:00.000Z", "expired at …: nobody decided within 10 min". */
export function describeEnd(record: ApprovalRecord): string {
  const { status } = record;
  if (status.state === 'pending') return `pending, ${status.votes.length} of ${status.min_approvals} approvals`;
  const by = status.decided_by ? ` by ${status.decided_by}` : '';
  const why = status.reason ? `: ${status.reason}` : '';
  return `${status.state}${by} at ${iso(status.decided_at) ?? 'an unknown time'}${why}`;
}

/** The sentence a decider reads back: what their click did, or who was first. */
export function describeDecision(result: DecideResult, verdict: 'approve' | 'reject'): string {
  const { record } = result;
  if (result.outcome === 'too_late') return `${record.request.id} was not changed: it was already ${describeEnd(record)}`;
  if (result.outcome === 'counted')
    return `${record.request.id}: approval recorded, ${record.status.votes.length} of ${record.status.min_approvals}; more approvers are needed`;
  return `${record.request.id} ${verdict === 'approve' ? 'approved' : 'rejected'}: ${record.request.server}/${record.request.tool} ${verdict === 'approve' ? 'is released' : 'is refused'}`;
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}
