export {
  Approvals,
  assertApprovalId,
  isPendingHolder,
  type ApprovalsOptions,
  type DecideResult,
  type ReviewerVote,
  type Held,
  type ListFilter,
  type NewApproval,
  type PendingBinding,
  type PendingClaim,
  type Redeemed,
} from './approvals.js';
export type { PendingWatchHandlers } from './arrivals.js';
export {
  APPROVAL_STATES,
  approversOf,
  isApprovalId,
  newApprovalId,
  type ApprovalRecord,
  type ApprovalRequest,
  type ApprovalState,
  type ApprovalStatus,
  type Execution,
  type Vote,
} from './request.js';
export {
  approverList,
  Deciders,
  describeApprovers,
  describeIdentity,
  describeVoter,
  voterKey,
  type Decider,
  type Entitlement,
  type PersonEntry,
} from './deciders.js';
