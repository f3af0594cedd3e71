import { builtInChannels, type RuleDestination } from '../channels/index.js';
import { findConfigFile, loadConfig, withListenOverrides, type ListenFlags, type LoadedConfig } from '../config/index.js';
import { DocumentError, errorMessage, formatProblem } from '../errors.js';
import { loadPolicyFile, type CompiledPolicy } from '../policy/index.js';
import { approverWarnings } from './approver-checks.js';
import { auditChecks } from './doctor-audit.js';
import type { Check } from './doctor-check.js';
import { listenChecks } from './doctor-listen.js';
import { redisChecks } from './doctor-redis.js';
import { upstreamChecks } from './doctor-upstreams.js';
import { displayPath, ExitCode, type Io } from './output.js';

/**
 * `airlock doctor [-c FILE]`: a line per check of what the gateway needs
 * (config, policies, Redis, every upstream, each approval channel), exit 1
 * when any fails.
 * Warnings (a Redis that keeps nothing on disk, Host headers left unchecked,
 * no audit anchor key) do not fail the run but say what would be lost. A
 * broken config stops there: nothing else can be told without it; anything
 * else broken does not stop the other checks.
 */
export async function doctor(io: Io, options: { config?: string } & ListenFlags): Promise<number> {
  const file = findConfigFile(io.cwd, options.config);
  const channels = builtInChannels();
  let config: LoadedConfig;
  try {
    config = loadConfig(file, io.env, { channels: channels.names });
  } catch (err) {
    return report(io, [{ level: 'error', what: 'config', detail: errorMessage(err) }]);
  }
  // --host/--port, AIRLOCK_HOST and AIRLOCK_PORT move the listener as they do for `airlock start`; a bad one fails here as it fails there.
  let overridden: Check | undefined;
  try {
    config = withListenOverrides(config, io.env, { host: options.host, port: options.port });
  } catch (err) {
    overridden = { level: 'error', what: 'listen', detail: errorMessage(err) };
  }
  const policies = policyChecks(io, config);
  const [redis, upstreams, channelChecks] = await Promise.all([
    redisChecks(config, io.env),
    upstreamChecks(config, io.env),
    channels.doctor(config, ruleDestinations(policies.loaded)),
  ]);
  return report(io, [
    { level: 'ok', what: 'config', detail: displayPath(io, config.file) },
    ...(overridden ? [overridden] : listenChecks(config)),
    ...policies.checks,
    ...redis,
    ...auditChecks(config),
    ...upstreams,
    ...channelChecks,
  ]);
}

/** Where policy rules send their approval requests (`approval.channel`), each once, with the rules that name it. */
function ruleDestinations(policies: ReadonlyMap<string, CompiledPolicy>): RuleDestination[] {
  const named = new Map<string, string[]>();
  for (const [name, policy] of policies) {
    for (const rule of [...policy.exact.values(), ...policy.globs.map((g) => g.rule)]) {
      const channel = rule.approval?.channel;
      if (channel === undefined) continue;
      named.set(channel, [...(named.get(channel) ?? []), `approval.channel of ${rule.where} in policy ${name}`]);
    }
  }
  return [...named].map(([channel, settings]) => ({ channel, setting: settings.join(', ') }));
}

/** One line per policy, or per problem in it, each naming the file as the person typing would; and the policies that loaded, by server. */
function policyChecks(io: Io, config: LoadedConfig): { checks: Check[]; loaded: Map<string, CompiledPolicy> } {
  const loaded = new Map<string, CompiledPolicy>();
  const checks = Object.entries(config.servers).flatMap(([name, server]): Check[] => {
    const what = `policy ${name}`;
    try {
      const policy = loadPolicyFile(server.policy);
      loaded.set(name, policy);
      const shown = displayPath(io, server.policy);
      const warnings = approverWarnings(config, policy).map((w): Check => ({
        level: 'warn',
        what,
        detail: `${shown}: ${w.path}: ${w.message}`,
      }));
      return [{ level: 'ok', what, detail: shown }, ...warnings];
    } catch (err) {
      if (!(err instanceof DocumentError)) return [{ level: 'error', what, detail: errorMessage(err) }];
      return err.problems.map((problem) => ({
        level: 'error',
        what,
        detail: formatProblem({ ...problem, file: displayPath(io, problem.file) }),
      }));
    }
  });
  return { checks, loaded };
}

function report(io: Io, checks: Check[]): number {
  for (const check of checks) io.out(`${check.level.padEnd(5)} ${check.what}: ${check.detail}`);
  const errors = checks.filter((c) => c.level === 'error').length;
  const warnings = checks.filter((c) => c.level === 'warn').length;
  io.out(`${checks.length} checks: ${errors} failed, ${warnings} warning${warnings === 1 ? '' : 's'}`);
  return errors === 0 ? ExitCode.Ok : ExitCode.Failed;
}
