import { performance } from 'node:perf_hooks';
import { findConfigFile, loadConfig, redisUrl, type LoadedConfig } from '../config/index.js';
import { DocumentError } from '../errors.js';
import { loadPolicyFile } from '../policy/index.js';
import { readPersistence, redactRedisUrl } from '../redis/index.js';
import { openCliRedis } from './console-access.js';
import { displayPath, ExitCode, type Io } from './output.js';

type Level = 'ok' | 'warn' | 'error';
interface Check {
  level: Level;
  what: string;
  detail: string;
}

/**
 * `airlock doctor [-c FILE]`: a line per check of what the gateway needs,
 * exit 1 when any fails. Warnings (a Redis that keeps nothing on disk) do
 * not fail the run but say what would be lost.
 */
export async function doctor(io: Io, options: { config?: string }): Promise<number> {
  const checks: Check[] = [];
  const file = findConfigFile(io.cwd, options.config);
  let config: LoadedConfig;
  try {
    config = loadConfig(file, io.env);
    checks.push({ level: 'ok', what: 'config', detail: displayPath(io, config.file) });
  } catch (err) {
    checks.push({ level: 'error', what: 'config', detail: (err as Error).message });
    return report(io, checks);
  }
  for (const [name, server] of Object.entries(config.servers)) {
    try {
      loadPolicyFile(server.policy);
      checks.push({ level: 'ok', what: `policy ${name}`, detail: displayPath(io, server.policy) });
    } catch (err) {
      checks.push({ level: 'error', what: `policy ${name}`, detail: err instanceof DocumentError ? err.message : (err as Error).message });
    }
  }
  checks.push(...(await redisChecks(io, config)));
  return report(io, checks);
}

async function redisChecks(io: Io, config: LoadedConfig): Promise<Check[]> {
  const where = redactRedisUrl(redisUrl(config, io.env));
  let redis;
  try {
    redis = await openCliRedis(config, io.env);
  } catch (err) {
    return [{ level: 'error', what: 'redis', detail: `${where}: ${(err as Error).message}` }];
  }
  try {
    const started = performance.now();
    await redis.ping();
    const ms = (performance.now() - started).toFixed(1);
    const persistence = await readPersistence(redis);
    const checks: Check[] = [{ level: 'ok', what: 'redis', detail: `${redis.options.host ?? ''}:${redis.options.port ?? ''}: Redis ${persistence.version ?? '(version unknown)'}, PING ${ms} ms` }];
    const losing = 'pending approvals and the audit trail would not survive a Redis restart';
    if (persistence.durable === true) {
      checks.push({ level: 'ok', what: 'redis persistence', detail: [persistence.aof && 'AOF on', persistence.snapshots && `RDB snapshots (save ${persistence.snapshots})`].filter(Boolean).join(', ') });
    } else if (persistence.durable === false) {
      checks.push({ level: 'warn', what: 'redis persistence', detail: `off (no AOF, no RDB snapshots): ${losing}; set appendonly yes` });
    } else {
      checks.push({ level: 'warn', what: 'redis persistence', detail: `AOF is off and CONFIG GET save is not allowed, so snapshots cannot be checked: unless the service snapshots, ${losing}` });
    }
    return checks;
  } catch (err) {
    return [{ level: 'error', what: 'redis', detail: `${where}: ${(err as Error).message}` }];
  } finally {
    redis.disconnect();
  }
}

function report(io: Io, checks: Check[]): number {
  for (const check of checks) io.out(`${check.level.padEnd(5)} ${check.what}: ${check.detail}`);
  const errors = checks.filter((c) => c.level === 'error').length;
  const warnings = checks.filter((c) => c.level === 'warn').length;
  io.out(`${checks.length} checks: ${errors} failed, ${warnings} warning${warnings === 1 ? '' : 's'}`);
  return errors === 0 ? ExitCode.Ok : ExitCode.Failed;
}
