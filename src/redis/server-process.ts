import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { delimiter, isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { probeRedis } from './probe.js';

export interface RedisServerOptions {
  /** The `redis-server` to run: a path, or a name looked up on the PATH by `spawn`. */
  binary: string;
  /** Its working folder, where the append-only file goes; created when missing. */
  dir: string;
  /** Default: a free port, chosen again if another process takes it first. */
  port?: number;
  /** Default false: no persistence at all. */
  appendonly?: boolean;
  /** Clients must AUTH with it; passed on stdin, so `ps` never shows it. */
  password?: string;
  /** How long to wait for the first answer. Default 5000. */
  readyTimeoutMs?: number;
}

/** A `redis-server` child process on 127.0.0.1. */
export interface RedisServer {
  /** `redis://127.0.0.1:PORT`, with the password when there is one. */
  url: string;
  port: number;
  pid: number;
  /** SIGTERM (it then syncs its append-only file), SIGKILL after 5 s; resolves once the process is gone. */
  stop(): Promise<void>;
}

const ADDRESS_IN_USE = /address already in use/i;

/**
 * Starts `redis-server` in the foreground as our child, bound to 127.0.0.1,
 * with RDB snapshots off, and resolves once that very process answers.
 * The child never keeps this process alive, and is killed when it exits.
 */
export async function startRedisServer(options: RedisServerOptions): Promise<RedisServer> {
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    try {
      return await startOn(port, options);
    } catch (err) {
      const raced = options.port === undefined && attempt < 3 && err instanceof Error && ADDRESS_IN_USE.test(err.message);
      if (!raced) throw err;
    }
  }
}

async function startOn(port: number, options: RedisServerOptions): Promise<RedisServer> {
  const args = ['-', '--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'yes', '--daemonize', 'no'];
  args.push('--dir', options.dir, '--appendonly', options.appendonly ? 'yes' : 'no', '--save', '', '--logfile', '');
  const child = spawn(options.binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) {
    const error = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`cannot run ${options.binary}: ${error.message}`);
  }
  // A server that exits before reading its config is reported by the exit below, not as EPIPE here.
  child.stdin?.on('error', () => undefined);
  child.stdin?.end(options.password === undefined ? '' : `requirepass "${options.password}"\n`);
  const output = tailOf(child);
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? `code ${code}`)));
  let gone: string | undefined;
  void exited.then((how) => (gone = how));
  track(child);

  const auth = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
  const url = `redis://${auth}127.0.0.1:${port}`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 5_000);
  for (;;) {
    // Something else may answer on this port for a moment (a lost race for
    // it): only our own process, by its pid, counts as ready.
    const probe = await probeRedis(url, 500);
    if (gone !== undefined) throw new Error(`redis-server on port ${port} exited (${gone}) before answering: ${output()}`);
    if (probe.ok && probe.processId === pid) break;
    if (Date.now() > deadline) {
      await stopChild(child, exited);
      throw new Error(`redis-server on port ${port} did not answer within ${options.readyTimeoutMs ?? 5_000} ms: ${output()}`);
    }
    await sleep(20);
  }
  return { url, port, pid, stop: () => stopChild(child, exited) };
}

async function stopChild(child: ChildProcess, exited: Promise<string>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  // Awaiting the exit must keep this process alive until it happens.
  child.ref();
  child.kill('SIGTERM');
  // A paused (SIGSTOPped) server only handles SIGTERM once it runs again.
  child.kill('SIGCONT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Why redis-server stopped: its last two warnings (`#` lines, e.g. "Could not
 * create server TCP listening socket …: bind: Address already in use" then
 * "Failed listening on port …, aborting"), without their pid and time stamp;
 * else its last line.
 */
function tailOf(child: ChildProcess): () => string {
  let text = '';
  const keep = (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-4_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => {
    const lines = text.trim().split('\n');
    const warnings = lines.flatMap((line) => /^\d+:[A-Z] .*? # (.*)$/.exec(line)?.[1] ?? []).slice(-2);
    return warnings.length > 0 ? warnings.join(' ') : lines.at(-1)?.trim() || 'no output';
  };
}

const running = new Set<ChildProcess>();

/**
 * The server must not outlive us. On a normal exit (including
 * `process.exit()`) it gets SIGTERM; a signal that kills this process
 * without an 'exit' event must be handled by whoever owns the process, by
 * calling `stop()`.
 */
function track(child: ChildProcess): void {
  if (running.size === 0) process.on('exit', killAll);
  running.add(child);
  child.once('exit', () => {
    running.delete(child);
    if (running.size === 0) process.off('exit', killAll);
  });
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as Socket | null)?.unref();
}

function killAll(): void {
  for (const child of running) {
    child.kill('SIGTERM');
    child.kill('SIGCONT');
  }
}

/** A TCP port on 127.0.0.1 that nothing listened on a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The first executable `name` in the folders of `searchPath` (a PATH value), or undefined. */
export function findExecutable(name: string, searchPath: string | undefined): string | undefined {
  if (isAbsolute(name)) return isExecutable(name) ? name : undefined;
  for (const folder of (searchPath ?? '').split(delimiter)) {
    if (folder === '') continue;
    const candidate = join(folder, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}
