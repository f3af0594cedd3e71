import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { DEFAULT_REDIS_URL } from '../config/index.js';
import { AirlockError, ErrorCode } from '../errors.js';
import type { RedisLogger } from './logger.js';
import { probeRedis } from './probe.js';
import { findExecutable, startRedisServer, type RedisServer } from './server-process.js';
import { redactRedisUrl } from './url.js';

export interface EnsureRedisOptions {
  url: string;
  /**
   * The operator named this URL (REDIS_URL or `redis.url`, rather than the
   * default). Such a Redis is never replaced by a private one: instances
   * meant to share it would silently stop sharing approvals and counters.
   */
  explicit: boolean;
  /** Airlock's state folder (`.airlock`); a private server keeps its data in `<stateDir>/redis`. */
  stateDir: string;
  logger: RedisLogger;
  /** The PATH value to find `redis-server` in. Default: this process's. */
  searchPath?: string;
  /** How long the look at `url` may take. Default 1000. */
  probeTimeoutMs?: number;
}

export interface EnsuredRedis {
  /** The Redis to use: `url` itself, or the private server's (with its password). */
  url: string;
  /** Stops the private server, if one was started; otherwise does nothing. */
  stop(): Promise<void>;
  privateServer: boolean;
}

/** Who started the private server in a folder, so a second Airlock does not share its files unknowingly. */
const OwnerSchema = z.object({ owner: z.number().int(), pid: z.number().int(), port: z.number().int(), password: z.string() });
type Owner = z.infer<typeof OwnerSchema>;
const OWNER_FILE = 'airlock-redis.json';

/**
 * The Redis `airlock start` uses: the one at `url` when anything answers
 * there; else, unless the URL was named explicitly, a private `redis-server`
 * with its append-only file under `<stateDir>/redis`; else an
 * `AIRLOCK_REDIS_UNAVAILABLE` error whose message is one line.
 */
export async function ensureRedis(options: EnsureRedisOptions): Promise<EnsuredRedis> {
  const where = redactRedisUrl(options.url);
  const probe = await probeRedis(options.url, options.probeTimeoutMs ?? 1_000);
  // A Redis that answers but refuses us (a wrong password, say) is still the
  // one meant; connecting to it reports why.
  if (probe.ok || probe.answered) return { url: options.url, privateServer: false, stop: () => Promise.resolve() };
  if (options.explicit) {
    throw new AirlockError(
      ErrorCode.RedisUnavailable,
      `no Redis answered at ${where} (${probe.error}): start it or correct REDIS_URL / redis.url (Airlock runs a private redis-server only in place of the default ${DEFAULT_REDIS_URL})`,
    );
  }
  // The PATH that spawn() would search; only the caller may narrow it.
  const binary = findExecutable('redis-server', options.searchPath ?? process.env.PATH);
  if (binary === undefined) {
    throw new AirlockError(
      ErrorCode.RedisUnavailable,
      `no Redis at ${where} and no redis-server on the PATH: install Redis (apt-get install redis-server, brew install redis) or set REDIS_URL`,
    );
  }
  const dir = join(options.stateDir, 'redis');
  await clearEarlierServer(dir, options.logger);
  const password = randomBytes(18).toString('base64url');
  let server: RedisServer;
  try {
    server = await startRedisServer({ binary, dir, appendonly: true, password });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new AirlockError(ErrorCode.RedisUnavailable, `no Redis at ${where}, and a private redis-server would not start: ${reason}`, {
      cause: err,
    });
  }
  const ownerFile = join(dir, OWNER_FILE);
  const owner: Owner = { owner: process.pid, pid: server.pid, port: server.port, password };
  writeFileSync(ownerFile, JSON.stringify(owner), { mode: 0o600 });
  options.logger.info(
    { redis: redactRedisUrl(server.url), pid: server.pid, dir },
    `no Redis answered at ${where}; started a private redis-server on 127.0.0.1:${server.port} (data in ${shown(dir)}, append-only file on)`,
  );
  return {
    url: server.url,
    privateServer: true,
    stop: async () => {
      await server.stop();
      rmSync(ownerFile, { force: true });
    },
  };
}

/**
 * The private `redis-server` a running `airlock start` made for itself under
 * `stateDir`, for commands (`airlock approvals`) that must see the same
 * Redis; undefined when there is none or its Airlock has stopped.
 */
export function findPrivateRedis(stateDir: string): string | undefined {
  const owner = readOwner(join(stateDir, 'redis', OWNER_FILE));
  if (!owner || !isAlive(owner.owner)) return undefined;
  return `redis://:${encodeURIComponent(owner.password)}@127.0.0.1:${owner.port}`;
}

/**
 * Two servers writing one append-only file would corrupt it. A server left
 * by an Airlock that was killed (SIGKILL leaves no chance to stop it) is
 * shut down; one whose Airlock still runs is refused.
 */
async function clearEarlierServer(dir: string, logger: RedisLogger): Promise<void> {
  const ownerFile = join(dir, OWNER_FILE);
  const earlier = readOwner(ownerFile);
  if (earlier === undefined) return;
  const url = `redis://:${encodeURIComponent(earlier.password)}@127.0.0.1:${earlier.port}`;
  const probe = await probeRedis(url, 500);
  if (!probe.ok || probe.processId !== earlier.pid) {
    rmSync(ownerFile, { force: true });
    return;
  }
  if (isAlive(earlier.owner)) {
    throw new AirlockError(
      ErrorCode.RedisUnavailable,
      `another Airlock (pid ${earlier.owner}) runs a private redis-server with data in ${shown(dir)}: stop it first, or run one Redis for both and set REDIS_URL`,
    );
  }
  logger.warn(
    { pid: earlier.pid, dir },
    `shutting down the private redis-server (pid ${earlier.pid}) left running by an Airlock (pid ${earlier.owner}) that was killed`,
  );
  await shutDown(url);
  rmSync(ownerFile, { force: true });
}

function readOwner(file: string): Owner | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = OwnerSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

async function shutDown(url: string): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    disconnectTimeout: 100,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    // The server closes the connection instead of replying.
    await client.call('SHUTDOWN').catch(() => undefined);
  } finally {
    client.disconnect();
  }
  const deadline = Date.now() + 5_000;
  for (;;) {
    const probe = await probeRedis(url, 500);
    if (!probe.ok && !probe.answered) return;
    if (Date.now() > deadline)
      throw new AirlockError(ErrorCode.RedisUnavailable, `the redis-server at ${redactRedisUrl(url)} did not shut down within 5 s`);
    await sleep(20);
  }
}

/** Whether a process with this pid runs (EPERM: it does, as another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `.airlock/redis` when under the current folder, else the absolute path. */
function shown(dir: string): string {
  const rel = relative(process.cwd(), dir);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? dir : rel;
}
