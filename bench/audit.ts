/**
 * What the audit trail adds to an allowed call (issue 7): `echo` through one
 * Airlock to server-everything, in alternating rounds of one run, with the
 * gateway's real audit trail (two events per call, `allowed` and `executed`,
 * appended to the Redis stream) and with a recorder that drops events.
 * Target: ≤ 0.3 ms added p50.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { argumentsDigest } from '../src/arguments-digest.js';
import { AuditTrail, type AuditRecorder } from '../src/audit/index.js';
import { createLogger } from '../src/logging.js';
import { withRequestSignals } from '../src/proxy/request-signal.js';
import { Redactor } from '../src/redact.js';
import { connectRedis } from '../src/redis/index.js';
import { benchFolder, startBenchGateway, startBenchRedis, startEverything, type Cleanup } from './setup.js';

export const TARGET_ADDED_P50_MS = 0.3;

interface SideStats {
  p50: number;
  p99: number;
  /** CPU µs per call of this process (client and Airlock) and of Redis, which noise disturbs far less than wall time. */
  cpuUs: number;
  redisCpuUs: number;
}

export interface AuditBenchResult {
  without: SideStats;
  audited: SideStats;
  addedP50: number;
  calls: number;
  events: number;
}

/** The baseline: the pipeline runs as always, and its events go nowhere. */
const dropping: AuditRecorder = { record: () => undefined, commit: async () => undefined };

export async function benchAudit(calls = 3_000, rounds = 30): Promise<AuditBenchResult> {
  const cleanup: Cleanup = [];
  try {
    const upstream = await startEverything(cleanup);
    const dir = benchFolder(cleanup, {
      'open.yaml': 'version: "1"\ndefault: allow\n',
      'airlock.yaml': `listen: { host: 127.0.0.1, port: 0 }\nlog: { level: warn }\nservers:\n  open:\n    url: ${upstream.url}\n    policy: open.yaml\n`,
    });
    const { gateway, redis } = await startBenchGateway(cleanup, join(dir, 'airlock.yaml'), await startBenchRedis(cleanup));
    // The deps object is the one the MCP routes hold, so swapping its recorder switches auditing for the next call.
    const deps = gateway.deps;
    const trail = deps.audit;

    const client = new Client({ name: 'bench', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp/open`), { fetch: withRequestSignals() }));
    cleanup.push(() => client.close());
    const echo = () => client.callTool({ name: 'echo', arguments: { message: 'bench', password: 'not-stored' } });
    const samples = { without: [] as number[], audited: [] as number[] };
    const cpu = { without: { self: 0, redis: 0 }, audited: { self: 0, redis: 0 } };
    const redisCpu = async () => {
      const info = await redis.info('cpu');
      return (Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1])) * 1e6;
    };
    for (let i = 0; i < 200; i++) await echo();
    const perRound = Math.ceil(calls / rounds);
    for (let round = 0; round < rounds; round++) {
      for (const side of round % 2 === 0 ? (['without', 'audited'] as const) : (['audited', 'without'] as const)) {
        deps.audit = side === 'audited' ? trail : dropping;
        const [selfBefore, redisBefore] = [process.cpuUsage(), await redisCpu()];
        for (let i = 0; i < perRound; i++) {
          const t = performance.now();
          const result = await echo();
          samples[side].push(performance.now() - t);
          if (result.isError) throw new Error(`bench call refused: ${JSON.stringify(result.content)}`);
        }
        // The round's last events are written before its CPU is read.
        if (side === 'audited') await gateway.audit.flush(5_000);
        const self = process.cpuUsage(selfBefore);
        cpu[side].self += self.user + self.system;
        cpu[side].redis += (await redisCpu()) - redisBefore;
      }
    }
    deps.audit = trail;
    await gateway.audit.flush(5_000);
    const stats = (side: keyof typeof samples): SideStats => {
      const sorted = [...samples[side]].sort((a, b) => a - b);
      const n = sorted.length;
      return {
        p50: sorted[Math.floor(n * 0.5)] ?? 0,
        p99: sorted[Math.floor(n * 0.99)] ?? 0,
        cpuUs: cpu[side].self / n,
        redisCpuUs: cpu[side].redis / n,
      };
    };
    const without = stats('without');
    const audited = stats('audited');
    // The config leaves redis.prefix at its default, `{airlock}:`.
    const events = await redis.xlen('{airlock}:audit');
    return { without, audited, addedP50: audited.p50 - without.p50, calls: perRound * rounds, events };
  } finally {
    for (const step of cleanup.reverse()) await Promise.resolve(step()).catch(() => undefined);
  }
}

export function formatAuditBench(r: AuditBenchResult): string[] {
  const ms = (n: number) => `${n.toFixed(3)} ms`;
  return [
    `audit trail: echo through Airlock, ${r.calls} sequential calls a side, alternating rounds (${r.events} events written)`,
    `  events dropped  p50 ${ms(r.without.p50)}  p99 ${ms(r.without.p99)}  cpu/call ${r.without.cpuUs.toFixed(0)} µs here + ${r.without.redisCpuUs.toFixed(0)} µs Redis`,
    `  audited         p50 ${ms(r.audited.p50)}  p99 ${ms(r.audited.p99)}  cpu/call ${r.audited.cpuUs.toFixed(0)} µs here + ${r.audited.redisCpuUs.toFixed(0)} µs Redis`,
    `  added p50 ${ms(r.addedP50)} (target ≤ ${TARGET_ADDED_P50_MS} ms: ${r.addedP50 <= TARGET_ADDED_P50_MS ? 'met' : 'NOT met'}); added CPU per call ${(r.audited.cpuUs - r.without.cpuUs).toFixed(0)} µs here + ${(r.audited.redisCpuUs - r.without.redisCpuUs).toFixed(0)} µs Redis`,
  ];
}

export interface CheckpointBenchResult {
  events: number;
  checkpoints: number;
  /** Per event: wall µs, CPU µs of this process and of Redis, without checkpoints and with them. */
  plain: { wallUs: number; cpuUs: number; redisCpuUs: number };
  anchored: { wallUs: number; cpuUs: number; redisCpuUs: number };
}

/**
 * What signed checkpoints add per event (issue 16): the audit trail alone
 * against a private Redis, events appended two at a time (a call's
 * `allowed` and `executed`), in alternating rounds of one run, without
 * checkpoints and with one every 100 events (the default), each side on
 * its own chain.
 */
export async function benchCheckpoints(events = 40_000, rounds = 20): Promise<CheckpointBenchResult> {
  const cleanup: Cleanup = [];
  try {
    const logger = createLogger({ level: 'warn' });
    // Generous deadlines: a figure from a busy machine is noisy, not a failure.
    const redis = await connectRedis({ url: await startBenchRedis(cleanup), logger, commandTimeoutMs: 10_000 });
    cleanup.push(() => redis.disconnect());
    const trail = (prefix: string, anchored: boolean) =>
      new AuditTrail({
        redis,
        prefix,
        redisTimeoutMs: 10_000,
        retentionMs: 86_400_000,
        maxArgumentsBytes: 8 * 1024,
        redactor: new Redactor(['password']),
        instance: 'bench',
        digest: argumentsDigest(randomBytes(32)),
        logger,
        ...(anchored && { checkpoints: { key: randomBytes(32), everyEvents: 100, everyMs: 60_000 } }),
      });
    const sides = { plain: trail('{bench-plain}:', false), anchored: trail('{bench-anchored}:', true) };
    cleanup.push(() => Promise.all(Object.values(sides).map((t) => t.close())));
    const redisCpu = async () => {
      const info = await redis.info('cpu');
      return (Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1])) * 1e6;
    };
    const totals = { plain: { wall: 0, cpu: 0, redis: 0 }, anchored: { wall: 0, cpu: 0, redis: 0 } };
    const perRound = Math.ceil(events / rounds / 2) * 2;
    for (let round = 0; round < rounds; round++) {
      for (const side of round % 2 === 0 ? (['plain', 'anchored'] as const) : (['anchored', 'plain'] as const)) {
        const [started, self, server] = [performance.now(), process.cpuUsage(), await redisCpu()];
        for (let i = 0; i < perRound; i += 2) {
          sides[side].record({ event: 'allowed', request_id: `r${i}`, server: 'fs', tool: 'read_file', args: { path: `/tmp/${i}` } });
          sides[side].record({ event: 'executed', request_id: `r${i}`, server: 'fs', tool: 'read_file', result: 'ok', duration_ms: 1 });
          await sides[side].flush(10_000);
        }
        const used = process.cpuUsage(self);
        totals[side].wall += performance.now() - started;
        totals[side].cpu += used.user + used.system;
        totals[side].redis += (await redisCpu()) - server;
      }
    }
    const written = perRound * rounds;
    const per = (side: keyof typeof totals) => ({
      wallUs: (totals[side].wall * 1_000) / written,
      cpuUs: totals[side].cpu / written,
      redisCpuUs: totals[side].redis / written,
    });
    const checkpoints = (await redis.xrange('{bench-anchored}:audit', '-', '+')).filter(([, fields]) =>
      (fields[1] ?? '').includes('"audit_checkpoint"'),
    ).length;
    return { events: written, checkpoints, plain: per('plain'), anchored: per('anchored') };
  } finally {
    for (const step of cleanup.reverse()) await Promise.resolve(step()).catch(() => undefined);
  }
}

export function formatCheckpointBench(r: CheckpointBenchResult): string[] {
  const us = (n: number) => `${n.toFixed(1)} µs`;
  const line = (name: string, side: CheckpointBenchResult['plain']) =>
    `  ${name.padEnd(24)}wall/event ${us(side.wallUs)}  cpu/event ${us(side.cpuUs)} here + ${us(side.redisCpuUs)} Redis`;
  return [
    `audit checkpoints: ${r.events} events a side, appended two at a time, alternating rounds (${r.checkpoints} checkpoints signed)`,
    line('no anchor key', r.plain),
    line('a checkpoint every 100', r.anchored),
    `  added per event: wall ${us(r.anchored.wallUs - r.plain.wallUs)}, cpu ${us(r.anchored.cpuUs - r.plain.cpuUs)} here + ${us(r.anchored.redisCpuUs - r.plain.redisCpuUs)} Redis`,
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of formatAuditBench(await benchAudit())) console.log(line);
  for (const line of formatCheckpointBench(await benchCheckpoints())) console.log(line);
}
