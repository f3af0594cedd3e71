import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startRedis, type TestRedis } from './redis.js';
import { AIRLOCK_BIN } from './run-cli.js';

/**
 * `redis.timeout` of a test gateway whose config has no `redis:` of its own.
 * The default 500 ms suits a Redis on its own machine; on a loaded 2-core
 * test machine a reply can take longer, and a call refused [UNAVAILABLE]
 * there says nothing about Airlock. A test about Redis faults writes its own
 * `redis:` with the short timeout it means to exercise.
 */
export const TEST_REDIS_TIMEOUT = '5s';

/** Only keeps a test from hanging on a gateway that never starts: with two suites at once on 2 cores, a start has taken over 20 s. */
const START_DEADLINE_MS = 60_000;

export interface RunningGateway {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** The folder holding the config and policies: a temporary one, or the `dir` passed in. */
  dir: string;
  /** Everything written to stderr so far. */
  readonly stderr: string;
  process: ChildProcess;
  redis: TestRedis;
  /** Every log line so far, parsed. */
  logs: Record<string, unknown>[];
  /** An SDK client connected to `path` (e.g. `/mcp/filesystem`), with an optional bearer token. */
  connect(path: string, token?: string): Promise<Client>;
  /** SIGTERM, then waits for the process to exit; stops Redis and removes `dir` unless they were passed in. Returns the exit code. */
  stop(): Promise<number | null>;
}

/**
 * `airlock start` as a user runs it: a child process with its own config and
 * policy files in a temporary folder (or `dir`, kept across starts), on a free
 * port, against a private Redis. `config` is the YAML text, written to
 * `configFile` (default `airlock.yaml`) in that folder; `listen` is added
 * when it does not set one, and `redis` (TEST_REDIS_TIMEOUT) likewise.
 */
export async function startGateway(options: {
  config: string;
  files?: Record<string, string>;
  redis?: TestRedis;
  env?: NodeJS.ProcessEnv;
  dir?: string;
  configFile?: string;
  /** More arguments of `airlock start` (`--port`, `--host`). */
  args?: string[];
}): Promise<RunningGateway> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'airlock-gateway-'));
  for (const [name, text] of Object.entries(options.files ?? {})) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  const listening = /^listen:/m.test(options.config) ? options.config : `listen: { host: 127.0.0.1, port: 0 }\n${options.config}`;
  const config = /^redis:/m.test(listening) ? listening : `${listening.replace(/\n?$/, '\n')}redis: { timeout: ${TEST_REDIS_TIMEOUT} }\n`;
  const configFile = join(dir, options.configFile ?? 'airlock.yaml');
  mkdirSync(dirname(configFile), { recursive: true });
  writeFileSync(configFile, config);
  const redis = options.redis ?? (await startRedis());
  // AIRLOCK_HOST and AIRLOCK_PORT of the shell running the tests would move every test gateway off its free port: only a test's own count.
  const { AIRLOCK_HOST: _host, AIRLOCK_PORT: _port, ...inherited } = process.env;
  const child = spawn(process.execPath, [AIRLOCK_BIN, 'start', '-c', configFile, ...(options.args ?? [])], {
    cwd: dir,
    env: { ...inherited, REDIS_URL: redis.url, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const url = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => {
      // Left running, a gateway that was only slow keeps the test process (and its stdout pipe) alive, and the suite hangs.
      child.kill('SIGKILL');
      reject(new Error(`airlock did not start within ${START_DEADLINE_MS / 1000} s\n${stderr}\n${JSON.stringify(logs)}`));
    }, START_DEADLINE_MS);
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'airlock listening') {
          clearTimeout(timer);
          resolve(String(entry.url));
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`airlock exited with ${code} before listening\n${stderr}\n${JSON.stringify(logs)}`));
    });
  });

  const clients: Client[] = [];
  return {
    url,
    dir,
    get stderr() {
      return stderr;
    },
    process: child,
    redis,
    logs,
    async connect(path, token) {
      const client = new Client({ name: 'airlock-test', version: '1.0.0' });
      const headers: Record<string, string> = token === undefined ? {} : { Authorization: `Bearer ${token}` };
      await client.connect(new StreamableHTTPClientTransport(new URL(path, url), { requestInit: { headers } }));
      clients.push(client);
      return client;
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      if (child.exitCode === null) child.kill('SIGTERM');
      const code = await exited;
      if (!options.redis) await redis.stop();
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

/**
 * Several gateways started at once (`start` is given each one's index). Should
 * one fail to start, the others are stopped before the error is thrown: a
 * `before` hook awaiting them all would otherwise leave them running and the
 * test process hanging.
 */
export async function startGateways(count: number, start: (index: number) => Promise<RunningGateway>): Promise<RunningGateway[]> {
  const started = await Promise.allSettled(Array.from({ length: count }, (_, index) => start(index)));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  const running = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  if (failed) {
    await Promise.all(running.map((gateway) => gateway.stop()));
    throw failed.reason;
  }
  return running;
}
