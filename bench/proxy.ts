/**
 * Airlock against a peer proxy, in one run: an allowed `echo` called
 * directly, through a bare SDK v2 hop (bench/bare-hop.ts), through
 * `mcp-proxy --no-eventStore` (the peer) and through Airlock with a policy,
 * a rate-limit counter and the audit trail, by 2025-11-25 clients and by
 * 2026-07-28 clients, in interleaved rounds so a noisy machine hurts every
 * side alike.
 *
 * Target (issue 19), for 2025 clients (the generation the peer speaks to its
 * upstream as well): Airlock's p50 at most 1.05 × mcp-proxy's and its
 * throughput with 50 clients at least 0.95 × mcp-proxy's. 2026 figures are
 * reported beside them.
 *
 * mcp-proxy fronts a stdio server only, so every hop gets its own stdio
 * upstream running the same program: server-everything (v1 SDK, 2025-11-25)
 * for 2025 clients, bench/echo-v2-server.ts (v2 SDK, both generations) for
 * 2026 clients. The direct side calls the same program over Streamable HTTP.
 * Every hop runs in a process of its own (Airlock as `airlock start`), so CPU
 * time per call and RSS are each hop's. BENCH_PROFILE_DIR=DIR writes a CPU
 * profile of each hop to DIR/<side>/ (read it with bench/profile-top.ts);
 * AIRLOCK_BENCH_NODE_ARGS adds node options to Airlock's alone.
 *
 * Clients are the SDK v2 `Client`: in its default legacy mode for 2025, pinned
 * to 2026-07-28 for 2026, with the per-request-signal fetch Airlock's upstream
 * client uses (src/proxy/request-signal.ts), on every side alike.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { CallToolResultSchema } from '@modelcontextprotocol/core';
import { withRequestSignals } from '../src/proxy/request-signal.js';
import { freePort } from '../src/redis/index.js';
import { errorMessage } from '../src/errors.js';
import {
  benchFolder,
  EVERYTHING_SERVER,
  percentile,
  procCpuUs,
  procRssMb,
  startAirlockProcess,
  startBenchRedis,
  startEverything,
  stopChild,
  waitForLine,
  type Cleanup,
} from './setup.js';

const ECHO_V2 = fileURLToPath(new URL('./echo-v2-server.ts', import.meta.url));
const BARE_HOP = fileURLToPath(new URL('./bare-hop.ts', import.meta.url));
/** tsx by file URL: a hop's upstream may run in another folder (Airlock's runs in its config's), where `--import tsx` would not resolve. */
const TSX = import.meta.resolve('tsx');
const MCP_PROXY = fileURLToPath(new URL('../node_modules/mcp-proxy/dist/bin/mcp-proxy.mjs', import.meta.url));

export const TARGETS = { p50OverPeer: 1.05, throughputOverPeer: 0.95 };

export const GENERATIONS = ['2025-11-25', '2026-07-28'] as const;
export type Generation = (typeof GENERATIONS)[number];
export const SIDES = ['direct', 'bare', 'mcp-proxy', 'airlock-plain', 'airlock'] as const;
export type SideName = (typeof SIDES)[number];

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
  generations: readonly Generation[];
  /** The sides measured (all by default). */
  sides: readonly SideName[];
}

export interface Side {
  p50: number;
  p99: number;
  /** Total calls per second of all concurrent clients. */
  concurrentRate: number;
  /** CPU µs per sequential call of the hop's own process (undefined for direct). */
  cpuUs?: number;
  rssMb?: number;
}

/** A side that could not be measured (Airlock refusing 2026 clients before it serves them), and why. */
export interface Missing {
  missing: string;
}

export interface GenerationResult {
  generation: Generation;
  sides: Record<SideName, Side | Missing>;
}

export interface ProxyBenchResult {
  options: ProxyBenchOptions;
  generations: GenerationResult[];
  seconds: number;
}

const DEFAULTS: ProxyBenchOptions = {
  sequential: 2_000,
  warmup: 200,
  clients: 50,
  callsPerClient: 20,
  sequentialRounds: 20,
  concurrentRounds: 4,
  generations: GENERATIONS,
  sides: SIDES,
};

interface Hop {
  url: string;
  pid?: number;
}

export async function benchProxy(overrides: Partial<ProxyBenchOptions> = {}): Promise<ProxyBenchResult> {
  const options = { ...DEFAULTS, ...overrides };
  const started = performance.now();
  const generations: GenerationResult[] = [];
  for (const generation of options.generations) generations.push(await benchGeneration(generation, options));
  return { options, generations, seconds: (performance.now() - started) / 1000 };
}

async function benchGeneration(generation: Generation, options: ProxyBenchOptions): Promise<GenerationResult> {
  const cleanup: Cleanup = [];
  try {
    const upstream = generation === '2025-11-25' ? [EVERYTHING_SERVER, 'stdio'] : ['--import', TSX, ECHO_V2, 'stdio'];
    // One Airlock serves both of its sides, each server with an upstream child of its own.
    let airlock: Promise<{ plain: Hop; counted: Hop }> | undefined;
    const start: Record<SideName, () => Promise<Hop>> = {
      direct: () => (generation === '2025-11-25' ? startEverything(cleanup) : startEchoV2(cleanup)),
      bare: () => startBareHop(generation, upstream, cleanup),
      'mcp-proxy': () => startMcpProxy(generation, upstream, cleanup),
      'airlock-plain': async () => (await (airlock ??= startAirlock(upstream, cleanup))).plain,
      airlock: async () => (await (airlock ??= startAirlock(upstream, cleanup))).counted,
    };
    const hops = {} as Record<SideName, Hop | Missing>;
    for (const side of SIDES) hops[side] = options.sides.includes(side) ? await start[side]() : { missing: 'not measured (--sides)' };
    const connect = async (side: SideName): Promise<Client> => {
      const hop = hops[side];
      if ('missing' in hop) throw new Error(hop.missing);
      const client = new Client(
        { name: 'bench', version: '1.0.0' },
        { versionNegotiation: { mode: generation === '2025-11-25' ? 'legacy' : { pin: generation } } },
      );
      await client.connect(new StreamableHTTPClientTransport(new URL(hop.url), { fetch: withRequestSignals() }));
      cleanup.push(() => client.close());
      await echo(client);
      return client;
    };
    // A side whose first call fails is reported as not served, with the reason, and left out of the rounds.
    const one: Partial<Record<SideName, Client>> = {};
    for (const side of SIDES) {
      const hop = hops[side];
      if ('missing' in hop) continue;
      try {
        one[side] = await connect(side);
      } catch (err) {
        hops[side] = { missing: `not served yet (${firstLine(errorMessage(err))})` };
      }
    }
    const live = SIDES.filter((side) => one[side] !== undefined);
    for (let i = 0; i < options.warmup; i++) for (const side of live) await echo(one[side] as Client);

    const latency = Object.fromEntries(live.map((side) => [side, [] as number[]])) as Record<SideName, number[]>;
    const cpu = Object.fromEntries(live.map((side) => [side, 0])) as Record<SideName, number>;
    const perRound = Math.ceil(options.sequential / options.sequentialRounds);
    for (let round = 0; round < options.sequentialRounds; round++) {
      for (const side of rotate(live, round)) {
        const client = one[side] as Client;
        const pid = (hops[side] as Hop).pid;
        const before = pid === undefined ? 0 : procCpuUs(pid);
        for (let i = 0; i < perRound; i++) {
          const t = performance.now();
          await echo(client);
          latency[side].push(performance.now() - t);
        }
        if (pid !== undefined) cpu[side] += procCpuUs(pid) - before;
      }
    }

    const pool = {} as Record<SideName, Client[]>;
    for (const side of live) pool[side] = await Promise.all(Array.from({ length: options.clients }, () => connect(side)));
    const concurrent = Object.fromEntries(live.map((side) => [side, { calls: 0, ms: 0 }])) as Record<
      SideName,
      { calls: number; ms: number }
    >;
    for (let round = 0; round < options.concurrentRounds; round++) {
      for (const side of rotate(live, round)) {
        const t0 = performance.now();
        await Promise.all(
          pool[side].map(async (client) => {
            for (let i = 0; i < options.callsPerClient; i++) await echo(client);
          }),
        );
        concurrent[side].ms += performance.now() - t0;
        concurrent[side].calls += options.clients * options.callsPerClient;
      }
    }

    const sides = {} as Record<SideName, Side | Missing>;
    for (const side of SIDES) {
      const hop = hops[side];
      if ('missing' in hop) {
        sides[side] = hop;
        continue;
      }
      const rssMb = hop.pid === undefined || side === 'direct' ? undefined : procRssMb(hop.pid);
      sides[side] = {
        p50: percentile(latency[side], 0.5),
        p99: percentile(latency[side], 0.99),
        concurrentRate: (concurrent[side].calls / concurrent[side].ms) * 1000,
        ...(hop.pid !== undefined && side !== 'direct' && { cpuUs: cpu[side] / latency[side].length }),
        ...(rssMb !== undefined && { rssMb }),
      };
    }
    return { generation, sides };
  } finally {
    for (const step of cleanup.reverse()) await Promise.resolve(step()).catch(() => undefined);
  }
}

/** `--cpu-prof` into BENCH_PROFILE_DIR/<side>/ when that is set. */
function profileArgs(side: SideName): string[] {
  const dir = process.env.BENCH_PROFILE_DIR;
  return dir === undefined || dir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(dir, side)}`];
}

/** Each round starts with another side, so none always runs first (or right after the same one). */
function rotate<T>(sides: readonly T[], round: number): T[] {
  const shift = round % sides.length;
  return [...sides.slice(shift), ...sides.slice(0, shift)];
}

async function echo(client: Client): Promise<void> {
  const result = await client.request(
    { method: 'tools/call', params: { name: 'echo', arguments: { message: 'bench' } } },
    CallToolResultSchema,
  );
  if (result.isError) throw new Error(`echo failed: ${JSON.stringify(result)}`);
}

const firstLine = (text: string) => text.split('\n')[0]?.slice(0, 160) ?? '';

/** bench/echo-v2-server.ts over HTTP, for the direct side of 2026 clients. */
async function startEchoV2(cleanup: Cleanup): Promise<Hop> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', ECHO_V2, 'http', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  cleanup.push(() => stopChild(child));
  await waitForLine(child, /listening on port/, 'the v2 echo server');
  return { url: `http://127.0.0.1:${port}/mcp`, ...(child.pid !== undefined && { pid: child.pid }) };
}

async function startBareHop(generation: Generation, upstream: string[], cleanup: Cleanup): Promise<Hop> {
  const protocol = generation === '2025-11-25' ? 'legacy' : generation;
  const child = spawn(
    process.execPath,
    [...profileArgs('bare'), '--import', 'tsx', BARE_HOP, String(await freePort()), protocol, process.execPath, ...upstream],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  cleanup.push(() => stopChild(child));
  const line = await waitForLine(child, /listening on /, 'the bare hop', 'stdout');
  return { url: line.replace(/.*listening on /, '').trim(), ...(child.pid !== undefined && { pid: child.pid }) };
}

/** `mcp-proxy --no-eventStore` on its stream endpoint only, speaking to its upstream in the generation of the clients. */
async function startMcpProxy(generation: Generation, upstream: string[], cleanup: Cleanup): Promise<Hop> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      ...profileArgs('mcp-proxy'),
      MCP_PROXY,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--server',
      'stream',
      '--no-eventStore',
      '--upstreamProtocol',
      generation === '2025-11-25' ? 'legacy' : 'modern',
      '--',
      process.execPath,
      ...upstream,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  cleanup.push(() => stopChild(child));
  await waitUntilListening(child, port, 'mcp-proxy');
  return { url: `http://127.0.0.1:${port}/mcp`, ...(child.pid !== undefined && { pid: child.pid }) };
}

/**
 * Airlock with its audit trail (always on) and two servers running the same
 * upstream: `echo`, whose policy charges every call to a counter that always
 * admits, and `plain`, whose policy only allows: what the counter costs.
 */
async function startAirlock(upstream: string[], cleanup: Cleanup): Promise<{ plain: Hop; counted: Hop }> {
  const port = await freePort();
  const args = upstream.map((a) => JSON.stringify(a)).join(', ');
  const dir = benchFolder(cleanup, {
    'echo.yaml':
      'version: "1"\ndefault: allow\ntools:\n  echo:\n    limits: [{ counter: echo_rate, window: minute, max: 100000000, scope: grant }]\n',
    'plain.yaml': 'version: "1"\ndefault: allow\n',
    'airlock.yaml': `listen: { host: 127.0.0.1, port: ${port}, max_sessions_per_grant: 1000 }\nlog: { level: warn }\nservers:\n${['echo', 'plain'].map((name) => `  ${name}:\n    command: ${JSON.stringify(process.execPath)}\n    args: [${args}]\n    policy: ${name}.yaml\n`).join('')}`,
  });
  const { child } = await startAirlockProcess(cleanup, join(dir, 'airlock.yaml'), await startBenchRedis(cleanup), port, {
    nodeArgs: profileArgs('airlock'),
  });
  const at = (server: string): Hop => ({
    url: `http://127.0.0.1:${port}/mcp/${server}`,
    ...(child.pid !== undefined && { pid: child.pid }),
  });
  return { plain: at('plain'), counted: at('echo') };
}

/** Polls until something answers HTTP on `port` (mcp-proxy says nothing on stderr when it is ready). */
async function waitUntilListening(child: ChildProcess, port: number, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    const up = await fetch(`http://127.0.0.1:${port}/ping`).then(
      () => true,
      () => false,
    );
    if (up) return;
    if (Date.now() > deadline) throw new Error(`${what} was not listening within 20 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const ms = (n: number) => `${n.toFixed(3)} ms`;
const rate = (n: number) => `${Math.round(n).toLocaleString('en-US')}/s`;
const times = (n: number) => `${n.toFixed(2)}×`;
const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
const LABELS: Record<SideName, string> = {
  direct: 'direct',
  bare: 'bare v2 hop',
  'mcp-proxy': 'mcp-proxy',
  'airlock-plain': 'Airlock, policy only',
  airlock: 'Airlock',
};

/** The report: per generation a line a side, then Airlock against the peer. */
export function formatProxyBench(r: ProxyBenchResult): string[] {
  const o = r.options;
  const lines = [
    `proxy: echo directly, through a bare SDK v2 hop, mcp-proxy --no-eventStore and Airlock (policy only; policy + rate-limit counter + audit), each hop with its own stdio upstream; ${o.sequential} sequential calls a side after ${o.warmup} warm-up; ${o.clients} concurrent clients × ${o.callsPerClient} calls × ${o.concurrentRounds} rounds a side`,
  ];
  for (const g of r.generations) {
    const direct = g.sides.direct;
    lines.push(`  ${g.generation} clients${g.generation === '2025-11-25' ? ' (server-everything)' : ' (v2 echo server)'}:`);
    for (const side of SIDES) {
      const x = g.sides[side];
      if ('missing' in x) {
        lines.push(`    ${LABELS[side].padEnd(20)} ${x.missing}`);
        continue;
      }
      const vsDirect =
        'missing' in direct || side === 'direct'
          ? ''
          : `  (${times(x.p50 / direct.p50)} p50, ${times(x.concurrentRate / direct.concurrentRate)} throughput of direct)`;
      const own =
        x.cpuUs === undefined ? '' : `  cpu ${Math.round(x.cpuUs)} µs/call  rss ${x.rssMb === undefined ? '-' : Math.round(x.rssMb)} MB`;
      lines.push(
        `    ${LABELS[side].padEnd(20)} p50 ${ms(x.p50)}  p99 ${ms(x.p99)}  ${o.clients} clients ${rate(x.concurrentRate)}${own}${vsDirect}`,
      );
    }
    const [peer, airlock] = [g.sides['mcp-proxy'], g.sides.airlock];
    if ('missing' in peer || 'missing' in airlock) continue;
    const p50 = airlock.p50 / peer.p50;
    const throughput = airlock.concurrentRate / peer.concurrentRate;
    const targeted = g.generation === '2025-11-25';
    lines.push(
      `    Airlock / mcp-proxy: p50 ${times(p50)}${targeted ? ` (target ≤ ${TARGETS.p50OverPeer}×: ${verdict(p50 <= TARGETS.p50OverPeer)})` : ''}, p99 ${times(airlock.p99 / peer.p99)}, ${o.clients} clients ${times(throughput)}${targeted ? ` (target ≥ ${TARGETS.throughputOverPeer}×: ${verdict(throughput >= TARGETS.throughputOverPeer)})` : ''}`,
    );
  }
  lines.push(`  ${r.seconds.toFixed(1)} s`);
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const only = process.argv.find((a) => a.startsWith('--generation='))?.split('=')[1];
  const generations = only === undefined ? GENERATIONS : GENERATIONS.filter((g) => g.startsWith(only));
  const quick = process.argv.includes('--quick');
  const named = process.argv
    .find((a) => a.startsWith('--sides='))
    ?.split('=')[1]
    ?.split(',');
  const sides = named === undefined ? SIDES : SIDES.filter((side) => side === 'direct' || named.includes(side));
  const result = await benchProxy({
    generations,
    sides,
    ...(quick && { sequential: 400, sequentialRounds: 8, concurrentRounds: 2, callsPerClient: 10 }),
  });
  for (const line of formatProxyBench(result)) console.log(line);
}
