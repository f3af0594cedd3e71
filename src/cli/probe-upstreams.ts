import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import type { Redis } from 'ioredis';
import { loadConfig, redisUrl, type LoadedConfig, type LoadedServer } from '../config/index.js';
import { eraStoreFor, Upstream, type EraStore } from '../proxy/index.js';
import { connectRedis } from '../redis/index.js';
import type { UpstreamProbe } from './doctor-upstreams.js';
import { errorMessage } from '../errors.js';

/**
 * The child process in which `airlock doctor` starts every upstream:
 * `probe-upstreams.ts CONFIG_FILE TIMEOUT_MS`, with the environment the
 * gateway would have. It writes one JSON line per server as each answers,
 * fails or times out, closes what it started and exits. It leads its own
 * process group, which doctor kills afterwards; should doctor die first,
 * this process's stdin closes and it kills that group itself.
 */

/** The last lines a server wrote on stderr are shown with a failure: they usually say why. */
const STDERR_LINES = 3;
const CLOSE_MS = 3_000;

async function main(): Promise<void> {
  const [file = '', timeout = ''] = process.argv.slice(2);
  process.stdin.on('end', killOwnGroup).resume();
  const config = loadConfig(file, process.env);
  const redis = await verdictRedis(config);
  const eras = eraStoreFor(config, redis);
  const upstreams: Upstream[] = [];
  await Promise.all(
    Object.entries(config.servers).map(async ([name, server]) => {
      const result = await probe(name, server, eras, Number(timeout), (upstream) => upstreams.push(upstream));
      await new Promise<void>((resolve) => process.stdout.write(`${JSON.stringify(result)}\n`, () => resolve()));
    }),
  );
  await Promise.all(upstreams.map((upstream) => within(upstream.close(), CLOSE_MS)));
  redis?.disconnect();
  process.exit(0);
}

/**
 * The deployment's Redis, for the protocol verdicts the gateway keeps there
 * (a stdio server is then not started twice to ask it again); without it
 * each server is asked. Its own checks are doctor's, elsewhere.
 */
async function verdictRedis(config: LoadedConfig): Promise<Redis | undefined> {
  return connectRedis({ url: redisUrl(config, process.env), logger: pino({ level: 'silent' }), connectTimeoutMs: 1_000 }).catch(
    () => undefined,
  );
}

async function probe(
  name: string,
  server: LoadedServer,
  eras: EraStore,
  timeoutMs: number,
  started: (upstream: Upstream) => void,
): Promise<UpstreamProbe> {
  const stderr: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => keepStderr(line, stderr) });
  const upstream = new Upstream({ name, server, logger, onNotification: () => undefined, eras });
  started(upstream);
  const begin = performance.now();
  const settled = await within(upstream.start(), timeoutMs);
  const ms = performance.now() - begin;
  // Lines written just before a server exits are read after its exit is seen.
  await new Promise((resolve) => setImmediate(resolve));
  if (!settled) return { server: name, outcome: 'timeout', stderr, ms };
  if (upstream.status === 'connected')
    return {
      server: name,
      outcome: 'connected',
      tools: upstream.tools.length,
      ...(upstream.protocol && { protocol: upstream.protocol }),
      ms,
    };
  const error = upstream.lastError ?? `status ${upstream.status}`;
  const cause = server.transport === 'http' && /fetch failed/.test(error) ? await connectFailure(server.url, server.headers) : undefined;
  return { server: name, outcome: 'failed', error, ...(cause !== undefined && { cause }), stderr, ms };
}

/** Upstream logs each stderr line of a stdio server as `{ stderr }`; keep the last few. */
function keepStderr(line: string, kept: string[]): void {
  const entry = JSON.parse(line) as { stderr?: unknown };
  if (typeof entry.stderr !== 'string' || entry.stderr.trim() === '') return;
  kept.push(entry.stderr.trim());
  if (kept.length > STDERR_LINES) kept.shift();
}

/** fetch says only "fetch failed"; one more attempt tells refused from not found from timed out. */
async function connectFailure(url: string, headers: Record<string, string>): Promise<string | undefined> {
  try {
    const response = await fetch(url, { headers, redirect: 'manual', signal: AbortSignal.timeout(5_000) });
    await response.body?.cancel();
    return undefined;
  } catch (err) {
    const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
    const code = cause?.code ?? cause?.message;
    return typeof code === 'string' ? code : undefined;
  }
}

/** Whether `work` settled within `ms`. */
async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([
      work.then(
        () => true as const,
        () => true as const,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function killOwnGroup(): void {
  try {
    process.kill(-process.pid, 'SIGKILL');
  } catch {
    process.exit(1);
  }
}

await main().catch((err: unknown) => {
  // One line: doctor shows the last line of this process's stderr when it ends without results.
  process.stderr.write(`${errorMessage(err).split('\n')[0]}\n`);
  process.exit(1);
});
