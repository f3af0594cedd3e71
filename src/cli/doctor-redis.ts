import { performance } from 'node:perf_hooks';
import { redisUrl, type LoadedConfig } from '../config/index.js';
import { readEvictionPolicy, readPersistence, redactRedisUrl } from '../redis/index.js';
import { openCliRedis } from './console-access.js';
import type { Check } from './doctor-check.js';
import { errorMessage } from '../errors.js';

const LOSING = 'pending approvals and the audit trail';

/** Redis answers (PING, version), keeps what it is given on disk (a warning when not), and never evicts it (an error when it would). */
export async function redisChecks(config: LoadedConfig, env: NodeJS.ProcessEnv): Promise<Check[]> {
  let where: string;
  let redis;
  try {
    where = redactRedisUrl(redisUrl(config, env));
  } catch (err) {
    // A REDIS_URL that is no URL is one failed check among the others, as an unreachable Redis is.
    return [{ level: 'error', what: 'redis', detail: errorMessage(err) }];
  }
  try {
    redis = await openCliRedis(config, env);
  } catch (err) {
    return [{ level: 'error', what: 'redis', detail: `${where}: ${errorMessage(err)}` }];
  }
  try {
    const started = performance.now();
    await redis.ping();
    const ms = (performance.now() - started).toFixed(1);
    const persistence = await readPersistence(redis);
    const eviction = await readEvictionPolicy(redis);
    const checks: Check[] = [
      {
        level: 'ok',
        what: 'redis',
        detail: `${redis.options.host ?? ''}:${redis.options.port ?? ''}: Redis ${persistence.version ?? '(version unknown)'}, PING ${ms} ms`,
      },
    ];
    const lost = `${LOSING} would not survive a Redis restart`;
    if (persistence.durable === true) {
      checks.push({
        level: 'ok',
        what: 'redis persistence',
        detail: [persistence.aof && 'AOF on', persistence.snapshots && `RDB snapshots (save ${persistence.snapshots})`]
          .filter(Boolean)
          .join(', '),
      });
    } else if (persistence.durable === false) {
      checks.push({ level: 'warn', what: 'redis persistence', detail: `off (no AOF, no RDB snapshots): ${lost}; set appendonly yes` });
    } else {
      checks.push({
        level: 'warn',
        what: 'redis persistence',
        detail: `AOF is off and CONFIG GET save is not allowed, so snapshots cannot be checked: unless the service snapshots, ${lost}`,
      });
    }
    checks.push(evictionCheck(eviction.policy, eviction.source));
    return checks;
  } catch (err) {
    return [{ level: 'error', what: 'redis', detail: `${where}: ${errorMessage(err)}` }];
  } finally {
    redis.disconnect();
  }
}

function evictionCheck(policy: string | undefined, source: 'config' | 'info' | undefined): Check {
  const what = 'redis eviction';
  if (policy === undefined) {
    return {
      level: 'warn',
      what,
      detail: `maxmemory-policy cannot be read (CONFIG GET is not allowed and INFO does not show it): check in your Redis service's settings that it is noeviction, or a full Redis deletes keys, ${LOSING} among them`,
    };
  }
  const from = source === 'info' ? ' (read from INFO: CONFIG GET is not allowed)' : '';
  if (policy === 'noeviction') return { level: 'ok', what, detail: `maxmemory-policy noeviction${from}` };
  return {
    level: 'error',
    what,
    detail: `maxmemory-policy is ${policy}${from}: when Redis reaches maxmemory it deletes keys to make room, and ${LOSING} would be lost; set maxmemory-policy noeviction`,
  };
}
