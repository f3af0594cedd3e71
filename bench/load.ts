/**
 * Many agents at once (`npm run bench:load`): N concurrent MCP sessions for
 * S seconds against ONE `airlock start` child process (its own event loop,
 * its own RSS), with a private redis-server and server-everything over
 * Streamable HTTP as the upstream. Each session is an SDK client with its
 * own grant token (`--shared-grant`: one token for all) making one call at
 * a time, drawn from a mix of kinds:
 *
 *   allowed       echo                   plain allow
 *   denied        get-env                action: deny
 *   rate_limited  get-sum                a global limit low enough that most are refused
 *   approval      get-annotated-message  require_approval (console channel), decided by a
 *                                        decider loop here through /api/approvals
 *
 * Besides throughput and latency per kind it samples the gateway's RSS
 * (/proc, every 250 ms) and scrapes its /metrics every second for the
 * event loop's max delay (prom-client resets that gauge at each scrape).
 *
 * Baseline, same run: the same number of sessions calling echo only,
 * directly on server-everything and through the gateway, in interleaved
 * rounds (direct, gateway, gateway, direct), so noise hurts both sides.
 * Ratios, not absolute figures, are what compare across machines.
 *
 * Flags: --seconds S (60), --sessions N (200), --baseline-seconds B (a side,
 * default S/6 between 4 and 10), --mix allowed,denied,rate_limited,approval
 * (70,10,10,10), --rate-max M (get-sum calls admitted per second, 5),
 * --shared-grant. Env AIRLOCK_BENCH_LOAD_SECONDS / _SESSIONS set the first two.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Redis } from 'ioredis';
import { withRequestSignals } from '../src/proxy/request-signal.js';
import { freePort } from '../src/redis/index.js';
import {
  benchFolder,
  percentile,
  positiveFlag,
  procCpuUs,
  procRssMb,
  startAirlockProcess,
  startBenchRedis,
  startEverything,
  type Cleanup,
} from './setup.js';

export const KINDS = ['allowed', 'denied', 'rate_limited', 'approval'] as const;
export type Kind = (typeof KINDS)[number];

export interface LoadBenchOptions {
  seconds: number;
  sessions: number;
  /** Each side of the echo-only baseline (direct and through the gateway), split in two interleaved rounds. */
  baselineSeconds: number;
  /** Weights of each kind (any scale; printed as percentages). */
  mix: Record<Kind, number>;
  /** get-sum calls admitted per second, all sessions together. */
  rateMax: number;
  sharedGrant: boolean;
}

const ADMIN = `load-admin-${randomBytes(12).toString('hex')}`;
/** The decider rejects every n-th request it sees and approves the rest. */
const REJECT_EVERY = 10;
const OPEN_CONCURRENCY = 20;
const DECIDE_CONCURRENCY = 32;
/** Longer than the SDK's 60 s default: a held call waits for the decider, and a failure should be a timeout we name, not a hang. */
const CALL_TIMEOUT_MS = 120_000;

const CALLS: Record<Kind, { name: string; arguments: Record<string, unknown>; rule: string }> = {
  allowed: { name: 'echo', arguments: { message: 'load' }, rule: 'allow' },
  denied: { name: 'get-env', arguments: {}, rule: 'action: deny' },
  rate_limited: { name: 'get-sum', arguments: { a: 1, b: 2 }, rule: 'global limit' },
  approval: { name: 'get-annotated-message', arguments: { messageType: 'success' }, rule: 'require_approval, console' },
};

/** What an agent can legitimately get back for each kind; anything else is "unexpected". */
const EXPECTED: Record<Kind, string[]> = {
  allowed: ['ok'],
  denied: ['denied'],
  rate_limited: ['admitted', 'refused'],
  approval: ['approved', 'rejected'],
};

export interface Figures {
  calls: number;
  /** Calls completed within the measured window, per second. */
  rate: number;
  p50: number;
  p99: number;
  max: number;
}

export interface CpuShare {
  gatewayPct: number;
  upstreamPct: number;
  benchPct: number;
  gatewayUsPerCall: number;
  upstreamUsPerCall: number;
}

/** From the gateway's airlock_call_duration_seconds histogram (every phase, warm-up included): quantiles are bucket bounds. */
export interface PartDuration {
  count: number;
  meanMs: number;
  p50AtMostMs: number;
  p99AtMostMs: number;
}

export interface KindResult extends Figures {
  outcomes: Record<string, number>;
}

export interface LoadBenchResult {
  options: LoadBenchOptions;
  kinds: Record<Kind, KindResult>;
  all: Figures;
  /** Thrown by the SDK client (timeouts, transport errors, JSON-RPC errors), by message. */
  errors: Record<string, number>;
  /** Results no policy in this bench should produce (e.g. [UNAVAILABLE]), first few texts. */
  unexpected: { count: number; samples: string[] };
  decider: {
    decided: number;
    approved: number;
    rejected: number;
    tooLate: number;
    failed: number;
    listP50: number;
    listP99: number;
    decideP50: number;
    decideP99: number;
    maxPending: number;
  };
  baseline: { direct: Figures; gateway: Figures };
  /** Gateway over direct: echo-only runs against each other, and the mixed run's allowed calls (a share of its sessions' time) against direct echo-only. */
  ratio: { allowedOnlyThroughput: number; allowedOnlyP99: number; mixedAllowedThroughput: number; mixedAllowedP99: number };
  /** `mixed`: at the start of the mixed run, then at each sixth of it (growth that does not level off is a leak). */
  rssMb: { start: number; max: number; mixed: number[] };
  /** CPU time as a share of one core (100 = one core busy), and the gateway's CPU µs per call completed. */
  cpu: { mixed: CpuShare; direct: CpuShare; gateway: CpuShare };
  /** Undefined when /metrics never answered 200. */
  metrics?: {
    eventLoopMaxMs: { baseline: number; mixed: number };
    promRssMaxMb: number;
    heapUsedMb: { max: number; last: number };
    scrapes: number;
    calls: Record<string, number>;
    callDuration: Record<string, PartDuration>;
  };
  metricsStatus: string;
  gatewayLog: Record<string, number>;
  /** Commands the gateway sent its Redis over the whole run (INFO commandstats), and per call it served (decider's API calls included). */
  redis: { commands: Record<string, number>; perCall: number };
  /** The machine: CPUs, and its 1-minute load average before and after (other work on it skews every figure). */
  machine: { cpus: number; loadBefore: number; loadAfter: number };
  seconds: number;
}

const DEFAULTS: LoadBenchOptions = {
  seconds: 60,
  sessions: 200,
  baselineSeconds: 10,
  mix: { allowed: 70, denied: 10, rate_limited: 10, approval: 10 },
  rateMax: 5,
  sharedGrant: false,
};

export function defaultBaselineSeconds(seconds: number): number {
  return Math.min(10, Math.max(4, Math.round(seconds / 6)));
}

export async function benchLoad(overrides: Partial<LoadBenchOptions> = {}): Promise<LoadBenchResult> {
  const options = { ...DEFAULTS, baselineSeconds: defaultBaselineSeconds(overrides.seconds ?? DEFAULTS.seconds), ...overrides };
  const started = performance.now();
  const loadBefore = loadavg()[0]!;
  const cleanup: Cleanup = [];
  try {
    const upstream = await startEverything(cleanup);
    const tokens = Array.from({ length: options.sharedGrant ? 1 : options.sessions }, (_, i) => ({
      name: `agent-${i}`,
      token: `load-agent-${i}-${randomBytes(12).toString('hex')}`,
    }));
    const port = await freePort();
    const dir = benchFolder(cleanup, {
      'everything.yaml': [
        'version: "1"',
        'default: deny',
        'tools:',
        '  echo: {}',
        '  get-env: { action: deny, reason: "bench: agents may not read the environment" }',
        `  get-sum: { limits: [{ counter: load_sum, window: second, max: ${options.rateMax}, scope: global }] }`,
        '  get-annotated-message: { action: require_approval, reason: "bench: the decider loop decides" }',
        '',
      ].join('\n'),
      'airlock.yaml': [
        `listen: { host: 127.0.0.1, port: ${port} }`,
        'log: { level: warn }',
        `admins: [{ name: load-decider, token: ${ADMIN} }]`,
        'approvals: { channel: console, timeout: 10m }',
        'grants:',
        ...tokens.map((t) => `  - { name: ${t.name}, token: ${t.token} }`),
        'servers:',
        '  everything:',
        `    url: ${upstream.url}`,
        '    policy: everything.yaml',
        '',
      ].join('\n'),
    });
    const redisUrl = await startBenchRedis(cleanup);
    const { base, child } = await startAirlockProcess(cleanup, join(dir, 'airlock.yaml'), redisUrl, port, {
      stdio: 'pipe',
      env: { AIRLOCK_LOG_LEVEL: 'warn', AIRLOCK_LOG_PRETTY: '0' },
    });
    const gatewayLog = readGatewayLog(child);
    const pid = child.pid ?? 0;

    const rss = new RssSampler(pid);
    cleanup.push(() => rss.stop());
    const metrics = new MetricsScraper(base);
    cleanup.push(() => metrics.stop());

    // Sessions: closed before the processes they talk to (cleanup runs in reverse).
    const open = async (url: string, token: string | undefined) => {
      const client = new Client({ name: 'bench-load', version: '1.0.0' });
      const transport = new StreamableHTTPClientTransport(new URL(url), {
        fetch: withRequestSignals(),
        ...(token !== undefined && { requestInit: { headers: { Authorization: `Bearer ${token}` } } }),
      });
      await client.connect(transport);
      cleanup.push(() => client.close());
      await client.callTool({ name: 'echo', arguments: { message: 'warm-up' } });
      return client;
    };
    const gatewaySessions = await mapLimit(range(options.sessions), OPEN_CONCURRENCY, (i) =>
      open(`${base}/mcp/everything`, tokens[i % tokens.length]!.token),
    );
    const directSessions = await mapLimit(range(options.sessions), OPEN_CONCURRENCY, () => open(upstream.url, undefined));

    // Baseline: echo only, direct and through the gateway, interleaved.
    const halfMs = (options.baselineSeconds * 1000) / 2;
    const echoOnly = { allowed: 1, denied: 0, rate_limited: 0, approval: 0 };
    const baseline = { direct: new Tally(), gateway: new Tally() };
    const cpu = {
      direct: new CpuMeter(pid, upstream.pid),
      gateway: new CpuMeter(pid, upstream.pid),
      mixed: new CpuMeter(pid, upstream.pid),
    };
    metrics.phase = 'baseline';
    for (const side of ['direct', 'gateway', 'gateway', 'direct'] as const) {
      const stop = cpu[side].start();
      await drive(side === 'direct' ? directSessions : gatewaySessions, echoOnly, halfMs, baseline[side]);
      stop();
    }

    // The mixed run, with the decider answering held calls as they appear.
    metrics.phase = 'mixed';
    const mixedStart = performance.now();
    const mixed = new Tally();
    const decider = new Decider(base);
    const deciding = decider.run();
    const stopCpu = cpu.mixed.start();
    try {
      await drive(gatewaySessions, options.mix, options.seconds * 1000, mixed);
    } finally {
      decider.stop();
      await deciding;
    }
    const mixedEnd = performance.now();
    stopCpu();
    metrics.phase = 'done';
    // prom-client's lag gauge covers the time since the previous scrape: one more, so the run's end is in it.
    await metrics.scrape('mixed');
    metrics.stop();
    rss.stop();
    const redisCommands = await commandStats(redisUrl);

    const kinds = Object.fromEntries(KINDS.map((k) => [k, { ...mixed.figures(k), outcomes: mixed.outcomes(k) }])) as Record<
      Kind,
      KindResult
    >;
    const direct = baseline.direct.figures('allowed');
    const gateway = baseline.gateway.figures('allowed');
    const scraped = metrics.result();
    return {
      options,
      kinds,
      all: mixed.figures(),
      errors: sumCounts([baseline.direct.errors, baseline.gateway.errors, mixed.errors]),
      unexpected: {
        count: baseline.direct.unexpected + baseline.gateway.unexpected + mixed.unexpected,
        samples: [...new Set([...baseline.direct.samples, ...baseline.gateway.samples, ...mixed.samples])].slice(0, 5),
      },
      decider: decider.result(),
      baseline: { direct, gateway },
      ratio: {
        allowedOnlyThroughput: gateway.rate / direct.rate,
        allowedOnlyP99: gateway.p99 / direct.p99,
        mixedAllowedThroughput: kinds.allowed.rate / direct.rate,
        mixedAllowedP99: kinds.allowed.p99 / direct.p99,
      },
      cpu: {
        mixed: cpu.mixed.share(mixed.figures().calls),
        direct: cpu.direct.share(direct.calls),
        gateway: cpu.gateway.share(gateway.calls),
      },
      rssMb: { start: rss.first, max: rss.max, mixed: range(7).map((i) => rss.at(mixedStart + ((mixedEnd - mixedStart) * i) / 6)) },
      ...(scraped && { metrics: scraped }),
      metricsStatus: metrics.status,
      gatewayLog: Object.fromEntries(gatewayLog),
      redis: {
        commands: redisCommands,
        perCall:
          Object.values(redisCommands).reduce((a, b) => a + b, 0) /
          (options.sessions + baseline.gateway.figures().calls + mixed.figures().calls),
      },
      machine: { cpus: availableParallelism(), loadBefore, loadAfter: loadavg()[0]! },
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    for (const step of cleanup.reverse()) await Promise.resolve(step()).catch(() => undefined);
  }
}

/** Every session calls, one call at a time, until `ms` have passed; calls in flight then are finished and counted in latency but not in throughput. */
async function drive(sessions: Client[], mix: Record<Kind, number>, ms: number, tally: Tally): Promise<void> {
  const start = performance.now();
  const deadline = start + ms;
  tally.windowMs += ms;
  const total = KINDS.reduce((sum, k) => sum + mix[k], 0);
  await Promise.all(
    sessions.map(async (client, i) => {
      const random = mulberry32(i + 1 + Math.round(tally.windowMs));
      while (performance.now() < deadline) {
        let pick = random() * total;
        const kind = KINDS.find((k) => (pick -= mix[k]) < 0) ?? 'allowed';
        const { name, arguments: args } = CALLS[kind];
        const t = performance.now();
        try {
          const result = (await client.callTool({ name, arguments: args }, undefined, { timeout: CALL_TIMEOUT_MS })) as CallToolResult;
          const end = performance.now();
          const outcome = outcomeOf(kind, result);
          tally.record(kind, outcome, end - t, end <= deadline);
          if (!EXPECTED[kind].includes(outcome)) tally.sample(`${kind}: ${textOf(result).slice(0, 200)}`);
        } catch (err) {
          tally.error(kind, (err as Error).message);
          // A gateway that fails every call at once must not turn this loop into a busy spin.
          await sleep(50);
        }
      }
    }),
  );
}

function outcomeOf(kind: Kind, result: CallToolResult): string {
  const text = textOf(result);
  if (result.isError !== true) return { allowed: 'ok', denied: 'unexpected', rate_limited: 'admitted', approval: 'approved' }[kind];
  if (kind === 'denied' && text.startsWith('[POLICY DENIED]')) return 'denied';
  if (kind === 'rate_limited' && text.startsWith('[RATE LIMITED]')) return 'refused';
  if (kind === 'approval' && text.startsWith('[APPROVAL REJECTED]')) return 'rejected';
  return 'unexpected';
}

function textOf(result: CallToolResult): string {
  const first = result.content?.[0];
  return first?.type === 'text' ? first.text : JSON.stringify(result).slice(0, 200);
}

/** Latencies and outcomes per kind for one phase. */
class Tally {
  windowMs = 0;
  unexpected = 0;
  readonly errors = new Map<string, number>();
  readonly samples = new Set<string>();
  readonly #latency = new Map<Kind, number[]>(KINDS.map((k) => [k, []]));
  readonly #inWindow = new Map<Kind, number>(KINDS.map((k) => [k, 0]));
  readonly #outcomes = new Map<Kind, Map<string, number>>(KINDS.map((k) => [k, new Map()]));

  record(kind: Kind, outcome: string, ms: number, inWindow: boolean): void {
    this.#latency.get(kind)!.push(ms);
    if (inWindow) this.#inWindow.set(kind, this.#inWindow.get(kind)! + 1);
    const outcomes = this.#outcomes.get(kind)!;
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    if (outcome === 'unexpected') this.unexpected++;
  }

  sample(text: string): void {
    if (this.samples.size < 5) this.samples.add(text);
  }

  error(kind: Kind, message: string): void {
    const key = `${kind}: ${message.slice(0, 160)}`;
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
  }

  figures(kind?: Kind): Figures {
    const kinds: readonly Kind[] = kind === undefined ? KINDS : [kind];
    const samples = kinds.flatMap((k) => this.#latency.get(k)!);
    const inWindow = kinds.reduce((sum: number, k) => sum + this.#inWindow.get(k)!, 0);
    return {
      calls: samples.length,
      rate: (inWindow / this.windowMs) * 1000,
      p50: percentile(samples, 0.5),
      p99: percentile(samples, 0.99),
      max: samples.reduce((a, b) => Math.max(a, b), 0),
    };
  }

  outcomes(kind: Kind): Record<string, number> {
    return Object.fromEntries(this.#outcomes.get(kind)!);
  }
}

/** A person at the console, automated: lists pending requests, approves them (rejecting every REJECT_EVERY-th), as fast as they appear. */
class Decider {
  #stopped = false;
  #seen = 0;
  readonly #decided = new Set<string>();
  readonly #list: number[] = [];
  readonly #post: number[] = [];
  readonly #tally = { approved: 0, rejected: 0, tooLate: 0, failed: 0, maxPending: 0 };

  constructor(private readonly base: string) {}

  stop(): void {
    this.#stopped = true;
  }

  /** Lists again as soon as the fresh requests are dispatched: decisions in flight (at most DECIDE_CONCURRENCY) do not hold up the next list. */
  async run(): Promise<void> {
    const headers = { Authorization: `Bearer ${ADMIN}` };
    const inFlight = new Set<Promise<void>>();
    while (!this.#stopped) {
      let fresh: { id: string }[];
      try {
        const t = performance.now();
        const answer = await fetch(`${this.base}/api/approvals?state=pending&limit=1000`, { headers, signal: AbortSignal.timeout(10_000) });
        const body = (await answer.json()) as { approvals?: { id: string }[] };
        this.#list.push(performance.now() - t);
        if (answer.status !== 200 || !body.approvals) throw new Error(`list answered ${answer.status}`);
        fresh = body.approvals.filter((a) => !this.#decided.has(a.id));
      } catch {
        this.#tally.failed++;
        await sleep(100);
        continue;
      }
      this.#tally.maxPending = Math.max(this.#tally.maxPending, fresh.length);
      if (fresh.length === 0) await sleep(10);
      for (const { id } of fresh) {
        if (inFlight.size >= DECIDE_CONCURRENCY) await Promise.race(inFlight);
        this.#decided.add(id);
        const decision = this.#decide(id, ++this.#seen % REJECT_EVERY === 0 ? 'reject' : 'approve', headers).finally(() =>
          inFlight.delete(decision),
        );
        inFlight.add(decision);
      }
    }
    await Promise.all(inFlight);
  }

  async #decide(id: string, verdict: 'approve' | 'reject', headers: Record<string, string>): Promise<void> {
    const t = performance.now();
    const answer = await fetch(`${this.base}/api/approvals/${id}/${verdict}`, {
      method: 'POST',
      headers: { ...headers, 'Content-Type': 'application/json' },
      body: JSON.stringify(verdict === 'reject' ? { reason: 'bench: every tenth is rejected' } : {}),
      signal: AbortSignal.timeout(10_000),
    }).catch(() => undefined);
    await answer?.arrayBuffer().catch(() => undefined);
    this.#post.push(performance.now() - t);
    if (answer?.status === 200) this.#tally[verdict === 'approve' ? 'approved' : 'rejected']++;
    else if (answer?.status === 409) this.#tally.tooLate++;
    else this.#tally.failed++;
  }

  result(): LoadBenchResult['decider'] {
    const t = this.#tally;
    return {
      decided: t.approved + t.rejected,
      ...t,
      listP50: percentile(this.#list, 0.5),
      listP99: percentile(this.#list, 0.99),
      decideP50: percentile(this.#post, 0.5),
      decideP99: percentile(this.#post, 0.99),
    };
  }
}

const cpuUs = ({ user, system }: NodeJS.CpuUsage) => user + system;

/** CPU time of the gateway, the upstream and this process over the spans between start() and its stop (Linux /proc; 0 elsewhere). */
class CpuMeter {
  #wallUs = 0;
  readonly #used = { gateway: 0, upstream: 0, bench: 0 };

  constructor(
    private readonly gatewayPid: number,
    private readonly upstreamPid: number,
  ) {}

  start(): () => void {
    const read = () => ({
      gateway: procCpuUs(this.gatewayPid),
      upstream: procCpuUs(this.upstreamPid),
      bench: cpuUs(process.cpuUsage()),
      wall: performance.now() * 1000,
    });
    const before = read();
    return () => {
      const after = read();
      this.#wallUs += after.wall - before.wall;
      this.#used.gateway += after.gateway - before.gateway;
      this.#used.upstream += after.upstream - before.upstream;
      this.#used.bench += after.bench - before.bench;
    };
  }

  share(calls: number): CpuShare {
    const pct = (us: number) => (us / this.#wallUs) * 100;
    return {
      gatewayPct: pct(this.#used.gateway),
      upstreamPct: pct(this.#used.upstream),
      benchPct: pct(this.#used.bench),
      gatewayUsPerCall: this.#used.gateway / calls,
      upstreamUsPerCall: this.#used.upstream / calls,
    };
  }
}

/** The gateway's RSS from /proc every 250 ms. */
class RssSampler {
  readonly first: number;
  max: number;
  readonly #samples: { t: number; mb: number }[] = [];
  readonly #timer: NodeJS.Timeout;

  constructor(pid: number) {
    this.first = procRssMb(pid) ?? Number.NaN;
    this.max = this.first;
    this.#timer = setInterval(() => {
      const mb = procRssMb(pid);
      if (mb === undefined) return;
      this.#samples.push({ t: performance.now(), mb });
      if (!(mb <= this.max)) this.max = mb;
    }, 250);
  }

  /** The last sample taken at or before `t`. */
  at(t: number): number {
    let found = this.#samples[0]?.mb ?? Number.NaN;
    for (const sample of this.#samples) if (sample.t <= t) found = sample.mb;
    return found;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/** GET /metrics every second: the event loop's max delay per phase, Prometheus' own RSS, and at the end the calls the gateway counted. */
class MetricsScraper {
  phase: 'baseline' | 'mixed' | 'done' = 'baseline';
  status = 'not scraped yet';
  readonly #lagMs = { baseline: 0, mixed: 0 };
  #rssMb = 0;
  readonly #heapMb = { max: 0, last: 0 };
  #scrapes = 0;
  #calls: Record<string, number> = {};
  #callDuration: Record<string, PartDuration> = {};
  readonly #timer: NodeJS.Timeout;

  constructor(private readonly base: string) {
    this.#timer = setInterval(() => void this.scrape(this.phase), 1_000);
  }

  async scrape(phase: MetricsScraper['phase']): Promise<void> {
    if (phase === 'done') return;
    try {
      const answer = await fetch(`${this.base}/metrics`, {
        headers: { Authorization: `Bearer ${ADMIN}` },
        signal: AbortSignal.timeout(5_000),
      });
      const text = await answer.text();
      if (answer.status !== 200) {
        this.status = `/metrics answered ${answer.status}`;
        return;
      }
      const lag = metricValue(text, 'nodejs_eventloop_lag_max_seconds');
      const rss = metricValue(text, 'process_resident_memory_bytes');
      if (lag === undefined) {
        this.status = '/metrics has no nodejs_eventloop_lag_max_seconds';
        return;
      }
      this.status = 'ok';
      this.#scrapes++;
      this.#lagMs[phase] = Math.max(this.#lagMs[phase], lag * 1000);
      if (rss !== undefined) this.#rssMb = Math.max(this.#rssMb, rss / 1024 / 1024);
      const heap = metricValue(text, 'nodejs_heap_size_used_bytes');
      if (heap !== undefined) {
        this.#heapMb.last = heap / 1024 / 1024;
        this.#heapMb.max = Math.max(this.#heapMb.max, this.#heapMb.last);
      }
      this.#calls = {};
      for (const [, decision, value] of text.matchAll(/^airlock_calls_total\{[^}]*decision="([^"]+)"[^}]*\} (\S+)$/gm)) {
        this.#calls[decision!] = (this.#calls[decision!] ?? 0) + Number(value);
      }
      this.#callDuration = callDuration(text);
    } catch (err) {
      this.status = `/metrics failed: ${(err as Error).message}`;
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  result(): LoadBenchResult['metrics'] {
    return this.#scrapes === 0
      ? undefined
      : {
          eventLoopMaxMs: { ...this.#lagMs },
          promRssMaxMb: this.#rssMb,
          heapUsedMb: { ...this.#heapMb },
          scrapes: this.#scrapes,
          calls: this.#calls,
          callDuration: this.#callDuration,
        };
  }
}

/** airlock_call_duration_seconds by part (airlock, upstream), summed over servers. */
function callDuration(text: string): Record<string, PartDuration> {
  const parts = new Map<string, { buckets: Map<number, number>; sum: number; count: number }>();
  const part = (name: string) => parts.get(name) ?? parts.set(name, { buckets: new Map(), sum: 0, count: 0 }).get(name)!;
  for (const [, kind, labels, value] of text.matchAll(/^airlock_call_duration_seconds_(bucket|sum|count)\{([^}]*)\} (\S+)$/gm)) {
    const entry = part(/part="([^"]+)"/.exec(labels!)?.[1] ?? '?');
    if (kind === 'sum') entry.sum += Number(value);
    else if (kind === 'count') entry.count += Number(value);
    else {
      const le = /le="([^"]+)"/.exec(labels!)?.[1] ?? '+Inf';
      const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
      entry.buckets.set(bound, (entry.buckets.get(bound) ?? 0) + Number(value));
    }
  }
  const bound = (entry: { buckets: Map<number, number>; count: number }, q: number) =>
    ([...entry.buckets].sort(([a], [b]) => a - b).find(([, n]) => n >= q * entry.count)?.[0] ?? Number.NaN) * 1000;
  return Object.fromEntries(
    [...parts].map(([name, e]) => [
      name,
      { count: e.count, meanMs: (e.sum / e.count) * 1000, p50AtMostMs: bound(e, 0.5), p99AtMostMs: bound(e, 0.99) },
    ]),
  );
}

function metricValue(text: string, name: string): number | undefined {
  const value = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1];
  return value === undefined ? undefined : Number(value);
}

/** Calls per Redis command since the server started, most used first. */
async function commandStats(url: string): Promise<Record<string, number>> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const text = await redis.info('commandstats');
    const counts = [...text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)]
      .map(([, name, calls]) => [name!, Number(calls)] as const)
      .filter(([name]) => name !== 'info');
    return Object.fromEntries(counts.sort((a, b) => b[1] - a[1]));
  } catch {
    return {};
  } finally {
    redis.disconnect();
  }
}

/** The gateway logs at warn: count its warn/error lines by message, so trouble under load shows in the report. */
function readGatewayLog(child: ChildProcess): Map<string, number> {
  const counts = new Map<string, number>();
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream?.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines.filter(Boolean)) {
        let key: string;
        try {
          const entry = JSON.parse(line) as { level?: number; msg?: string };
          key = `${entry.level === undefined ? '?' : entry.level >= 50 ? 'error' : entry.level >= 40 ? 'warn' : 'info'}: ${entry.msg ?? line}`;
        } catch {
          key = `text: ${line.slice(0, 160)}`;
        }
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    });
  }
  return counts;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function sumCounts(maps: Map<string, number>[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const [key, n] of maps.flatMap((m) => [...m])) sum[key] = (sum[key] ?? 0) + n;
  return sum;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A small seeded generator, so a run's sequence of kinds is the same every time. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');
const perSecond = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (n: number) => `${Math.round(n)}%`;
const mb = (n: number) => (Number.isFinite(n) ? `${Math.round(n)} MB` : '-');

export function formatLoadBench(r: LoadBenchResult): string[] {
  const o = r.options;
  const weight = KINDS.reduce((sum, k) => sum + o.mix[k], 0);
  const share = (k: Kind) => `${Math.round((o.mix[k] / weight) * 100)}%`;
  const row = (name: string, f: Figures, outcomes: string) =>
    `  ${name.padEnd(13)}${String(f.calls).padStart(9)}${perSecond(f.rate).padStart(9)}${ms(f.p50).padStart(9)}${ms(f.p99).padStart(9)}${ms(f.max).padStart(10)}  ${outcomes}`;
  const errorCount = Object.values(r.errors).reduce((a, b) => a + b, 0);
  const d = r.decider;
  const lines = [
    `load: ${o.sessions} sessions × ${o.seconds} s against one \`airlock start\` child, upstream server-everything (Streamable HTTP), private Redis; ${o.sharedGrant ? 'one shared grant token' : 'a grant token per session'}; each session one call at a time`,
    `  mix: ${KINDS.map((k) => `${k} ${share(k)} (${CALLS[k].name}: ${k === 'rate_limited' ? `${o.rateMax}/s global` : CALLS[k].rule})`).join(', ')}; decider approves, rejecting 1 in ${REJECT_EVERY}`,
    `  kind             calls    calls/s   p50 ms   p99 ms    max ms  outcomes`,
    ...KINDS.map((k) =>
      row(
        k,
        r.kinds[k],
        Object.entries(r.kinds[k].outcomes)
          .map(([name, n]) => `${name} ${n}`)
          .join(', '),
      ),
    ),
    row('all', r.all, ''),
    `  errors: ${errorCount} thrown, ${r.unexpected.count} unexpected results${errorCount + r.unexpected.count === 0 ? '' : ':'}`,
    ...Object.entries(r.errors).map(([message, n]) => `    ${n}× ${message}`),
    ...r.unexpected.samples.map((s) => `    unexpected: ${s}`),
    `  decider: ${d.decided} decided (${d.approved} approved, ${d.rejected} rejected), ${d.tooLate} too late, ${d.failed} failed (list or decision); GET list p50 ${ms(d.listP50)} p99 ${ms(d.listP99)} ms, POST decision p50 ${ms(d.decideP50)} p99 ${ms(d.decideP99)} ms; at most ${d.maxPending} new pending in one list`,
    `  gateway RSS: ${mb(r.rssMb.start)} at start, ${mb(r.rssMb.max)} max; over the mixed run ${r.rssMb.mixed.map((n) => Math.round(n)).join(' → ')} MB${r.metrics ? `; V8 heap used ${mb(r.metrics.heapUsedMb.max)} max, ${mb(r.metrics.heapUsedMb.last)} at the end` : ''}`,
    r.metrics
      ? `  event-loop delay (max, /metrics every 1 s): ${ms(r.metrics.eventLoopMaxMs.mixed)} ms in the mixed run, ${ms(r.metrics.eventLoopMaxMs.baseline)} ms in the baseline; process_resident_memory_bytes max ${mb(r.metrics.promRssMaxMb)}; ${r.metrics.scrapes} scrapes${r.metricsStatus === 'ok' ? '' : ` (last: ${r.metricsStatus})`}`
      : `  event-loop delay: /metrics not available (${r.metricsStatus})`,
    ...(r.metrics
      ? [
          `  gateway counted (airlock_calls_total, warm-up and baseline included): ${Object.entries(r.metrics.calls)
            .map(([k, n]) => `${k} ${n}`)
            .join(', ')}`,
          `  where a call's time goes (airlock_call_duration_seconds, every phase; approval waits excluded): ${Object.entries(
            r.metrics.callDuration,
          )
            .map(([part, d]) => `${part} mean ${ms(d.meanMs)} ms, p50 ≤ ${ms(d.p50AtMostMs)}, p99 ≤ ${ms(d.p99AtMostMs)} ms`)
            .join('; ')}`,
        ]
      : []),
    `  Redis: ${r.redis.perCall.toFixed(1)} commands a gateway call, those run inside Lua scripts included (${Object.entries(
      r.redis.commands,
    )
      .slice(0, 8)
      .map(([name, n]) => `${name} ${n}`)
      .join(', ')})`,
    `  CPU, % of one core: mixed run gateway ${pct(r.cpu.mixed.gatewayPct)} (${Math.round(r.cpu.mixed.gatewayUsPerCall)} µs a call), upstream ${pct(r.cpu.mixed.upstreamPct)}, bench clients ${pct(r.cpu.mixed.benchPct)}; echo-only gateway ${pct(r.cpu.gateway.gatewayPct)} (${Math.round(r.cpu.gateway.gatewayUsPerCall)} µs a call), upstream ${Math.round(r.cpu.direct.upstreamUsPerCall)} µs a call direct / ${Math.round(r.cpu.gateway.upstreamUsPerCall)} through the gateway`,
    `  baseline, echo only, ${o.sessions} sessions, ${o.baselineSeconds} s a side in interleaved rounds (the gateway holds one upstream session for all of them):`,
    row('direct', r.baseline.direct, ''),
    row('gateway', r.baseline.gateway, ''),
    `  gateway/direct: echo-only throughput ${r.ratio.allowedOnlyThroughput.toFixed(2)}×, p99 ${r.ratio.allowedOnlyP99.toFixed(2)}×; mixed run's allowed calls vs direct echo-only: throughput ${r.ratio.mixedAllowedThroughput.toFixed(2)}× (they are ${share('allowed')} of its calls), p99 ${r.ratio.mixedAllowedP99.toFixed(2)}×`,
  ];
  const log = Object.entries(r.gatewayLog);
  if (log.length > 0)
    lines.push(
      `  gateway log (${log.reduce((sum, [, n]) => sum + n, 0)} lines):`,
      ...log.slice(0, 8).map(([message, n]) => `    ${n}× ${message.slice(0, 200)}`),
    );
  lines.push(
    `  ${r.seconds.toFixed(1)} s in all; ${r.machine.cpus} CPUs, load average ${r.machine.loadBefore.toFixed(1)} before, ${r.machine.loadAfter.toFixed(1)} after (bench, gateway, upstream and Redis share them)`,
  );
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const usage =
    'usage: npm run bench:load -- [--seconds 60] [--sessions 200] [--baseline-seconds 10] [--mix 70,10,10,10] [--rate-max 5] [--shared-grant]';
  const flags = {
    seconds: { type: 'string' },
    sessions: { type: 'string' },
    'baseline-seconds': { type: 'string' },
    mix: { type: 'string' },
    'rate-max': { type: 'string' },
    'shared-grant': { type: 'boolean' },
  } as const;
  let values: ReturnType<typeof parseArgs<{ options: typeof flags }>>['values'];
  try {
    values = parseArgs({ options: flags }).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n${usage}`);
    process.exit(2);
  }
  const seconds = positiveFlag(values.seconds ?? process.env.AIRLOCK_BENCH_LOAD_SECONDS, '--seconds');
  const sessions = positiveFlag(values.sessions ?? process.env.AIRLOCK_BENCH_LOAD_SESSIONS, '--sessions');
  const baselineSeconds = positiveFlag(values['baseline-seconds'], '--baseline-seconds');
  const rateMax = positiveFlag(values['rate-max'], '--rate-max');
  let mix: Record<Kind, number> | undefined;
  if (values.mix !== undefined) {
    const weights = values.mix.split(',').map(Number);
    if (weights.length !== KINDS.length || weights.some((w) => !Number.isFinite(w) || w < 0) || weights.every((w) => w === 0)) {
      console.error(`--mix: expected ${KINDS.length} weights, ${KINDS.join(',')}, e.g. 70,10,10,10; got ${JSON.stringify(values.mix)}`);
      process.exit(2);
    }
    mix = Object.fromEntries(KINDS.map((k, i) => [k, weights[i]!])) as Record<Kind, number>;
  }
  const result = await benchLoad({
    ...(seconds !== undefined && { seconds }),
    ...(sessions !== undefined && { sessions: Math.round(sessions) }),
    ...(baselineSeconds !== undefined && { baselineSeconds }),
    ...(rateMax !== undefined && { rateMax: Math.round(rateMax) }),
    ...(mix && { mix }),
    sharedGrant: values['shared-grant'] === true,
  });
  for (const line of formatLoadBench(result)) console.log(line);
  console.log(JSON.stringify({ bench: 'load', ...result }));
  const failed = Object.values(result.errors).reduce((a, b) => a + b, 0) + result.unexpected.count;
  if (failed > 0) {
    console.error(`bench:load: ${failed} calls failed (thrown or unexpected results), listed above`);
    process.exitCode = 1;
  }
}
