/** Every Redis name the audit trail uses, under the configured prefix (one hash tag, so the append script's keys share a slot). */
export interface AuditKeys {
  /** The events, in chain order: `{airlock}:audit`. */
  stream: string;
  /** `<seq> <hash>` of the last event. */
  head: string;
  /** `<seq> <hash>` of the last event retention removed: where verification of what is left starts. */
  trimmed: string;
  /** `<seq it covers> <its seq> <Redis ms>` of the newest checkpoint: when the next is due. Not trusted by verification. */
  checkpoint: string;
  /** Which instance signs the next checkpoint (its token, with a lease). */
  checkpointClaim: string;
}

export function auditKeys(prefix: string): AuditKeys {
  return {
    stream: `${prefix}audit`,
    head: `${prefix}audit:head`,
    trimmed: `${prefix}audit:trimmed`,
    checkpoint: `${prefix}audit:checkpoint`,
    checkpointClaim: `${prefix}audit:checkpoint:claim`,
  };
}
