/**
 * Every Redis name the approvals use, built from the configured prefix
 * (`{airlock}:` by default). All share its hash tag, so the scripts' keys
 * and BullMQ's queue keys sit on one Redis Cluster slot.
 */
export interface ApprovalKeys {
  /** The state hash of one request: `{airlock}:approval:<id>`. */
  state(id: string): string;
  /** Exists while the gateway instance is alive: `{airlock}:instance:<id>`. */
  lease(instance: string): string;
  /**
   * The ids of pending requests scored by created_at, kept by the scripts
   * that open and end requests, so a pending list reads no other requests:
   * `{airlock}:approvals-pending`.
   */
  pending: string;
  /**
   * Set once a gateway of a version that keeps `pending` has indexed the
   * requests already pending when it started: `{airlock}:approvals-pending:kept`.
   */
  pendingKept: string;
  /** The approval request of one call in approval pending mode, by a digest of what binds it: `{airlock}:pending-call:<digest>`. */
  pendingCall(digest: string): string;
  /** Pub/sub channel carrying every state change to the holding instances; each holding process subscribes to it. */
  events: string;
  /**
   * BullMQ's event stream of the queue (`added`, `completed`, …):
   * `{airlock}:approvals:events`, a key, where `events` is a pub/sub channel of the same name.
   */
  queueEvents: string;
  /** BullMQ's prefix (no trailing colon: BullMQ adds one) and queue name: keys `{airlock}:approvals:*`. */
  queuePrefix: string;
  queue: string;
}

export function approvalKeys(prefix: string): ApprovalKeys {
  return {
    state: (id) => `${prefix}approval:${id}`,
    lease: (instance) => `${prefix}instance:${instance}`,
    pending: `${prefix}approvals-pending`,
    pendingKept: `${prefix}approvals-pending:kept`,
    pendingCall: (digest) => `${prefix}pending-call:${digest}`,
    events: `${prefix}approvals:events`,
    queuePrefix: prefix.replace(/:$/, ''),
    queue: 'approvals',
    queueEvents: `${prefix.replace(/:$/, '')}:approvals:events`,
  };
}
