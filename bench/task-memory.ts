/**
 * Figure 3 of the tasks bench (approval-tasks.ts): what one `airlock start`
 * process keeps for pending tasks. Its RSS (/proc) and V8 heap are read idle
 * and again once `count` held calls have been answered as tasks, each after
 * a full GC through the inspector; Redis's used_memory beside them.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Inspector } from './inspector.js';
import { procRssMb, type Cleanup } from './setup.js';
import type { TasksWire } from './task-clients.js';

export interface PendingMemory {
  idleMb: number;
  pendingMb: number;
  /** RSS right after the last task was created, before the collection. */
  beforeGcMb: number;
  heapIdleMb: number;
  heapPendingMb: number;
  redisAddedMb: number;
  createdPerSecond: number;
  /** Whether the inspector collected garbage before each reading. */
  collected: boolean;
}

export interface Fresh {
  pid: number;
  held: TasksWire;
  open: TasksWire;
  inspector: Inspector | undefined;
  redisUrl: string;
}

/** RSS of one instance idle and with `count` pending tasks, created `inFlight` at a time. */
export async function pendingMemory(
  c: Fresh,
  { count, inFlight, warmup }: { count: number; inFlight: number; warmup: number },
  cleanup: Cleanup,
): Promise<PendingMemory> {
  const redis = new Redis(c.redisUrl);
  cleanup.push(() => redis.disconnect());
  // Both paths warm first, so what their first calls load and compile is part of "idle".
  for (let i = 0; i < warmup; i++) {
    await c.held.callAsTask('echo', { message: `warm ${i}` });
    await c.open.callTool('echo', { message: `warm ${i}` });
  }
  const settled = async () => {
    await sleep(1_000);
    await c.inspector?.collectGarbage();
    const heap = await c.inspector?.memoryMb();
    return { rss: procRssMb(c.pid) ?? Number.NaN, heap: heap?.heapUsed ?? Number.NaN };
  };
  const idle = await settled();
  const redisBefore = await usedMemoryMb(redis);

  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) {
        const i = next++;
        await c.held.callAsTask('echo', { message: `pending ${i}` });
      }
    }),
  );
  const createdPerSecond = (count / (performance.now() - t0)) * 1000;
  const beforeGcMb = procRssMb(c.pid) ?? Number.NaN;
  const loaded = await settled();
  // Only now: a snapshot leaves the process larger than before it, which would count as the tasks'.
  const snapshots = process.env.BENCH_PROFILE_DIR;
  if (snapshots && c.inspector) {
    mkdirSync(snapshots, { recursive: true });
    await c.inspector.heapSnapshot(join(snapshots, 'tasks-pending.heapsnapshot'));
  }
  return {
    idleMb: idle.rss,
    pendingMb: loaded.rss,
    beforeGcMb,
    heapIdleMb: idle.heap,
    heapPendingMb: loaded.heap,
    redisAddedMb: (await usedMemoryMb(redis)) - redisBefore,
    createdPerSecond,
    collected: c.inspector !== undefined,
  };
}

async function usedMemoryMb(redis: Redis): Promise<number> {
  const bytes = /used_memory:(\d+)/.exec(await redis.info('memory'))?.[1];
  return Number(bytes) / 1024 / 1024;
}
