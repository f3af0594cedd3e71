/**
 * Held calls (issue 5), four figures:
 * 1. decision → release across two instances: a call held on instance A is
 *    approved through instance B's API; the time from sending the approval
 *    to the agent on A holding the result, over 1,000 approvals.
 *    Target: ≤ 20 ms p99.
 * 2. memory: RSS of one `airlock start` process holding 10,000 calls at once
 *    (100 sessions, each one batch of 100 tools/call). Target: ≤ 200 MB.
 * 3. listing (issue 22): with those 10,000 pending, `GET /api/approvals?state=pending`
 *    (default limit) 200 times on that process, interleaved with the same on
 *    instance B of the first figure (holding none of them). Target: ≤ 50 ms p99.
 * 4. mass disconnect: every one of those clients cut at once; how many
 *    requests end withdrawn (and audited so) and how many "lost track of a
 *    held call" lines the instance logs. Target: all withdrawn, 0 lost.
 *    The holding process runs with --inspect: after the RSS reading, a full
 *    GC and a second reading. BENCH_PROFILE_DIR=DIR writes a heap snapshot
 *    of it then (DIR/held-calls.heapsnapshot).
 * Then the same held calls as MCP tasks (issue 21): see approval-tasks.ts.
 *
 * Flags: --approvals N (1,000), --held N (10,000), --task-calls N (1,000),
 * --decisions N (1,000), --poll-ms MS (2), --pending N (10,000), --in-flight N
 * (50), --only approvals|tasks.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Redis } from 'ioredis';
import { freePort } from '../src/redis/index.js';
import { AIRLOCK_BIN } from '../test/support/run-cli.js';
import { Inspector } from './inspector.js';
import { benchTasks, formatTasksBench, type TasksBenchOptions, type TasksBenchResult } from './approval-tasks.js';
import {
  benchFolder,
  percentile,
  positiveFlag,
  procRssMb,
  startBenchGateway,
  startBenchRedis,
  startEverything,
  stopChild,
  type Cleanup,
} from './setup.js';

export const TARGETS = { releaseP99Ms: 20, rssMb: 200, pendingListP99Ms: 50 };
const ADMIN = 'bench-admin-token-0123456789';

export interface ApprovalsBenchOptions {
  approvals?: number;
  held?: number;
  /** Held calls as tasks; false: not measured. */
  tasks?: TasksBenchOptions | false;
  /** false: only the tasks. */
  holding?: boolean;
}

export interface HoldingBenchResult {
  approvals: number;
  release: { p50: number; p99: number };
  allowedEcho: { p50: number };
  held: number;
  /** RSS idle and holding (as read), then holding after a full GC, and the V8 heap then. */
  rss: { idleMb: number; heldMb: number; collectedMb: number; heapMb: number };
  /** On the instance holding the calls, and on another one (same Redis). */
  pendingList: { holder: Percentiles; other: Percentiles };
  disconnect: MassDisconnect;
}

interface Percentiles {
  p50: number;
  p99: number;
}

export interface MassDisconnect {
  /** Requests ended withdrawn, and withdrawn events in the trail. */
  withdrawn: number;
  audited: number;
  /** Still pending when the bench stopped waiting (60 s), and ended otherwise. */
  pending: number;
  other: number;
  lostTrack: number;
  /** From the cut to the last request ended. */
  ms: number;
}

export interface ApprovalsBenchResult {
  holding?: HoldingBenchResult;
  tasks?: TasksBenchResult;
}

export async function benchApprovals(options: ApprovalsBenchOptions = {}): Promise<ApprovalsBenchResult> {
  const holding = options.holding === false ? undefined : await benchHolding(options.approvals, options.held);
  const tasks = options.tasks === false ? undefined : await benchTasks(options.tasks);
  return { ...(holding && { holding }), ...(tasks && { tasks }) };
}

async function benchHolding(approvals = 1_000, held = 10_000): Promise<HoldingBenchResult> {
  const cleanup: Cleanup = [];
  try {
    const upstream = await startEverything(cleanup);
    const dir = benchFolder(cleanup, {
      'held.yaml': 'version: "1"\ndefault: allow\ntools:\n  echo: { action: require_approval }\n',
      'open.yaml': 'version: "1"\ndefault: allow\n',
    });
    const configFile = (port: number) => {
      const file = join(dir, `airlock-${port}.yaml`);
      // Sessions count per grant across instances (in Redis): the release figure's two would leave the 100 of the memory figure 98.
      // A Redis reply may take longer than the default 500 ms on a loaded machine; a call refused then measures nothing.
      writeFileSync(
        file,
        `listen: { host: 127.0.0.1, port: ${port}, max_sessions_per_grant: 1000 }\nredis: { timeout: 5s }\nlog: { level: warn }\nadmins: [{ name: bench, token: ${ADMIN} }]\napprovals: { channel: console, timeout: 10m }\n` +
          `servers:\n  held:\n    url: ${upstream.url}\n    policy: held.yaml\n  open:\n    url: ${upstream.url}\n    policy: open.yaml\n`,
      );
      return file;
    };
    const redisUrl = await startBenchRedis(cleanup);

    const release = await releaseLatency(configFile(0), redisUrl, approvals, cleanup);
    const { rss, pendingList, disconnect } = await heldMemory(configFile(await freePort()), redisUrl, held, release.otherUrl, cleanup);
    return { approvals, release: release.release, allowedEcho: release.allowedEcho, held, rss, pendingList, disconnect };
  } finally {
    for (const step of cleanup.reverse()) await Promise.resolve(step()).catch(() => undefined);
  }
}

/** Two gateways in this process, each with its own Redis connections, as two instances would have. */
async function releaseLatency(
  configFile: string,
  redisUrl: string,
  count: number,
  cleanup: Cleanup,
): Promise<Pick<HoldingBenchResult, 'release' | 'allowedEcho'> & { otherUrl: string }> {
  const start = async () => (await startBenchGateway(cleanup, configFile, redisUrl)).gateway;
  const a = await start();
  const b = await start();
  const connect = async (path: string) => {
    const client = new Client({ name: 'bench', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${a.url}${path}`)));
    cleanup.push(() => client.close());
    return client;
  };
  const heldClient = await connect('/mcp/held');
  const openClient = await connect('/mcp/open');
  const echoOpen = [];
  for (let i = 0; i < 300; i++) {
    const t = performance.now();
    await openClient.callTool({ name: 'echo', arguments: { message: 'bench' } });
    if (i >= 100) echoOpen.push(performance.now() - t);
  }
  const samples: number[] = [];
  for (let i = 0; i < count + 20; i++) {
    const call = heldClient.callTool({ name: 'echo', arguments: { message: `held ${i}` } });
    let id: string | undefined;
    while (id === undefined) id = (await b.approvals.list({ state: 'pending', limit: 1 }))[0]?.request.id;
    const t0 = performance.now();
    const answer = await fetch(`${b.url}/api/approvals/${id}/approve`, { method: 'POST', headers: { Authorization: `Bearer ${ADMIN}` } });
    if (answer.status !== 200) throw new Error(`approve answered ${answer.status}: ${await answer.text()}`);
    const result = await call;
    if (result.isError) throw new Error(`approved call failed: ${JSON.stringify(result.content)}`);
    if (i >= 20) samples.push(performance.now() - t0);
  }
  return {
    release: { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) },
    allowedEcho: { p50: percentile(echoOpen, 0.5) },
    otherUrl: b.url,
  };
}

/**
 * One `airlock start` child holding `count` calls: 100 sessions, each posting one batch of tools/call requests;
 * then, with them all pending, how long its API takes to list the pending requests; then all cut at once.
 */
async function heldMemory(
  configFile: string,
  redisUrl: string,
  count: number,
  otherUrl: string,
  cleanup: Cleanup,
): Promise<Pick<HoldingBenchResult, 'rss' | 'pendingList' | 'disconnect'>> {
  const nodeArgs = (process.env.AIRLOCK_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const snapshots = process.env.BENCH_PROFILE_DIR;
  const inspectPort = await freePort();
  nodeArgs.push(`--inspect=127.0.0.1:${inspectPort}`);
  const child = spawn(process.execPath, [...nodeArgs, AIRLOCK_BIN, 'start', '-c', configFile], {
    env: { ...process.env, REDIS_URL: redisUrl },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanup.push(() => stopChild(child));
  let lostTrack = 0;
  const lastLines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.includes('lost track of a held call')) lostTrack++;
    else if (lastLines.push(line) > 5) lastLines.shift();
  });
  const port = Number(/airlock-(\d+)\.yaml$/.exec(configFile)?.[1]);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (
    // Ready, not only alive: a call sent before the upstreams are connected is refused, and nothing would be held.
    !(await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('airlock did not start');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const headers = { Accept: 'application/json, text/event-stream', 'Content-Type': 'application/json' };
  const sessions: string[] = [];
  for (let s = 0; s < 100; s++) {
    const init = await fetch(`${url}/mcp/held`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
      }),
    });
    await init.text();
    const session = init.headers.get('mcp-session-id') ?? '';
    await fetch(`${url}/mcp/held`, {
      method: 'POST',
      headers: { ...headers, 'mcp-session-id': session },
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    }).then((r) => r.text());
    sessions.push(session);
  }
  const pid = child.pid ?? 0;
  const idleMb = procRssMb(pid) ?? Number.NaN;
  const aborts = new AbortController();
  cleanup.push(() => aborts.abort());
  const perSession = Math.ceil(count / sessions.length);
  // Kept until cleanup: fetch cancels the stream of a response collected unread, and Airlock withdraws the calls of a closed one
  // (then the listing below can find none of them pending).
  const held: Promise<Response | undefined>[] = [];
  cleanup.push(() => void held.splice(0));
  const answered = new Map<string, number>();
  for (const session of sessions) {
    const batch = Array.from({ length: perSession }, (_, i) => ({
      jsonrpc: '2.0',
      id: i + 1,
      method: 'tools/call',
      params: { name: 'echo', arguments: { message: `held ${i}` } },
    }));
    held.push(
      fetch(`${url}/mcp/held`, {
        method: 'POST',
        headers: { ...headers, 'mcp-session-id': session },
        body: JSON.stringify(batch),
        signal: aborts.signal,
      }).then(
        (r) => {
          answered.set(`HTTP ${r.status}`, (answered.get(`HTTP ${r.status}`) ?? 0) + 1);
          return r;
        },
        (err: unknown) => {
          answered.set(String(err), (answered.get(String(err)) ?? 0) + 1);
          return undefined;
        },
      ),
    );
  }
  const redis = new Redis(redisUrl);
  cleanup.push(() => redis.disconnect());
  const waitUntil = Date.now() + 120_000;
  let ids = await heldIds(redis);
  while (ids.length < sessions.length * perSession) {
    if (Date.now() > waitUntil)
      throw new Error(
        `only ${ids.length} calls held after 120 s; batches answered ${JSON.stringify([...answered])}; its last lines:\n${lastLines.join('\n')}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 200));
    ids = await heldIds(redis);
  }
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const heldMb = procRssMb(pid) ?? Number.NaN;
  // The figure above is read as before (what the process has, garbage included); this one after a full GC is what it keeps.
  const inspector = await Inspector.connect(inspectPort);
  await inspector.collectGarbage();
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const collectedMb = procRssMb(pid) ?? Number.NaN;
  const heapMb = (await inspector.memoryMb()).heapUsed;
  if (snapshots) {
    mkdirSync(snapshots, { recursive: true });
    await inspector.heapSnapshot(join(snapshots, 'held-calls.heapsnapshot'));
  }
  inspector.close();
  const pendingList = await pendingListLatency({ holder: url, other: otherUrl });

  const cut = performance.now();
  aborts.abort();
  const states = async () => {
    const reads = redis.pipeline();
    for (const id of ids) reads.hget(`{airlock}:approval:${id}`, 'state');
    return ((await reads.exec()) ?? []).map(([, state]) => state as string | null);
  };
  const ended = Date.now() + 60_000;
  let last = await states();
  while (last.includes('pending') && Date.now() < ended) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    last = await states();
  }
  const ms = performance.now() - cut;
  // Each end is audited after its request is settled: give the last writes a moment.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const mine = new Set(ids);
  let audited = 0;
  for (const [, fields] of await redis.xrange('{airlock}:audit', '-', '+')) {
    const event = JSON.parse(fields[fields.indexOf('e') + 1] ?? '{}') as { event?: string; approval_id?: string };
    if (event.event === 'withdrawn' && event.approval_id !== undefined && mine.has(event.approval_id)) audited++;
  }
  return {
    rss: { idleMb, heldMb, collectedMb, heapMb },
    pendingList,
    disconnect: {
      withdrawn: last.filter((s) => s === 'withdrawn').length,
      other: last.filter((s) => s !== 'withdrawn' && s !== 'pending').length,
      audited,
      pending: last.filter((s) => s === 'pending').length,
      lostTrack,
      ms,
    },
  };
}

/** The ids of the requests still pending (SCAN may name a key twice): the held calls, as the release figure's were all decided. */
async function heldIds(redis: Redis): Promise<string[]> {
  const ids = new Set<string>();
  for await (const keys of redis.scanStream({ match: '{airlock}:approval:*', count: 1000 }) as AsyncIterable<string[]>) {
    const reads = redis.pipeline();
    for (const key of keys) reads.hget(key, 'state');
    const states = (await reads.exec()) ?? [];
    keys.forEach((key, i) => {
      if (states[i]?.[1] === 'pending') ids.add(key.slice('{airlock}:approval:'.length));
    });
  }
  return [...ids];
}

/** `GET /api/approvals?state=pending` (default limit, 100) on each instance in turn, one at a time; the first 20 warm up. */
async function pendingListLatency(
  urls: Record<keyof HoldingBenchResult['pendingList'], string>,
): Promise<HoldingBenchResult['pendingList']> {
  const samples = { holder: [] as number[], other: [] as number[] };
  for (let i = 0; i < 220; i++) {
    for (const on of ['holder', 'other'] as const) {
      const t0 = performance.now();
      const answer = await fetch(`${urls[on]}/api/approvals?state=pending`, { headers: { Authorization: `Bearer ${ADMIN}` } });
      const body = (await answer.json()) as { approvals?: unknown[] };
      if (answer.status !== 200 || body.approvals?.length !== 100)
        throw new Error(`listing on the ${on} answered ${answer.status} with ${body.approvals?.length ?? 'no'} approvals, expected 100`);
      if (i >= 20) samples[on].push(performance.now() - t0);
    }
  }
  const percentiles = (s: number[]) => ({ p50: percentile(s, 0.5), p99: percentile(s, 0.99) });
  return { holder: percentiles(samples.holder), other: percentiles(samples.other) };
}

export function formatApprovalsBench({ holding, tasks }: ApprovalsBenchResult): string[] {
  return [...(holding ? formatHoldingBench(holding) : []), ...(tasks ? formatTasksBench(tasks) : [])];
}

function formatHoldingBench(r: HoldingBenchResult): string[] {
  const d = r.disconnect;
  const ms = (n: number) => `${n.toFixed(2)} ms`;
  return [
    `approvals: ${r.approvals} calls held on instance A, each approved through instance B's API`,
    `  approve sent → result at the agent  p50 ${ms(r.release.p50)}  p99 ${ms(r.release.p99)} (target p99 ≤ ${TARGETS.releaseP99Ms} ms: ${r.release.p99 <= TARGETS.releaseP99Ms ? 'met' : 'NOT met'})`,
    `  (includes B's HTTP answer and the upstream echo; an allowed echo through A alone: p50 ${ms(r.allowedEcho.p50)})`,
    `  RSS of one airlock process: ${r.rss.idleMb.toFixed(0)} MB with 100 idle sessions, ${r.rss.heldMb.toFixed(0)} MB holding ${r.held.toLocaleString('en-US')} calls (target ≤ ${TARGETS.rssMb} MB: ${r.rss.heldMb <= TARGETS.rssMb ? 'met' : 'NOT met'}; added ${(r.rss.heldMb - r.rss.idleMb).toFixed(0)} MB)`,
    `  after a full GC: RSS ${r.rss.collectedMb.toFixed(0)} MB, V8 heap ${r.rss.heapMb.toFixed(0)} MB`,
    `  all ${r.held.toLocaleString('en-US')} clients cut at once: ${d.withdrawn} withdrawn, ${d.audited} audited withdrawn, ${d.pending} still pending, ${d.other} ended otherwise, ${d.lostTrack} "lost track" lines, in ${(d.ms / 1000).toFixed(1)} s (target: all withdrawn, 0 lost track: ${d.withdrawn === r.held && d.audited === r.held && d.lostTrack === 0 ? 'met' : 'NOT met'})`,
    `  GET /api/approvals?state=pending (limit 100) with ${r.held.toLocaleString('en-US')} pending (target p99 ≤ ${TARGETS.pendingListP99Ms} ms)`,
    ...(['holder', 'other'] as const).map(
      (on) =>
        `    ${on === 'holder' ? 'on the process holding them' : 'on instance B (holds none)  '}  p50 ${ms(r.pendingList[on].p50)}  p99 ${ms(r.pendingList[on].p99)} (${r.pendingList[on].p99 <= TARGETS.pendingListP99Ms ? 'met' : 'NOT met'})`,
    ),
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const usage =
    'usage: npm run bench:approvals -- [--approvals 1000] [--held 10000] [--task-calls 1000] [--decisions 1000] [--poll-ms 2] [--pending 10000] [--in-flight 50] [--only approvals|tasks]';
  const flags = {
    approvals: { type: 'string' },
    held: { type: 'string' },
    'task-calls': { type: 'string' },
    decisions: { type: 'string' },
    'poll-ms': { type: 'string' },
    pending: { type: 'string' },
    'in-flight': { type: 'string' },
    only: { type: 'string' },
  } as const;
  let values: ReturnType<typeof parseArgs<{ options: typeof flags }>>['values'];
  try {
    values = parseArgs({ options: flags }).values;
    if (values.only !== undefined && values.only !== 'approvals' && values.only !== 'tasks')
      throw new Error(`--only: expected approvals or tasks, got ${JSON.stringify(values.only)}`);
  } catch (err) {
    console.error(`${(err as Error).message}\n${usage}`);
    process.exit(2);
  }
  const read = (name: keyof typeof flags, whole = true) => {
    const n = positiveFlag(values[name] as string | undefined, `--${name}`);
    return n === undefined || !whole ? n : Math.round(n);
  };
  // exactOptionalPropertyTypes is off: an option left undefined takes its default.
  const result = await benchApprovals({
    approvals: read('approvals'),
    held: read('held'),
    holding: values.only !== 'tasks',
    tasks:
      values.only === 'approvals'
        ? false
        : {
            calls: read('task-calls'),
            decisions: read('decisions'),
            pollMs: read('poll-ms', false),
            pending: read('pending'),
            inFlight: read('in-flight'),
          },
  });
  for (const line of formatApprovalsBench(result)) console.log(line);
  console.log(JSON.stringify({ bench: 'approvals', ...result }));
}
