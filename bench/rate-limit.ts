/**
 * What one rate limit adds to a call (issue 4): the same `echo` through the
 * same Airlock to the same server-everything, once under a policy with no
 * limit and once under one limit, in alternating rounds of one run.
 * Target: ≤ 1 ms added p50.
 */
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { benchFolder, startBenchGateway, startBenchRedis, startEverything, type Cleanup } from './setup.js';

export const TARGET_ADDED_P50_MS = 1;

export interface RateLimitBenchResult {
  unlimited: { p50: number; p99: number };
  limited: { p50: number; p99: number };
  addedP50: number;
  calls: number;
}

export async function benchRateLimit(calls = 2_000, rounds = 20): Promise<RateLimitBenchResult> {
  const cleanup: Cleanup = [];
  try {
    const upstream = await startEverything(cleanup);
    const dir = benchFolder(cleanup, {
      'open.yaml': 'version: "1"\ndefault: allow\n',
      // A limit that always admits, so every call pays for the check and none is refused.
      'limited.yaml':
        'version: "1"\ndefault: allow\ntools:\n  echo:\n    limits: [{ counter: echo_rate, window: minute, max: 1000000, scope: grant }]\n',
      'airlock.yaml': `listen: { host: 127.0.0.1, port: 0 }\nlog: { level: warn }\nservers:\n  open:\n    url: ${upstream.url}\n    policy: open.yaml\n  limited:\n    url: ${upstream.url}\n    policy: limited.yaml\n`,
    });
    const { gateway } = await startBenchGateway(cleanup, join(dir, 'airlock.yaml'), await startBenchRedis(cleanup));

    const connect = async (server: string) => {
      const client = new Client({ name: 'bench', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp/${server}`)));
      cleanup.push(() => client.close());
      return client;
    };
    const clients = { unlimited: await connect('open'), limited: await connect('limited') };
    const samples: Record<keyof typeof clients, number[]> = { unlimited: [], limited: [] };
    const echo = (client: Client) => client.callTool({ name: 'echo', arguments: { message: 'bench' } });
    for (let i = 0; i < 200; i++) {
      await echo(clients.unlimited);
      await echo(clients.limited);
    }
    const perRound = Math.ceil(calls / rounds);
    for (let round = 0; round < rounds; round++) {
      for (const side of round % 2 === 0 ? (['unlimited', 'limited'] as const) : (['limited', 'unlimited'] as const)) {
        for (let i = 0; i < perRound; i++) {
          const t = performance.now();
          const result = await echo(clients[side]);
          samples[side].push(performance.now() - t);
          if (result.isError) throw new Error(`bench call refused: ${JSON.stringify(result.content)}`);
        }
      }
    }
    const stats = (s: number[]) => {
      const sorted = [...s].sort((a, b) => a - b);
      return { p50: sorted[Math.floor(sorted.length * 0.5)] ?? 0, p99: sorted[Math.floor(sorted.length * 0.99)] ?? 0 };
    };
    const unlimited = stats(samples.unlimited);
    const limited = stats(samples.limited);
    return { unlimited, limited, addedP50: limited.p50 - unlimited.p50, calls: perRound * rounds };
  } finally {
    for (const step of cleanup.reverse()) await Promise.resolve(step()).catch(() => undefined);
  }
}

export function formatRateLimitBench(r: RateLimitBenchResult): string[] {
  const ms = (n: number) => `${n.toFixed(3)} ms`;
  return [
    `rate-limit check: echo through Airlock, ${r.calls} sequential calls a side, alternating rounds`,
    `  no limit   p50 ${ms(r.unlimited.p50)}  p99 ${ms(r.unlimited.p99)}`,
    `  one limit  p50 ${ms(r.limited.p50)}  p99 ${ms(r.limited.p99)}`,
    `  added p50 ${ms(r.addedP50)} (target ≤ ${TARGET_ADDED_P50_MS} ms: ${r.addedP50 <= TARGET_ADDED_P50_MS ? 'met' : 'NOT met'})`,
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of formatRateLimitBench(await benchRateLimit())) console.log(line);
}
