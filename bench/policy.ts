/**
 * Policy figures on one core:
 * 1. evaluation throughput: a 200-rule policy with globs and conditions,
 *    evaluated for a mix of exact, glob-matched and unlisted tools.
 *    Target (issue 2): at least 200,000 decisions per second.
 * 2. regex conditions on crafted text: patterns that would backtrack
 *    catastrophically run on the linear-time engine (the unit tests check that,
 *    and the outcome); here, how long one call takes to evaluate against
 *    deny_if, approve_if and require. Target: under 2 s.
 * 3. risk classification of 5,000 real tools with 20 KB descriptions (what
 *    `airlock policy init` reads from a large server). Target: under 5 s.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Tool } from '@modelcontextprotocol/client';
import { parseSourceText } from '../src/config/index.js';
import { ErrorCode } from '../src/errors.js';
import { classifyTool } from '../src/inventory/index.js';
import { compileSource, evaluate, type ToolCall } from '../src/policy/index.js';

const TARGET = 200_000;
export const CRAFTED_TARGET_MS = 2_000;
export const CLASSIFY_TARGET_MS = 5_000;

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
  return {
    version: '1',
    default: 'deny',
    hide: ['internal_*', 'debug_?'],
    all_tools: { limits: [{ counter: 'all', window: 'second', max: 100 }] },
    tools,
  };
}

function buildCalls(): ToolCall[] {
  const calls: ToolCall[] = [];
  for (let i = 0; i < 1_000; i++) {
    const kind = i % 4;
    if (kind === 0)
      calls.push({
        tool: `tool_${i % 150}`,
        args: { reason: 'ticket 42', amount: i % 300, account: { region: 'eu-west-1' }, target: 'prod-db-7' },
        grant: 'ci-bot',
      });
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

/** Text crafted against each pattern; the last is as long as the linear-time engine reads. */
const CRAFTED = [
  { pattern: '(a+)+$', text: `${'a'.repeat(30_000)}!` },
  { pattern: '^(\\w+\\s?)*$', text: `${'word '.repeat(6_000)}!` },
  { pattern: '(a+)+$', text: `${'a'.repeat(65_535)}!` },
];

/** For each crafted text, the slowest of `rounds` evaluations of one call against the pattern in deny_if, approve_if and require. */
export function benchCraftedRegex(rounds = 5): { pattern: string; chars: number; slowestMs: number }[] {
  return CRAFTED.map(({ pattern, text }) => {
    const policies = ['deny_if', 'approve_if', 'require'].map((list) =>
      compileSource(
        parseSourceText(
          JSON.stringify({ version: '1', default: 'deny', tools: { t: { [list]: [{ path: 'args.s', op: 'regex', value: pattern }] } } }),
          'bench-regex.json',
          ErrorCode.PolicyInvalid,
        ),
      ),
    );
    let slowestMs = 0;
    for (let round = 0; round < rounds; round++) {
      const started = performance.now();
      for (const policy of policies) evaluate(policy, { tool: 't', args: { s: text } });
      slowestMs = Math.max(slowestMs, performance.now() - started);
    }
    return { pattern, chars: text.length, slowestMs: Math.round(slowestMs) };
  });
}

/** Milliseconds to classify `count` tools taken from the real tool lists in test/fixtures, each given a 20 KB description. */
export function benchClassify(count = 5_000): { tools: number; ms: number } {
  const folder = new URL('../test/fixtures/tool-lists/', import.meta.url);
  const real = readdirSync(folder).flatMap((file) => (JSON.parse(readFileSync(new URL(file, folder), 'utf8')) as { tools: Tool[] }).tools);
  const many = Array.from({ length: count }, (_, i) => {
    const base = real[i % real.length]!;
    return { ...base, name: `${base.name}_${i}`, description: `${base.description ?? ''} ${'lorem ipsum '.repeat(1700)}` };
  });
  const started = performance.now();
  for (const tool of many) classifyTool(tool);
  return { tools: count, ms: Math.round(performance.now() - started) };
}

export function formatPolicyBench(): string[] {
  const { decisionsPerSecond, rules } = benchPolicy();
  const crafted = benchCraftedRegex();
  const classified = benchClassify();
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  return [
    `policy evaluation: ${rules} rules, ${decisionsPerSecond.toLocaleString('en-US')} decisions/s on one core (target ≥ ${TARGET.toLocaleString('en-US')}: ${met(decisionsPerSecond >= TARGET)})`,
    ...crafted.map(
      (c) =>
        `regex condition ${c.pattern} on ${c.chars.toLocaleString('en-US')} crafted characters: ${c.slowestMs} ms for deny_if, approve_if and require (target < ${CRAFTED_TARGET_MS.toLocaleString('en-US')} ms: ${met(c.slowestMs < CRAFTED_TARGET_MS)})`,
    ),
    `risk classification: ${classified.tools.toLocaleString('en-US')} tools with 20 KB descriptions in ${classified.ms} ms (target < ${CLASSIFY_TARGET_MS.toLocaleString('en-US')} ms: ${met(classified.ms < CLASSIFY_TARGET_MS)})`,
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of formatPolicyBench()) console.log(line);
  console.log(`rss ${Math.round(process.memoryUsage().rss / 1024 / 1024)} MB`);
}
