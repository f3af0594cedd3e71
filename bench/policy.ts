/**
 * Policy evaluation throughput on one core: a 200-rule policy with globs and
 * conditions, evaluated for a mix of exact, glob-matched and unlisted tools.
 * Target (issue 2): at least 200,000 decisions per second.
 */
import { parseSourceText } from '../src/config/index.js';
import { ErrorCode } from '../src/errors.js';
import { compileSource, evaluate, type ToolCall } from '../src/policy/index.js';

const TARGET = 200_000;

function buildPolicy(): object {
  const tools: Record<string, object> = {};
  for (let i = 0; i < 150; i++) {
    tools[`tool_${i}`] = {
      require: [{ path: 'args.reason', op: 'exists' }],
      deny_if: [
        { path: 'args.amount', op: 'gt', value: 10_000 },
        { path: 'args.account.region', op: 'in', value: ['cn-north-1', 'ru-central-1'] },
      ],
      approve_if: [
        { path: 'args.amount', op: 'gt', value: 100 },
        { path: 'args.target', op: 'regex', value: '^prod-[a-z0-9-]{1,40}$' },
      ],
      limits: [{ counter: `tool_${i}_rate`, window: 'minute', max: 60 }],
    };
  }
  for (let i = 0; i < 50; i++) {
    tools[`family_${i}_*`] = {
      action: i % 3 === 0 ? 'require_approval' : 'allow',
      deny_if: [{ path: 'args.path', op: 'starts_with', value: '/etc/' }],
    };
  }
  return { version: '1', default: 'deny', hide: ['internal_*', 'debug_?'], all_tools: { limits: [{ counter: 'all', window: 'second', max: 100 }] }, tools };
}

function buildCalls(): ToolCall[] {
  const calls: ToolCall[] = [];
  for (let i = 0; i < 1_000; i++) {
    const kind = i % 4;
    if (kind === 0) calls.push({ tool: `tool_${i % 150}`, args: { reason: 'ticket 42', amount: i % 300, account: { region: 'eu-west-1' }, target: 'prod-db-7' }, grant: 'ci-bot' });
    else if (kind === 1) calls.push({ tool: `family_${i % 50}_write`, args: { path: '/srv/data/file.txt' }, grant: 'ci-bot' });
    else if (kind === 2) calls.push({ tool: `unlisted_${i % 20}`, args: {}, grant: 'ci-bot' });
    else calls.push({ tool: `tool_${i % 150}`, args: { amount: 20_000, reason: 'x', account: { region: 'eu-west-1' } }, grant: 'ci-bot' });
  }
  return calls;
}

export function benchPolicy(durationMs = 2_000): { decisionsPerSecond: number; rules: number } {
  const document = buildPolicy();
  const policy = compileSource(parseSourceText(JSON.stringify(document), 'bench-policy.json', ErrorCode.PolicyInvalid));
  const calls = buildCalls();
  const rules = policy.exact.size + policy.globs.length;

  let sink = 0;
  for (let i = 0; i < 50_000; i++) sink += evaluate(policy, calls[i % calls.length] as ToolCall).limits.length;

  let count = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(durationMs) * 1_000_000n;
  while (process.hrtime.bigint() < end) {
    for (let i = 0; i < calls.length; i++) sink += evaluate(policy, calls[i] as ToolCall).limits.length;
    count += calls.length;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (sink < 0) console.log(sink);
  return { decisionsPerSecond: Math.round(count / seconds), rules };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { decisionsPerSecond, rules } = benchPolicy();
  const rss = Math.round(process.memoryUsage().rss / 1024 / 1024);
  console.log(`policy evaluation: ${rules} rules, ${decisionsPerSecond.toLocaleString('en-US')} decisions/s on one core (target ≥ ${TARGET.toLocaleString('en-US')}: ${decisionsPerSecond >= TARGET ? 'met' : 'NOT met'}), rss ${rss} MB`);
}
