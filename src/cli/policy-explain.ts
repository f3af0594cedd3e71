import { describeDuration, findConfigFile, loadConfig, suggest, type LoadedConfig } from '../config/index.js';
import { AirlockError, ErrorCode } from '../errors.js';
import { evaluate, loadPolicyFile, RISK_CLASSES, type Decision, type RiskClass } from '../policy/index.js';
import { displayPath, ExitCode, table, type Io } from './output.js';

export interface ExplainOptions {
  config?: string;
  args?: string;
  grant?: string;
  risk?: string;
  changed?: boolean;
  json?: boolean;
}

/**
 * `airlock policy explain SERVER TOOL`: the decision the gateway would make
 * for this call, the rule that fired and why, without calling anything.
 */
export function policyExplain(io: Io, server: string, tool: string, options: ExplainOptions): number {
  const config = loadConfig(findConfigFile(io.cwd, options.config), io.env);
  const serverConfig = config.servers[server];
  if (!serverConfig) {
    const names = Object.keys(config.servers);
    throw new AirlockError(ErrorCode.UnknownServer, `unknown server "${server}"${suggest(server, names)} (configured: ${names.join(', ') || 'none'})`);
  }
  const args = parseArgs(options.args);
  const risk = parseRisk(options.risk);
  const grantRefusal = checkGrant(config, options.grant, server);
  const policy = loadPolicyFile(serverConfig.policy);
  const decision = grantRefusal ?? evaluate(policy, { tool, args, grant: options.grant, risk, changed: options.changed });

  if (options.json) {
    io.out(JSON.stringify({ server, tool, policy_file: serverConfig.policy, ...decision }, null, 2));
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
    rows.push(['limits', decision.limits.map((l) => `${l.counter}: ${l.max} per ${describeDuration(l.window_ms).replace(/^1 /, '')}, scope ${l.scope} (${l.rule})`).join('\n          ')]);
  }
  if (decision.approval) {
    const { approvers, min_approvals, timeout_ms } = decision.approval;
    const who = approvers.length > 0 ? approvers.join(', ') : 'any reviewer';
    rows.push(['approval', `${min_approvals} approval${min_approvals === 1 ? '' : 's'} from ${who}, expires after ${describeDuration(timeout_ms ?? config.approvals.timeout_ms)}`]);
  }
  io.out(table(rows));
  return ExitCode.Ok;
}

function parseArgs(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new AirlockError(ErrorCode.BadArguments, `--args is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new AirlockError(ErrorCode.BadArguments, '--args must be a JSON object, e.g. --args \'{"path": "/tmp/x"}\'');
  }
  return value as Record<string, unknown>;
}

function parseRisk(text: string | undefined): RiskClass | undefined {
  if (text === undefined) return undefined;
  if ((RISK_CLASSES as readonly string[]).includes(text)) return text as RiskClass;
  throw new AirlockError(ErrorCode.BadArguments, `--risk must be one of ${RISK_CLASSES.join(', ')}, got "${text}"${suggest(text, RISK_CLASSES)}`);
}

/** The gateway refuses a grant outside its server list before any policy runs; explain says the same. */
function checkGrant(config: LoadedConfig, name: string | undefined, server: string): Decision | undefined {
  if (name === undefined) return undefined;
  const grants = config.grants ?? [];
  const index = grants.findIndex((g) => g.name === name);
  const grant = grants[index];
  if (!grant) {
    const names = grants.map((g) => g.name);
    throw new AirlockError(ErrorCode.UnknownGrant, `unknown grant "${name}"${suggest(name, names)} (configured: ${names.join(', ') || 'none'})`);
  }
  if (grant.servers && !grant.servers.includes(server)) {
    return { action: 'deny', rule: `grants[${index}].servers`, reason: `grant ${name} may not use server ${server} (it may use: ${grant.servers.join(', ')})`, limits: [] };
  }
  return undefined;
}
