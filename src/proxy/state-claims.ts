import type { Redis } from 'ioredis';
import { withDeadline } from '../redis/index.js';
import type { SealedCall } from './request-state.js';

/**
 * Records in Redis that one round's requestState was used, so each is good
 * for one retry on any instance: a replayed state would otherwise run its
 * call again, uncharged and unapproved, for as long as the state lives. The
 * mark lives until the state expires, and names the call and its round, never
 * the state itself. True when this use is the first.
 */
export function stateClaims(redis: Redis, prefix: string, timeoutMs: number): (call: SealedCall) => Promise<boolean> {
  return async (call) => {
    const key = `${prefix}request-state-used:${call.request_id}:${call.round}`;
    const set = await withDeadline(
      redis.set(key, '1', 'PX', Math.max(1, call.exp - Date.now()), 'NX'),
      timeoutMs,
      'recording a requestState as used',
    );
    return set === 'OK';
  };
}
