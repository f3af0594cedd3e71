import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { approverList, describeApprovers } from '../approvals/index.js';
import { describeDuration, describePer, findConfigFile, loadConfig, redisUrl, suggest, type LoadedConfig } from '../config/index.js';
import { RateLimiter } from '../limits/index.js';
import { connectRedis, redactRedisUrl } from '../redis/index.js';
import { AirlockError, ErrorCode, errorMessage } from '../errors.js';
import {
  evaluate,
  evaluatePrompt,
  evaluateResource,
  loadPolicyFile,
  RISK_CLASSES,
  type Decision,
  quoteName,
  type RiskClass,
} from '../policy/index.js';
import { grantNamed, serverNamed } from './lookup.js';
import { displayPath, ExitCode, table, type Io } from './output.js';

export interface ExplainOptions {
  config?: string;
  args?: string;
  grant?: string;
  risk?: string;
  changed?: boolean;
  json?: boolean;
}

/** What to explain: a tool call, or reading a resource, or getting a prompt. */
export type ExplainTarget = { tool: string } | { resource: string } | { prompt: string };

/**
 * `airlock policy explain SERVER TOOL`: the decision the gateway would make
 * for this call, the rule that fired and why, without calling anything.
 * With `--resource URI` or `--prompt NAME` instead of TOOL, the decision on
 * reading that resource or getting that prompt.
 */
export async function policyExplain(io: Io, server: string, target: ExplainTarget, options: ExplainOptions): Promise<number> {
  const config = loadConfig(findConfigFile(io.cwd, options.config), io.env);
  const serverConfig = serverNamed(config, server);
  if (!('tool' in target)) return explainAccess(io, config, server, serverConfig.policy, target, options);
  const { tool } = target;
  const args = parseArgs(options.args);
  const risk = parseRisk(options.risk);
  const grantRefusal = checkGrant(config, options.grant, server);
  const policy = loadPolicyFile(serverConfig.policy);
  const decision = grantRefusal ?? evaluate(policy, { tool, args, grant: options.grant, risk, changed: options.changed });
  const counters = await readCounters(config, io.env, decision.limits, options.grant);

  if (options.json) {
    const deciders = decision.approval && approverList(decision.approval.approvers, config.approvals.approvers);
    io.out(
      JSON.stringify(
        { server, tool, policy_file: serverConfig.policy, ...decision, ...(deciders && { approvers: deciders }), counters },
        null,
        2,
      ),
    );
    return ExitCode.Ok;
  }
  const rows: [string, string][] = [
    ['server', `${server} (${displayPath(io, serverConfig.policy)})`],
    ['tool', tool],
    ['decision', decision.action],
    ['rule', decision.rule],
    ['reason', decision.reason],
  ];
  if (decision.limits.length > 0) {
    rows.push([
      'limits',
      decision.limits
        .map((l) => `${l.counter}: ${l.max} per ${describePer(l.window_ms)}, scope ${l.scope} (${l.rule})`)
        .join('\n          '),
    ]);
    rows.push(['counters', describeCounters(counters)]);
  }
  if (decision.approval) {
    const { approvers, min_approvals, timeout_ms } = decision.approval;
    const who = describeApprovers(approverList(approvers, config.approvals.approvers));
    rows.push([
      'approval',
      `${min_approvals} approval${min_approvals === 1 ? '' : 's'} from ${who}, expires after ${describeDuration(timeout_ms ?? config.approvals.timeout_ms)}`,
    ]);
  }
  io.out(table(rows));
  return ExitCode.Ok;
}

/** Resources and prompts: no arguments, risk class or tool change, no limits or approval. */
function explainAccess(
  io: Io,
  config: LoadedConfig,
  server: string,
  file: string,
  target: Exclude<ExplainTarget, { tool: string }>,
  options: ExplainOptions,
): number {
  const [kind, name] = 'resource' in target ? (['resource', target.resource] as const) : (['prompt', target.prompt] as const);
  const toolOnly = [options.args !== undefined && '--args', options.risk !== undefined && '--risk', options.changed && '--changed'].filter(
    Boolean,
  );
  if (toolOnly.length > 0)
    throw new AirlockError(
      ErrorCode.BadArguments,
      `${toolOnly.join(', ')} ${toolOnly.length > 1 ? 'apply' : 'applies'} to a tool call, not to --${kind}`,
    );
  const policy = loadPolicyFile(file);
  const { action, rule, reason, matched } =
    checkGrant(config, options.grant, server) ?? ('resource' in target ? evaluateResource(policy, name) : evaluatePrompt(policy, name));
  if (options.json) {
    io.out(
      JSON.stringify({ server, [kind]: name, policy_file: file, action, rule, reason, ...(matched !== undefined && { matched }) }, null, 2),
    );
    return ExitCode.Ok;
  }
  io.out(
    table([
      ['server', `${server} (${displayPath(io, file)})`],
      [kind, quoteName(name)],
      ['decision', action],
      ['rule', rule],
      ['reason', reason],
    ]),
  );
  return ExitCode.Ok;
}

const silentLogger = pino({ level: 'silent' });

type Counters =
  { redis: string; error: string } | { redis: string; counts: { counter: string; scope: string; count: number | null; max: number }[] };

/** The counters' current state, read without charging; a Redis that does not answer is reported, not fatal. */
async function readCounters(
  config: LoadedConfig,
  env: NodeJS.ProcessEnv,
  limits: Decision['limits'],
  grant: string | undefined,
): Promise<Counters | undefined> {
  if (limits.length === 0) return undefined;
  const url = redisUrl(config, env);
  let redis: Redis | undefined;
  try {
    redis = await connectRedis({ url, logger: silentLogger, connectTimeoutMs: 1_000, commandTimeoutMs: 1_000 });
    // A session counter belongs to one MCP session, which explain does not have: its count is not shown.
    const countable = limits.filter((l) => l.scope !== 'session');
    const states = await new RateLimiter(redis, { prefix: config.redis.prefix }).peek(countable, { grant, session: undefined });
    return {
      redis: redactRedisUrl(url),
      counts: limits.map((l) => ({
        counter: l.counter,
        scope: l.scope,
        max: l.max,
        count: states.find((s) => s.limit === l)?.count ?? null,
      })),
    };
  } catch (err) {
    return { redis: redactRedisUrl(url), error: errorMessage(err) };
  } finally {
    redis?.disconnect();
  }
}

function describeCounters(counters: Counters | undefined): string {
  if (!counters) return '';
  if ('error' in counters) return `not read: ${counters.error}`;
  const full = counters.counts.find((c) => c.count !== null && c.count >= c.max);
  const lines = counters.counts.map(
    (c) => `${c.counter}: ${c.count === null ? 'per MCP session, not shown' : `${c.count} of ${c.max} used`}`,
  );
  lines.push(full ? `the next call would be RATE LIMITED by ${full.counter}` : 'the next call would be admitted by its limits');
  return lines.join('\n          ');
}

function parseArgs(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new AirlockError(ErrorCode.BadArguments, `--args is not valid JSON: ${errorMessage(err)}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new AirlockError(ErrorCode.BadArguments, '--args must be a JSON object, e.g. --args \'{"path": "/tmp/x"}\'');
  }
  return value as Record<string, unknown>;
}

function parseRisk(text: string | undefined): RiskClass | undefined {
  if (text === undefined) return undefined;
  if ((RISK_CLASSES as readonly string[]).includes(text)) return text as RiskClass;
  throw new AirlockError(
    ErrorCode.BadArguments,
    `--risk must be one of ${RISK_CLASSES.join(', ')}, got "${text}"${suggest(text, RISK_CLASSES)}`,
  );
}

/** The gateway refuses a grant outside its server list before any policy runs; explain says the same. */
function checkGrant(config: LoadedConfig, name: string | undefined, server: string): Decision | undefined {
  if (name === undefined) return undefined;
  const { grant, index } = grantNamed(config, name);
  if (grant.servers && !grant.servers.includes(server)) {
    return {
      action: 'deny',
      rule: `grants[${index}].servers`,
      reason: `grant ${name} may not use server ${server} (it may use: ${grant.servers.join(', ')})`,
      limits: [],
    };
  }
  return undefined;
}
