/** Every Redis name the audit trail uses, under the configured prefix (one hash tag, so the append script's keys share a slot). */
export interface AuditKeys {
  /** The events, in chain order: `{airlock}:audit`. */
  stream: string;
  /** `<seq> <hash>` of the last event. */
  head: string;
  /** `<seq> <hash>` of the last event retention removed: where verification of what is left starts. */
  trimmed: string;
}

export function auditKeys(prefix: string): AuditKeys {
  return { stream: `${prefix}audit`, head: `${prefix}audit:head`, trimmed: `${prefix}audit:trimmed` };
}
