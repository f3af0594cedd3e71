import type { LoadedConfig } from '../config/index.js';
import { redactRedisUrl } from '../redis/index.js';
import { displayPath, type Io } from './output.js';

/** How a command found the Redis it uses, in the order the gateway looks: `redis.url`, REDIS_URL, the default, the private one. */
export type RedisSource = 'redis.url' | 'REDIS_URL' | 'default' | 'private';

/** The Redis a command uses (the URL may hold a password: show it only through `shownRedisUrl`). */
export interface RedisTarget {
  url: string;
  from: RedisSource;
}

const FROM: Record<RedisSource, string> = {
  'redis.url': 'redis.url',
  REDIS_URL: 'REDIS_URL',
  default: 'the default',
  private: 'the private redis-server of the gateway running this config',
};

const DEFAULT_PREFIX = '{airlock}:';

/**
 * A Redis URL as a person compares it with another: the password masked
 * (as in logs), and the port and database written out even when the URL
 * leaves them to their defaults, so `redis://h` and `redis://h:6379/0`
 * read the same, and `/1` stands out.
 */
export function shownRedisUrl(url: string): string {
  const masked = redactRedisUrl(url);
  let parsed: URL;
  try {
    parsed = new URL(masked);
  } catch {
    return masked;
  }
  const user =
    parsed.username !== '' || parsed.password !== '' ? `${parsed.username}${parsed.password !== '' ? `:${parsed.password}` : ''}@` : '';
  const db = parsed.pathname.replace(/^\//, '') || '0';
  return `${parsed.protocol}//${user}${parsed.hostname}:${parsed.port || '6379'}/${db}${parsed.search}`;
}

/**
 * The line on stderr (so `--json` output stays clean) that says where a
 * command looks: `config examples/airlock.yaml · redis redis://127.0.0.1:6379/0 (REDIS_URL)`.
 * Told which config and which Redis, a person who sees an empty answer can
 * tell it may come from the wrong one.
 */
export function whereLine(io: Io, config: LoadedConfig, redis: RedisTarget | 'not used'): string {
  const parts = [`config ${displayPath(io, config.file)}`];
  parts.push(redis === 'not used' ? 'redis not used' : `redis ${shownRedisUrl(redis.url)} (${FROM[redis.from]})`);
  if (redis !== 'not used' && config.redis.prefix !== DEFAULT_PREFIX) parts.push(`prefix ${config.redis.prefix}`);
  return parts.join(' · ');
}
