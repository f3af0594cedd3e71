/**
 * Held calls as durable MCP tasks (issue 21), part of `npm run bench:approvals`,
 * through real `airlock start` processes on a private redis-server, upstream
 * server-everything's echo over HTTP. Three figures:
 * 1. held call → task: the tools/call round trip of a 2026-07-28 client that
 *    declares io.modelcontextprotocol/tasks, answered with a CreateTaskResult.
 *    Interleaved with it: the same held call by a 2025-11-25 client until its
 *    first progress notification (the moment it is held, today's equivalent;
 *    the call is then cancelled), and an allowed echo by the 2026 client.
 * 2. decision → completed: a task created on instance A is approved through
 *    instance B's API while A is asked tasks/get every `pollMs`; from sending
 *    the approval to the first answer saying `completed`. Target: ≤ 50 ms p99.
 *    Interleaved with it: a 2025 client's held call on A approved on B, until
 *    its result reaches the agent (bench:approvals' first figure, here across
 *    two processes).
 * 3. memory: a fresh instance (its own Redis) idle, then with `pending` held
 *    calls answered as tasks, `inFlight` at a time, all left pending; RSS from
 *    /proc after a full GC through the inspector. Target: ≤ 50 MB added.
 * BENCH_PROFILE_DIR=DIR writes CPU profiles of A and B (DIR/a, DIR/b) and,
 * once its figures are read, a heap snapshot of the third instance with its
 * pending tasks (DIR/tasks-pending.heapsnapshot).
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { freePort } from '../src/redis/index.js';
import { firstText } from '../test/support/refusal.js';
import type { WireTask } from '../test/support/tasks-client.js';
import { Inspector } from './inspector.js';
import { benchFolder, percentile, startAirlockProcess, startBenchRedis, startEverything, stopChild, type Cleanup } from './setup.js';
import { legacyClients, legacyHeldCall, TasksWire } from './task-clients.js';
import { pendingMemory, type PendingMemory } from './task-memory.js';

export const TASK_TARGETS = { completedP99Ms: 50, pendingAddedMb: 50 };
const AGENT = 'bench-agent-token-0123456789';
const ADMIN = 'bench-admin-token-0123456789';
/** Rounds left out of each figure: the first calls of a process warm its code and connections. */
const WARMUP = 20;
/** Only keeps the bench from hanging on a task that never ends. */
const GIVE_UP_MS = 60_000;

export interface TasksBenchOptions {
  /** Held calls answered as tasks, one at a time (figure 1). */
  calls?: number;
  /** Tasks approved on B and polled on A (figure 2). */
  decisions?: number;
  /** How often A is asked tasks/get while a decision reaches the task. */
  pollMs?: number;
  /** Tasks left pending on one instance (figure 3), and how many are created at once. */
  pending?: number;
  inFlight?: number;
}

interface Spread {
  p50: number;
  p99: number;
}

export interface TasksBenchResult {
  calls: number;
  created: Spread;
  heldToday: Spread;
  allowed: Spread;
  decisions: number;
  pollMs: number;
  completed: Spread;
  approveAnswered: Spread;
  /** tasks/get requests per decision, and their round trip. */
  polls: { perDecision: number; roundTrip: Spread };
  released: Spread;
  pending: number;
  inFlight: number;
  memory: PendingMemory;
}

const spread = (samples: number[]): Spread => ({ p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) });

export async function benchTasks(options: TasksBenchOptions = {}): Promise<TasksBenchResult> {
  const { calls = 1_000, decisions = 1_000, pollMs = 2, pending = 10_000, inFlight = 50 } = options;
  const cleanup: Cleanup = [];
  try {
    const upstream = await startEverything(cleanup);
    const dir = benchFolder(cleanup, {
      'held.yaml': 'version: "1"\ndefault: allow\ntools:\n  echo: { action: require_approval }\n',
      'open.yaml': 'version: "1"\ndefault: allow\n',
    });
    const start = async (redisUrl: string, side: string, nodeArgs: string[] = []) => {
      const port = await freePort();
      const file = join(dir, `airlock-${side}.yaml`);
      // A Redis reply may take longer than the default 500 ms on a loaded machine; a call refused then measures nothing.
      writeFileSync(
        file,
        `listen: { host: 127.0.0.1, port: ${port} }\nredis: { timeout: 5s }\nlog: { level: warn }\ngrants: [{ name: agent, token: ${AGENT} }]\n` +
          `admins: [{ name: bench, token: ${ADMIN} }]\napprovals: { channel: console, timeout: 1h }\n` +
          `servers:\n  held:\n    url: ${upstream.url}\n    policy: held.yaml\n  open:\n    url: ${upstream.url}\n    policy: open.yaml\n`,
      );
      return startAirlockProcess(cleanup, file, redisUrl, port, { nodeArgs: [...profileArgs(side), ...nodeArgs], stdio: 'pipe' }).then(
        (started) => ({ ...started, pid: forwardOutput(started.child) }),
      );
    };
    const connect = (base: string, path: string) => new TasksWire(`${base}${path}`, AGENT);
    const shared = await startBenchRedis(cleanup);
    const a = await start(shared, 'a');
    const b = await start(shared, 'b');
    const onA = {
      held: connect(a.base, '/mcp/held'),
      open: connect(a.base, '/mcp/open'),
      legacy: legacyClients(`${a.base}/mcp/held`, AGENT, cleanup),
    };
    const first = await roundTrips(onA, calls);
    const second = await decisionsToCompleted(onA, b.base, decisions, pollMs);
    // The two instances are done: the memory figure is one fresh instance's alone, on its own Redis.
    await Promise.all([a, b].map((instance) => stopChild(instance.child)));

    const own = await startBenchRedis(cleanup);
    const inspectPort = await freePort();
    const c = await start(own, 'c', [`--inspect=127.0.0.1:${inspectPort}`]);
    const inspector = await Inspector.connect(inspectPort).catch(() => undefined);
    cleanup.push(() => inspector?.close());
    const memory = await pendingMemory(
      { pid: c.pid, held: connect(c.base, '/mcp/held'), open: connect(c.base, '/mcp/open'), inspector, redisUrl: own },
      { count: pending, inFlight, warmup: WARMUP },
      cleanup,
    );
    return { calls, ...first, decisions, pollMs, ...second, pending, inFlight, memory };
  } finally {
    for (const step of cleanup.reverse()) await Promise.resolve(step()).catch(() => undefined);
  }
}

interface OnA {
  held: TasksWire;
  open: TasksWire;
  legacy: () => Promise<Client>;
}

/** Figure 1: each round one task call, one 2025 held call until it is held, one allowed echo, in a rotating order. */
async function roundTrips(on: OnA, count: number): Promise<Pick<TasksBenchResult, 'created' | 'heldToday' | 'allowed'>> {
  const samples = { created: [] as number[], heldToday: [] as number[], allowed: [] as number[] };
  for (let i = 0; i < count + WARMUP; i++) {
    const kinds = {
      created: async () => {
        const t0 = performance.now();
        await on.held.callAsTask('echo', { message: `task ${i}` });
        return performance.now() - t0;
      },
      heldToday: async () => {
        const client = await on.legacy();
        const stop = new AbortController();
        const t0 = performance.now();
        const call = legacyHeldCall(client, `held ${i}`, GIVE_UP_MS, stop.signal);
        const { at } = await call.held;
        stop.abort('measured');
        await call.result.catch(() => undefined);
        return at - t0;
      },
      allowed: async () => {
        const t0 = performance.now();
        const answer = await on.open.callTool('echo', { message: `open ${i}` });
        if (firstText(answer) !== `Echo: open ${i}`) throw new Error(`an allowed echo answered ${JSON.stringify(answer)}`);
        return performance.now() - t0;
      },
    };
    for (const kind of rotate(Object.keys(kinds) as (keyof typeof kinds)[], i)) {
      const ms = await kinds[kind]();
      if (i >= WARMUP) samples[kind].push(ms);
    }
  }
  return { created: spread(samples.created), heldToday: spread(samples.heldToday), allowed: spread(samples.allowed) };
}

/** Figure 2: a task approved on B while A is polled, and a 2025 held call on A approved on B, taking turns. */
async function decisionsToCompleted(
  on: OnA,
  b: string,
  count: number,
  pollMs: number,
): Promise<Pick<TasksBenchResult, 'completed' | 'approveAnswered' | 'polls' | 'released'>> {
  const completed: number[] = [];
  const answered: number[] = [];
  const released: number[] = [];
  const roundTrip: number[] = [];
  let polls = 0;
  const kinds = {
    task: async (i: number) => {
      const message = `decided task ${i}`;
      const task = await on.held.callAsTask('echo', { message });
      const approval = (task._meta?.['airlock/task'] as { approval_id?: string } | undefined)?.approval_id;
      if (approval === undefined) throw new Error(`a task without _meta['airlock/task'].approval_id: ${JSON.stringify(task)}`);
      const t0 = performance.now();
      const approved = approve(b, approval);
      const done = await firstCompleted(on.held, task.taskId, pollMs, t0);
      if (firstText(done.task.result) !== `Echo: ${message}`) throw new Error(`task completed with ${JSON.stringify(done.task.result)}`);
      const answeredAt = await approved;
      if (i < WARMUP) return;
      completed.push(done.at - t0);
      answered.push(answeredAt - t0);
      roundTrip.push(...done.roundTrips);
      polls += done.roundTrips.length;
    },
    legacy: async (i: number) => {
      const message = `decided held ${i}`;
      const call = legacyHeldCall(await on.legacy(), message, GIVE_UP_MS);
      const { approval } = await call.held;
      const t0 = performance.now();
      const approved = approve(b, approval);
      const result = await call.result;
      const ms = performance.now() - t0;
      await approved;
      if (firstText(result) !== `Echo: ${message}`) throw new Error(`the released call answered ${JSON.stringify(result)}`);
      if (i >= WARMUP) released.push(ms);
    },
  };
  for (let i = 0; i < count + WARMUP; i++) for (const kind of rotate(Object.keys(kinds) as (keyof typeof kinds)[], i)) await kinds[kind](i);
  return {
    completed: spread(completed),
    approveAnswered: spread(answered),
    polls: { perDecision: polls / completed.length, roundTrip: spread(roundTrip) },
    released: spread(released),
  };
}

/** tasks/get until it says `completed`: when that answer came, and each poll's round trip. */
async function firstCompleted(
  client: TasksWire,
  taskId: string,
  pollMs: number,
  since: number,
): Promise<{ at: number; task: WireTask; roundTrips: number[] }> {
  const roundTrips: number[] = [];
  for (;;) {
    const sent = performance.now();
    const task = await client.get(taskId);
    const at = performance.now();
    roundTrips.push(at - sent);
    if (task.status === 'completed') return { at, task, roundTrips };
    if (task.status !== 'working') throw new Error(`task ${taskId} became ${task.status}: ${JSON.stringify(task)}`);
    if (at - since > GIVE_UP_MS) throw new Error(`task ${taskId} was not completed ${GIVE_UP_MS} ms after its approval`);
    await sleep(pollMs);
  }
}

/** Approves `id` through instance `base`'s API; resolves when it answered. */
async function approve(base: string, id: string): Promise<number> {
  const answer = await fetch(`${base}/api/approvals/${id}/approve`, { method: 'POST', headers: { Authorization: `Bearer ${ADMIN}` } });
  const at = performance.now();
  if (answer.status !== 200) throw new Error(`approve answered ${answer.status}: ${await answer.text()}`);
  await answer.body?.cancel();
  return at;
}

/** The child's output on this process's, less the inspector's own ("Debugger listening on …"); its pid. */
function forwardOutput(child: ChildProcess): number {
  child.stdout?.pipe(process.stdout);
  child.stderr?.on('data', (chunk: Buffer) => {
    const text = chunk.toString().replace(/^(Debugger (listening|attached|ending)|For help, see: https:\/\/nodejs\.org).*\n/gm, '');
    if (text !== '') process.stderr.write(text);
  });
  return child.pid ?? 0;
}

/** `--cpu-prof` into BENCH_PROFILE_DIR/<side>/ when that is set (A and B only: the third is for memory). */
function profileArgs(side: string): string[] {
  const dir = process.env.BENCH_PROFILE_DIR;
  return dir === undefined || dir === '' || side === 'c' ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(dir, side)}`];
}

function rotate<T>(items: readonly T[], round: number): T[] {
  const shift = round % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

export function formatTasksBench(r: TasksBenchResult): string[] {
  const ms = (n: number) => `${n.toFixed(2)} ms`;
  const both = (s: Spread) => `p50 ${ms(s.p50)}  p99 ${ms(s.p99)}`;
  const m = r.memory;
  const added = m.pendingMb - m.idleMb;
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  return [
    `tasks: held calls as MCP tasks, two airlock processes (A, B) on one Redis`,
    `  held call → task returned (2026 client declaring the extension)  ${both(r.created)} over ${r.calls} calls`,
    `  (same held call, 2025 client: until held, its first progress  ${both(r.heldToday)}; ${(r.created.p50 / r.heldToday.p50).toFixed(2)} × at p50;` +
      ` an allowed echo, 2026 client: p50 ${ms(r.allowed.p50)}, the task ${(r.created.p50 / r.allowed.p50).toFixed(2)} ×)`,
    `  approve sent on B → completed seen by tasks/get on A  ${both(r.completed)} over ${r.decisions} decisions (target p99 ≤ ${TASK_TARGETS.completedP99Ms} ms: ${met(r.completed.p99 <= TASK_TARGETS.completedP99Ms)})`,
    `  (B answered the approve: p50 ${ms(r.approveAnswered.p50)}; polled every ${r.pollMs} ms, ${r.polls.perDecision.toFixed(1)} tasks/get per decision, each p50 ${ms(r.polls.roundTrip.p50)};` +
      ` a 2025 held call on A approved on B, to its result: ${both(r.released)}, the task ${(r.completed.p50 / r.released.p50).toFixed(2)} × at p50)`,
    `  RSS of one airlock process: ${m.idleMb.toFixed(0)} MB idle, ${m.pendingMb.toFixed(0)} MB with ${r.pending.toLocaleString('en-US')} pending tasks` +
      ` (${m.collected ? 'each after a full GC' : 'no GC: the inspector was not reached'}; ${m.beforeGcMb.toFixed(0)} MB before it): added ${added.toFixed(0)} MB (target ≤ ${TASK_TARGETS.pendingAddedMb} MB: ${met(added <= TASK_TARGETS.pendingAddedMb)})`,
    `  (V8 heap used ${m.heapIdleMb.toFixed(0)} → ${m.heapPendingMb.toFixed(0)} MB; Redis used_memory +${m.redisAddedMb.toFixed(0)} MB; created ${m.createdPerSecond.toFixed(0)} tasks/s, ${r.inFlight} in flight)`,
  ];
}
