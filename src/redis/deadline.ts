import { AirlockError, ErrorCode } from '../errors.js';

/**
 * Rejects when `work` has not settled within `ms`. Node runs timers before it
 * reads sockets, so after a stalled event loop a plain timeout fires even
 * though Redis's reply is already waiting; giving up only after one
 * `setImmediate` (which runs after the socket reads) lets that reply win.
 * ioredis's own `commandTimeout` cannot wait like this, so the client's is set
 * longer and serves only as a backstop for a half-open socket.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      setImmediate(() => reject(new AirlockError(ErrorCode.RedisUnavailable, `${what}: Redis did not answer within ${ms} ms`)));
    }, ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err as Error);
      },
    );
  });
}

/**
 * How long work that can afford to wait for Redis (a held call, the record
 * of an approval) waits before it gives up: max(1 s, 4 × `redis.timeout`),
 * where a call's own commands get only `redis.timeout`.
 */
export function redisGraceMs(timeoutMs: number): number {
  return Math.max(1_000, 4 * timeoutMs);
}
