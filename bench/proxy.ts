/**
 * What Airlock adds to a tool call: `echo` on server-everything running as a
 * Streamable HTTP server, called by the SDK client directly and through
 * Airlock proxying that same upstream, in the same run, in interleaved
 * rounds so a noisy machine hurts both sides alike.
 *
 * Target (issue 3): added p50 ≤ 0.5 ms, added p99 ≤ 2 ms, throughput ≥ 0.7×
 * direct.
 *
 * A third side, the yardstick, calls through a bare SDK proxy hop
 * (bench/bare-hop.ts: the same transports, nothing else), run the same way
 * as Airlock: what Airlock adds beyond it is its own work.
 *
 * Airlock runs in this process by default (Gateway.start with a warn-level
 * logger and a private redis-server); `--child` runs `airlock start` as a
 * child process instead, so the proxy has its own event loop and its CPU
 * time can be read on its own (AIRLOCK_BENCH_NODE_ARGS adds node options to
 * it, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
 *
 * Besides wall-clock figures it prints CPU time per sequential call of each
 * process (from /proc on Linux), which a busy machine disturbs far less.
 *
 * The bench's own clients use the same per-request-signal fetch as Airlock's
 * upstream client (src/proxy/request-signal.ts): with the SDK's default, a
 * client making thousands of calls slows down and floods stderr with
 * MaxListenersExceededWarning, on both sides alike.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Redis } from 'ioredis';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { loadConfig } from '../src/config/index.js';
import { Gateway } from '../src/gateway/index.js';
import { createLogger } from '../src/logging.js';
import { withRequestSignals } from '../src/proxy/request-signal.js';
import { connectRedis, freePort, startRedisServer } from '../src/redis/index.js';
import { startBareHop } from './bare-hop.js';

const EVERYTHING_SERVER = fileURLToPath(new URL('../node_modules/@modelcontextprotocol/server-everything/dist/index.js', import.meta.url));
const AIRLOCK_BIN = fileURLToPath(new URL('../bin/airlock.js', import.meta.url));
const BARE_HOP = fileURLToPath(new URL('./bare-hop.ts', import.meta.url));

export const TARGETS = { addedP50Ms: 0.5, addedP99Ms: 2, throughputRatio: 0.7 };

export interface ProxyBenchOptions {
  /** Sequential calls measured on each side (after warm-up). */
  sequential: number;
  warmup: number;
  /** Concurrent clients on each side. */
  clients: number;
  /** Calls each concurrent client makes per round. */
  callsPerClient: number;
  /** Interleaved rounds on each side. */
  sequentialRounds: number;
  concurrentRounds: number;
  airlock: 'in-process' | 'child';
}

type SideName = 'direct' | 'proxied' | 'bare';
const SIDES: SideName[] = ['direct', 'proxied', 'bare'];

export interface Side {
  p50: number;
  p99: number;
  /** Sequential calls per second (one client, one call at a time). */
  sequentialRate: number;
  /** Total calls per second of all concurrent clients. */
  concurrentRate: number;
  /** CPU µs per sequential call: this process, server-everything, and the hop's child (child mode: Airlock or the bare hop). */
  cpu: { bench: number; upstream: number; hop?: number };
}

export interface ProxyBenchResult {
  options: ProxyBenchOptions;
  direct: Side;
  proxied: Side;
  /** Through the bare SDK hop. */
  bare: Side;
  added: { p50: number; p99: number };
  /** Airlock against the bare hop: latency, and CPU µs a sequential call. */
  overBare: { p50: number; p99: number; cpuUs: number };
  ratio: { sequential: number; concurrent: number };
  /** RSS of this process, and of the Airlock and bare-hop children in child mode, MB. */
  rssMb: number;
  airlockRssMb?: number;
  bareRssMb?: number;
  seconds: number;
}

export type Cleanup = (() => Promise<unknown> | void)[];

const DEFAULTS: ProxyBenchOptions = {
  sequential: 2_000,
  warmup: 200,
  clients: 50,
  callsPerClient: 10,
  sequentialRounds: 20,
  concurrentRounds: 2,
  airlock: 'in-process',
};

export async function benchProxy(overrides: Partial<ProxyBenchOptions> = {}): Promise<ProxyBenchResult> {
  const options = { ...DEFAULTS, ...overrides };
  const started = performance.now();
  const cleanup: Cleanup = [];
  try {
    const upstream = await startEverything(cleanup);
    const airlock =
      options.airlock === 'child' ? await startAirlockChild(upstream.url, cleanup) : await startAirlockInProcess(upstream.url, cleanup);
    const bare =
      options.airlock === 'child' ? await startBareHopChild(upstream.url, cleanup) : await startBareHopInProcess(upstream.url, cleanup);
    const hops: Record<SideName, HopHandle> = { direct: { url: upstream.url }, proxied: airlock, bare };

    const connect = async (side: SideName) => {
      const client = new Client({ name: 'bench', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(hops[side].url), { fetch: withRequestSignals() }));
      cleanup.push(() => client.close());
      return client;
    };
    const one = { direct: await connect('direct'), proxied: await connect('proxied'), bare: await connect('bare') };
    for (let i = 0; i < options.warmup; i++) {
      for (const side of SIDES) await echo(one[side]);
    }

    // Sequential: one client per side, rounds rotating which side goes first.
    const latency: Record<SideName, number[]> = { direct: [], proxied: [], bare: [] };
    const busy = { direct: 0, proxied: 0, bare: 0 };
    const cpu = {
      direct: { bench: 0, upstream: 0, hop: 0 },
      proxied: { bench: 0, upstream: 0, hop: 0 },
      bare: { bench: 0, upstream: 0, hop: 0 },
    };
    const perRound = Math.ceil(options.sequential / options.sequentialRounds);
    const sequentialRound = async (side: SideName) => {
      const hopPid = hops[side].pid;
      const before = { bench: processCpuUs(), upstream: procCpuUs(upstream.pid), hop: hopPid === undefined ? 0 : procCpuUs(hopPid) };
      const t0 = performance.now();
      for (let i = 0; i < perRound; i++) {
        const t = performance.now();
        await echo(one[side]);
        latency[side].push(performance.now() - t);
      }
      busy[side] += performance.now() - t0;
      cpu[side].bench += processCpuUs() - before.bench;
      cpu[side].upstream += procCpuUs(upstream.pid) - before.upstream;
      if (hopPid !== undefined) cpu[side].hop += procCpuUs(hopPid) - before.hop;
    };
    for (let round = 0; round < options.sequentialRounds; round++) {
      for (const side of order(round)) await sequentialRound(side);
    }

    // Concurrent: `clients` sessions per side, all calling at once.
    const clients = (side: SideName) => Promise.all(Array.from({ length: options.clients }, () => connect(side)));
    const pool = { direct: await clients('direct'), proxied: await clients('proxied'), bare: await clients('bare') };
    for (const side of SIDES) await Promise.all(pool[side].map((c) => echo(c)));
    const concurrent = { direct: { calls: 0, ms: 0 }, proxied: { calls: 0, ms: 0 }, bare: { calls: 0, ms: 0 } };
    const concurrentRound = async (side: SideName) => {
      const t0 = performance.now();
      await Promise.all(
        pool[side].map(async (client) => {
          for (let i = 0; i < options.callsPerClient; i++) await echo(client);
        }),
      );
      concurrent[side].ms += performance.now() - t0;
      concurrent[side].calls += options.clients * options.callsPerClient;
    };
    for (let round = 0; round < options.concurrentRounds; round++) {
      for (const side of order(round)) await concurrentRound(side);
    }

    const summarize = (name: SideName): Side => {
      const n = latency[name].length;
      return {
        p50: percentile(latency[name], 0.5),
        p99: percentile(latency[name], 0.99),
        sequentialRate: (n / busy[name]) * 1000,
        concurrentRate: (concurrent[name].calls / concurrent[name].ms) * 1000,
        cpu: {
          bench: cpu[name].bench / n,
          upstream: cpu[name].upstream / n,
          ...(hops[name].pid !== undefined && { hop: cpu[name].hop / n }),
        },
      };
    };
    const d = summarize('direct');
    const p = summarize('proxied');
    const b = summarize('bare');
    const airlockRssMb = airlock.pid === undefined ? undefined : procRssMb(airlock.pid);
    const bareRssMb = bare.pid === undefined ? undefined : procRssMb(bare.pid);
    return {
      options,
      direct: d,
      proxied: p,
      bare: b,
      added: { p50: p.p50 - d.p50, p99: p.p99 - d.p99 },
      overBare: { p50: p.p50 - b.p50, p99: p.p99 - b.p99, cpuUs: hopCpu(p, d) - hopCpu(b, d) },
      ratio: { sequential: p.sequentialRate / d.sequentialRate, concurrent: p.concurrentRate / d.concurrentRate },
      rssMb: process.memoryUsage().rss / 1024 / 1024,
      ...(airlockRssMb !== undefined && { airlockRssMb }),
      ...(bareRssMb !== undefined && { bareRssMb }),
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    for (const step of cleanup.reverse()) await Promise.resolve(step()).catch(() => undefined);
  }
}

/** Each round starts with another side, so none always runs first (or right after the same one). */
function order(round: number): SideName[] {
  const shift = round % SIDES.length;
  return [...SIDES.slice(shift), ...SIDES.slice(0, shift)];
}

/** CPU µs a call of the hop serving `side`: its own process in child mode, else this process's extra over `direct`. */
function hopCpu(side: Side, direct: Side): number {
  return side.cpu.hop ?? side.cpu.bench - direct.cpu.bench;
}

async function echo(client: Client): Promise<void> {
  const result = await client.callTool({ name: 'echo', arguments: { message: 'bench' } });
  if (result.isError) throw new Error(`echo failed: ${JSON.stringify(result)}`);
}

export function percentile(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

function processCpuUs(): number {
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

interface HopHandle {
  url: string;
  /** The child's, in child mode. */
  pid?: number;
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

function writeConfig(upstreamUrl: string, port: number, cleanup: Cleanup): string {
  const dir = benchFolder(cleanup, {
    'everything.yaml': 'version: "1"\ndefault: allow\n',
    'airlock.yaml': `listen: { host: 127.0.0.1, port: ${port} }\nlog: { level: warn }\nservers:\n  everything:\n    url: ${upstreamUrl}\n    policy: everything.yaml\n`,
  });
  return join(dir, 'airlock.yaml');
}

export async function startAirlockInProcess(upstreamUrl: string, cleanup: Cleanup): Promise<HopHandle> {
  const { gateway } = await startBenchGateway(cleanup, writeConfig(upstreamUrl, 0, cleanup), await startBenchRedis(cleanup));
  return { url: `${gateway.url}/mcp/everything` };
}

async function startBareHopInProcess(upstreamUrl: string, cleanup: Cleanup): Promise<HopHandle> {
  const hop = await startBareHop(upstreamUrl);
  cleanup.push(() => hop.close());
  return { url: hop.url };
}

/** bench/bare-hop.ts through tsx (Airlock's child runs its build, when fresh: tsx's loader costs start-up and memory, little a call). */
async function startBareHopChild(upstreamUrl: string, cleanup: Cleanup): Promise<HopHandle> {
  const child = spawn(process.execPath, ['--import', 'tsx', BARE_HOP, upstreamUrl, String(await freePort())], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanup.push(() => stopChild(child));
  const line = await waitForLine(child, /listening on /, 'the bare hop', 'stdout');
  return { url: line.replace(/.*listening on /, '').trim(), ...(child.pid !== undefined && { pid: child.pid }) };
}

async function startAirlockChild(upstreamUrl: string, cleanup: Cleanup): Promise<HopHandle> {
  const port = await freePort();
  const file = writeConfig(upstreamUrl, port, cleanup);
  const { child } = await startAirlockProcess(cleanup, file, await startBenchRedis(cleanup), port);
  return { url: `http://127.0.0.1:${port}/mcp/everything`, ...(child.pid !== undefined && { pid: child.pid }) };
}

export interface AirlockProcessOptions {
  /** Extra environment for the child, over this process's. */
  env?: Record<string, string>;
  /** 'inherit' (default): its log lines go to this process's; 'pipe': the caller reads them from child.stdout / child.stderr. */
  stdio?: 'inherit' | 'pipe';
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
  const nodeArgs = (process.env.AIRLOCK_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
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

function waitForLine(child: ChildProcess, pattern: RegExp, what: string, from: 'stdout' | 'stderr' = 'stderr'): Promise<string> {
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

const ms = (n: number) => `${n.toFixed(3)} ms`;
const rate = (n: number) => `${Math.round(n).toLocaleString('en-US')}/s`;
const us = (n: number | undefined) => (n === undefined ? '-' : `${Math.round(n)} µs`);
const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');

/** The report, one figure a line. */
export function formatProxyBench(r: ProxyBenchResult): string[] {
  const o = r.options;
  const side = (name: string, x: Side) =>
    `  ${name.padEnd(9)} p50 ${ms(x.p50)}  p99 ${ms(x.p99)}  sequential ${rate(x.sequentialRate)}  ${o.clients} clients ${rate(x.concurrentRate)}`;
  const own = o.airlock === 'in-process' ? ' (bench process, minus direct)' : ' (their own processes)';
  return [
    `proxy overhead: echo on server-everything (Streamable HTTP), Airlock ${o.airlock}; ${o.sequential} sequential calls a side after ${o.warmup} warm-up; ${o.clients} concurrent clients × ${o.callsPerClient} calls × ${o.concurrentRounds} rounds a side`,
    side('direct', r.direct),
    side('proxied', r.proxied),
    side('bare hop', r.bare),
    `  added     p50 ${ms(r.added.p50)} (target ≤ ${TARGETS.addedP50Ms} ms: ${verdict(r.added.p50 <= TARGETS.addedP50Ms)})  p99 ${ms(r.added.p99)} (target ≤ ${TARGETS.addedP99Ms} ms: ${verdict(r.added.p99 <= TARGETS.addedP99Ms)})`,
    `  throughput proxied/direct: sequential ${r.ratio.sequential.toFixed(2)}× (target ≥ ${TARGETS.throughputRatio}×: ${verdict(r.ratio.sequential >= TARGETS.throughputRatio)}), ${o.clients} clients ${r.ratio.concurrent.toFixed(2)}× (target ≥ ${TARGETS.throughputRatio}×: ${verdict(r.ratio.concurrent >= TARGETS.throughputRatio)})`,
    `  a bare SDK hop (the same transports, nothing else) adds p50 ${ms(r.bare.p50 - r.direct.p50)}, throughput ${(r.bare.sequentialRate / r.direct.sequentialRate).toFixed(2)}× sequential, ${(r.bare.concurrentRate / r.direct.concurrentRate).toFixed(2)}× with ${o.clients} clients`,
    `  Airlock over the bare hop: p50 ${signed(r.overBare.p50)} ms, p99 ${signed(r.overBare.p99)} ms, cpu ${signed(r.overBare.cpuUs, 0)} µs a call`,
    `  cpu per sequential call: bench process ${us(r.direct.cpu.bench)} direct / ${us(r.proxied.cpu.bench)} proxied / ${us(r.bare.cpu.bench)} bare; server-everything ${us(r.direct.cpu.upstream)} / ${us(r.proxied.cpu.upstream)} / ${us(r.bare.cpu.upstream)}; Airlock ≈ ${us(hopCpu(r.proxied, r.direct))}, bare hop ≈ ${us(hopCpu(r.bare, r.direct))}${own}`,
    `  rss ${Math.round(r.rssMb)} MB (this process${o.airlock === 'in-process' ? ', both hops included' : ''})${r.airlockRssMb === undefined ? '' : `, Airlock ${Math.round(r.airlockRssMb)} MB`}${r.bareRssMb === undefined ? '' : `, bare hop ${Math.round(r.bareRssMb)} MB`}; ${r.seconds.toFixed(1)} s`,
  ];
}

const signed = (n: number, digits = 3) => `${n >= 0 ? '+' : ''}${n.toFixed(digits)}`;

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await benchProxy({ airlock: process.argv.includes('--child') ? 'child' : 'in-process' });
  for (const line of formatProxyBench(result)) console.log(line);
}
