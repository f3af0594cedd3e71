import type { Limit } from '../policy/index.js';

/** Who a call is counted for; the limit's scope picks one of these. */
export interface Caller {
  grant: string | undefined;
  session: string | undefined;
}

/** Every key shares the `{airlock}` hash tag, so one script's keys sit on one Redis Cluster slot. */
export const DEFAULT_PREFIX = '{airlock}:';

/**
 * `{airlock}:limit:<scope>:<who>:<counter>`. Grant names and session ids are
 * free text, so they are percent-encoded: a ":" in a name cannot make two
 * callers share a key. Counter names are checked when the policy loads.
 */
export function counterKey(prefix: string, limit: Pick<Limit, 'scope' | 'counter'>, caller: Caller): string {
  const who = limit.scope === 'global' ? '-' : limit.scope === 'grant' ? (caller.grant ?? '') : (caller.session ?? '');
  return `${prefix}limit:${limit.scope}:${encodeURIComponent(who)}:${limit.counter}`;
}

/** `{airlock}:limit-cancelled:<member>`: marks a charge its caller stopped waiting for. */
export function cancelKey(prefix: string, member: string): string {
  return `${prefix}limit-cancelled:${member}`;
}
