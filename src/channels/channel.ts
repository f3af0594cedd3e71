import type { ApprovalRequest, ApprovalStatus } from '../approvals/index.js';

/**
 * Where people decide: Slack, the console. A channel shows each new request
 * and later says how it ended; decisions come back through
 * `Approvals.decide`, on whichever instance the channel reaches.
 */
export interface ApprovalChannel {
  readonly name: string;
  /** Shows a new request to its reviewers. Resolves with a handle for `update` (e.g. a Slack message ts), kept in Redis so any instance can update it. */
  post(request: ApprovalRequest): Promise<string | undefined>;
  /**
   * How the request ended (decided, expired, withdrawn) and, once the call
   * ran, what the server answered (`status.execution`).
   */
  update(request: ApprovalRequest, status: ApprovalStatus): Promise<void>;
}
