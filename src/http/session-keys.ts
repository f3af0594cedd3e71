/**
 * Every Redis name the 2025 sessions use, built from the configured prefix
 * (`{airlock}:` by default), whose hash tag puts a script's keys on one Redis
 * Cluster slot. Session ids are Airlock's own UUIDs (checked before any key
 * is built); grant names are free text, so they are percent-encoded.
 */
export interface SessionKeys {
  /** The record hash of one session: `{airlock}:session:<id>`. */
  record(id: string): string;
  /** Left for a while by an ended session: `{airlock}:session-ended:<id>`. */
  tombstone(id: string): string;
  /** The sorted set of a grant's sessions and listen streams: `{airlock}:session-slots:grant:<grant>`, `…:open` without grants. */
  slots(grant: string | undefined): string;
  /** Pub/sub channel carrying the id of every session ended on purpose. */
  ended: string;
}

export function sessionKeys(prefix: string): SessionKeys {
  return {
    record: (id) => `${prefix}session:${id}`,
    tombstone: (id) => `${prefix}session-ended:${id}`,
    slots: (grant) => (grant === undefined ? `${prefix}session-slots:open` : `${prefix}session-slots:grant:${encodeURIComponent(grant)}`),
    ended: `${prefix}sessions:ended`,
  };
}

/** What `randomUUID()` gives: the only session ids Airlock hands out, so anything else is unknown without asking Redis. */
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export function isSessionId(id: string): boolean {
  return SESSION_ID.test(id);
}
