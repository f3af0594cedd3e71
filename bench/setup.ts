/**
 * What every benchmark sets up: temporary folders, a private redis-server,
 * server-everything over HTTP, Airlock in this process or as `airlock start`
 * child, and the figures read from /proc (CPU time, RSS) and samples.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { loadConfig } from '../src/config/index.js';
import { Gateway } from '../src/gateway/index.js';
import { createLogger } from '../src/logging.js';
import { connectRedis, freePort, startRedisServer } from '../src/redis/index.js';

export const EVERYTHING_SERVER = fileURLToPath(
  new URL('../node_modules/@modelcontextprotocol/server-everything/dist/index.js', import.meta.url),
);
const AIRLOCK_BIN = fileURLToPath(new URL('../bin/airlock.js', import.meta.url));

export type Cleanup = (() => Promise<unknown> | void)[];

export function percentile(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

/** A flag's positive number; undefined when not given; otherwise the bench stops (exit 2) saying what was wrong. */
export function positiveFlag(text: string | undefined, what: string): number | undefined {
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`${what}: expected a positive number, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
}

export function processCpuUs(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** User + system CPU time of another process, µs (Linux; 0 elsewhere). */
export function procCpuUs(pid: number): number {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
  } catch {
    return 0;
  }
}

export function procRssMb(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

/** `node <server-everything> streamableHttp` on a free port; resolves once it listens. */
export async function startEverything(cleanup: Cleanup): Promise<{ url: string; pid: number }> {
  const port = await freePort();
  // It logs a line on stdout for every request: discard them, equally for both sides.
  const child = spawn(process.execPath, [EVERYTHING_SERVER, 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  cleanup.push(() => stopChild(child));
  await waitForLine(child, /listening on port/, 'server-everything');
  return { url: `http://127.0.0.1:${port}/mcp`, pid: child.pid ?? 0 };
}

/** A temporary folder holding `files` (name → text), removed by `cleanup`. */
export function benchFolder(cleanup: Cleanup, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** A private redis-server (never the shared one), stopped by `cleanup`; its URL. */
export async function startBenchRedis(cleanup: Cleanup): Promise<string> {
  const dir = benchFolder(cleanup, {});
  const server = await startRedisServer({ binary: 'redis-server', dir });
  cleanup.push(() => server.stop());
  return server.url;
}

/** A gateway in this process with its own Redis connection, as an instance would have; stopped by `cleanup`. */
export async function startBenchGateway(
  cleanup: Cleanup,
  configFile: string,
  redisUrl: string,
): Promise<{ gateway: Gateway; redis: Redis }> {
  const logger = createLogger({ level: 'warn' });
  const redis = await connectRedis({ url: redisUrl, logger });
  cleanup.push(() => redis.disconnect());
  const gateway = await Gateway.start({ config: loadConfig(configFile, {}), logger, redis });
  cleanup.push(() => gateway.stop());
  return { gateway, redis };
}

export interface AirlockProcessOptions {
  /** Extra environment for the child, over this process's. */
  env?: Record<string, string>;
  /** 'inherit' (default): its log lines go to this process's; 'pipe': the caller reads them from child.stdout / child.stderr. */
  stdio?: 'inherit' | 'pipe';
  /** Node options before AIRLOCK_BENCH_NODE_ARGS's. */
  nodeArgs?: string[];
}

/**
 * `airlock start -c configFile` as a child process (listening on `port`, as
 * its config says) against `redisUrl`, stopped by `cleanup`; resolves once
 * `/readyz` answers 200. AIRLOCK_BENCH_NODE_ARGS adds node options to it.
 */
export async function startAirlockProcess(
  cleanup: Cleanup,
  configFile: string,
  redisUrl: string,
  port: number,
  options: AirlockProcessOptions = {},
): Promise<{ base: string; child: ChildProcess }> {
  const nodeArgs = [...(options.nodeArgs ?? []), ...(process.env.AIRLOCK_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)];
  const stdio = options.stdio ?? 'inherit';
  const child = spawn(process.execPath, [...nodeArgs, AIRLOCK_BIN, 'start', '-c', configFile], {
    env: { ...process.env, ...options.env, REDIS_URL: redisUrl },
    stdio: ['ignore', stdio, stdio],
  });
  cleanup.push(() => stopChild(child));
  const base = `http://127.0.0.1:${port}`;
  // At warn level it logs nothing on a good start: poll readiness, with a deadline.
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`airlock exited with ${child.exitCode}${stdio === 'pipe' ? `\n${unread(child)}` : ''}`);
    const ready = await fetch(`${base}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) throw new Error('airlock was not ready within 20 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { base, child };
}

/** What a piped child wrote that nobody has read yet (its streams stay paused until someone listens). */
function unread(child: ChildProcess): string {
  return [child.stdout, child.stderr].map((stream) => (stream?.read() as Buffer | null)?.toString() ?? '').join('');
}

export function waitForLine(child: ChildProcess, pattern: RegExp, what: string, from: 'stdout' | 'stderr' = 'stderr'): Promise<string> {
  const stream = child[from];
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start within 20 s\n${buffer}`)), 20_000);
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split('\n').find((l) => pattern.test(l));
      if (line === undefined) return;
      clearTimeout(timer);
      stream?.off('data', onData);
      stream?.resume();
      resolve(line);
    };
    stream?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code} before it was ready\n${buffer}`));
    });
  });
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
