import { AirlockError, ErrorCode, errorMessage } from '../errors.js';
import { withDeadline } from '../redis/index.js';

/**
 * One Redis-touching step with a deadline. Whatever goes wrong on the way
 * (no connection, a timeout, a reply cut off) is AIRLOCK_REDIS_UNAVAILABLE,
 * so callers answer [UNAVAILABLE] / 503 rather than an internal error.
 */
export async function redisStep<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  try {
    return await withDeadline(work, ms, what);
  } catch (err) {
    if (err instanceof AirlockError) throw err;
    throw new AirlockError(ErrorCode.RedisUnavailable, `${what}: ${errorMessage(err)}`, { cause: err });
  }
}
