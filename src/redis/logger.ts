import type { Logger } from 'pino';

/** What the Redis module logs through: a pino logger, or anything with these three methods. */
export type RedisLogger = Pick<Logger, 'info' | 'warn' | 'error'>;
