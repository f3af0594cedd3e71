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
 *
 * A caller without a session (a 2026 client: it sends each request on its
 * own) is counted for its grant under `scope: session`, in keys of their own
 * (`limit:session-grant:<grant>:…`): never one empty session shared by every
 * grant, and never a session id that happens to equal a grant's name.
 */
export function counterKey(prefix: string, limit: Pick<Limit, 'scope' | 'counter'>, caller: Caller): string {
  if (limit.scope === 'session' && caller.session === undefined)
    return `${prefix}limit:session-grant:${encodeURIComponent(caller.grant ?? '')}:${limit.counter}`;
  const who = limit.scope === 'global' ? '-' : limit.scope === 'grant' ? (caller.grant ?? '') : (caller.session ?? '');
  return `${prefix}limit:${limit.scope}:${encodeURIComponent(who)}:${limit.counter}`;
}

/** `{airlock}:limit-cancelled:<member>`: marks a charge its caller stopped waiting for. */
export function cancelKey(prefix: string, member: string): string {
  return `${prefix}limit-cancelled:${member}`;
}
