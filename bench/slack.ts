/**
 * Slack channel (issue 6): from a held call to its message. The time from
 * the agent sending a tools/call that needs approval to the fake Slack
 * receiving chat.postMessage, over 200 calls (after 20 warm-up calls), each
 * then approved so the next starts from an idle gateway. Target: ≤ 50 ms p50.
 */
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startFakeSlack } from '../test/support/fake-slack.js';
import { approvalIdIn } from '../test/support/slack-gateway.js';
import { benchFolder, percentile, startBenchGateway, startBenchRedis, startEverything, type Cleanup } from './setup.js';

export const TARGETS = { postP50Ms: 50 };
const WARMUP = 20;

export interface SlackBenchResult {
  calls: number;
  post: { p50: number; p99: number };
}

export async function benchSlack(calls = 200): Promise<SlackBenchResult> {
  const cleanup: Cleanup = [];
  try {
    const upstream = await startEverything(cleanup);
    const slack = await startFakeSlack();
    cleanup.push(() => slack.close());
    const dir = benchFolder(cleanup, {
      'held.yaml': 'version: "1"\ndefault: allow\ntools:\n  echo: { action: require_approval, reason: Benchmark }\n',
      'airlock.yaml':
        'listen: { host: 127.0.0.1, port: 0 }\nlog: { level: warn }\n' +
        `slack: { bot_token: xoxb-bench, signing_secret: bench-secret, channel: C0BENCH, api_url: "${slack.apiUrl}" }\n` +
        `servers:\n  held:\n    url: ${upstream.url}\n    policy: held.yaml\n`,
    });
    const { gateway } = await startBenchGateway(cleanup, join(dir, 'airlock.yaml'), await startBenchRedis(cleanup));
    const client = new Client({ name: 'bench', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp/held`)));
    cleanup.push(() => client.close());

    const samples: number[] = [];
    for (let i = 0; i < calls + WARMUP; i++) {
      const from = slack.calls.length;
      const t0 = performance.now();
      const call = client.callTool({ name: 'echo', arguments: { message: `held ${i}` } });
      const posted = await slack.waitFor('chat.postMessage', () => true, { from, timeoutMs: 10_000 });
      if (i >= WARMUP) samples.push(posted.hrAt - t0);
      const id = approvalIdIn(posted);
      await gateway.approvals.decide(id, { verdict: 'approve', by: 'bench', reason: '', via: 'console' });
      const result = await call;
      if (result.isError) throw new Error(`approved call failed: ${JSON.stringify(result.content)}`);
    }
    return { calls, post: { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) } };
  } finally {
    for (const step of cleanup.reverse()) await Promise.resolve(step()).catch(() => undefined);
  }
}

export function formatSlackBench(r: SlackBenchResult): string[] {
  const ms = (n: number) => `${n.toFixed(2)} ms`;
  return [
    `slack: ${r.calls} held calls, each posted to a fake Slack on this machine`,
    `  tools/call sent → chat.postMessage received  p50 ${ms(r.post.p50)}  p99 ${ms(r.post.p99)} (target p50 ≤ ${TARGETS.postP50Ms} ms: ${r.post.p50 <= TARGETS.postP50Ms ? 'met' : 'NOT met'})`,
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of formatSlackBench(await benchSlack())) console.log(line);
}
