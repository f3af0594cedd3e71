export { connectRedis, pingRedis, reconnectDelayMs, type ConnectRedisOptions, type PingResult } from './connect.js';
export { ensureRedis, findPrivateRedis, isAlive, type EnsureRedisOptions, type EnsuredRedis } from './ensure.js';
export { probeRedis, type ProbeResult } from './probe.js';
export { startRedisServer, findExecutable, freePort, type RedisServer, type RedisServerOptions } from './server-process.js';
export { redactRedisUrl } from './url.js';
export type { RedisLogger } from './logger.js';
export { redisGraceMs, withDeadline } from './deadline.js';
export { readPersistence, type Persistence } from './persistence.js';
export { readEvictionPolicy, type EvictionPolicy } from './eviction.js';
