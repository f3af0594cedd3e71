import type { Tool } from '@modelcontextprotocol/client';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { durationMs, findConfigFile, loadConfig, suggest, type LoadedConfig } from '../config/index.js';
import { AirlockError, ErrorCode, errorMessage } from '../errors.js';
import { deploymentDigest, openAuditTrail } from '../gateway/index.js';
import { toolDigest, ToolPins, toolRows, type ToolRow } from '../inventory/index.js';
import { escapeLine } from '../invisible-characters.js';
import { loadPolicyFile } from '../policy/index.js';
import { adminNamed, givenAdminToken, openRedisSaying } from './console-access.js';
import { liveTools } from './live-tools.js';
import { eraStoreFor } from '../proxy/index.js';
import { grantNamed, serverNamed } from './lookup.js';
import { ExitCode, type Io } from './output.js';

export interface ToolsOptions {
  config?: string;
  json?: boolean;
  grant?: string;
}

const silentLogger = pino({ level: 'silent' });

/**
 * `airlock tools [SERVER]`: every upstream tool with its risk class, today's
 * decision and whether it changed since it was accepted. The definitions
 * are the ones a running gateway serves (it publishes them in Redis), else a
 * fresh start of the server is asked; the accepted ones come from Redis and
 * are reported as not read when it is away.
 */
export async function tools(io: Io, server: string | undefined, options: ToolsOptions): Promise<number> {
  const config = loadConfig(findConfigFile(io.cwd, options.config), io.env);
  if (server !== undefined) serverNamed(config, server);
  const names = server === undefined ? Object.keys(config.servers) : [server];
  if (options.grant !== undefined) grantNamed(config, options.grant);
  const redis = await openRedisSaying(io, config).then(
    (opened) => opened.redis,
    (err: unknown) => err as Error,
  );
  const pins = redis instanceof Error ? undefined : pinsFor(config, redis);
  let pinsError = redis instanceof Error ? redis.message : undefined;
  try {
    const servers = await Promise.all(
      names.map(async (name) => {
        try {
          const current = await currentTools(config, name, pins, redis instanceof Error ? undefined : redis);
          const accepted = await pins?.pins(name).catch((err: unknown) => void (pinsError = errorMessage(err)));
          return {
            server: name,
            source: current.source,
            ...(current.protocol !== undefined && { protocol: current.protocol }),
            tools: toolRows(name, current.tools, loadPolicyFile(config.servers[name]!.policy), accepted ?? undefined, options.grant),
          };
        } catch (err) {
          return { server: name, error: errorMessage(err) };
        }
      }),
    );
    if (options.json) io.out(JSON.stringify({ servers, ...(pinsError && { pins_error: pinsError }) }, null, 2));
    else
      io.out(
        servers
          .map((s) =>
            'error' in s
              ? `${s.server}: ${s.error}`
              : describeServer(s.server, s.source + (s.protocol ? `, speaking MCP ${s.protocol}` : ''), s.tools),
          )
          .join('\n\n') + (pinsError ? `\n\nchanged since accepted: not read (${pinsError})` : ''),
      );
    return servers.some((s) => 'error' in s) ? ExitCode.Failed : ExitCode.Ok;
  } finally {
    if (!(redis instanceof Error)) redis.disconnect();
  }
}

/** `airlock tools accept SERVER [TOOL...]`: the current definitions become the accepted ones (all the server's tools when none are named). */
export async function acceptTools(
  io: Io,
  server: string,
  names: string[],
  options: { config?: string; tokenFile?: string },
): Promise<number> {
  const config = loadConfig(findConfigFile(io.cwd, options.config), io.env);
  serverNamed(config, server);
  const given = givenAdminToken(config, io, options.tokenFile);
  const { redis } = await openRedisSaying(io, config);
  try {
    const admin = await adminNamed(config, redis, given);
    const pins = pinsFor(config, redis);
    // What the gateway serves is what it compares with the pins, so that is what gets accepted.
    const { tools: live, source } = await currentTools(config, server, pins, redis);
    const chosen = choose(server, live, names);
    // Audited first: an accept that cannot be recorded is not made.
    await openAuditTrail(config, redis, silentLogger, 'cli', await deploymentDigest(config, redis)).commit({
      event: 'tools_accepted',
      admin,
      server,
      detail: chosen.map((t) => `${t.name} (sha256 ${toolDigest(t)})`).join(', '),
    });
    await pins.accept(server, chosen, admin);
    io.out(
      `accepted the definitions of ${chosen.length} tool${chosen.length === 1 ? '' : 's'} of ${server} ${source}, as ${admin}: ${chosen.map((t) => t.name).join(', ')}`,
    );
    return ExitCode.Ok;
  } finally {
    redis.disconnect();
  }
}

function choose(server: string, live: Tool[], names: string[]): Tool[] {
  const unknown = names.filter((n) => !live.some((t) => t.name === n));
  if (unknown.length > 0) {
    const known = live.map((t) => t.name);
    throw new AirlockError(
      ErrorCode.BadArguments,
      `server ${server} has no tool ${unknown.map((n) => `"${n}"${suggest(n, known)}`).join(', ')}`,
    );
  }
  return names.length === 0 ? live : live.filter((t) => names.includes(t.name));
}

/** What a running gateway serves (it publishes its lists in Redis), else what a fresh start of the server lists. */
async function currentTools(
  config: LoadedConfig,
  server: string,
  pins: ToolPins | undefined,
  redis: Redis | undefined,
): Promise<{ tools: Tool[]; source: string; protocol?: string }> {
  const served = await pins?.served(server).catch(() => undefined);
  if (served) return { tools: served.tools, source: `as the gateway served them at ${new Date(served.served_at).toISOString()}` };
  return { ...(await liveTools(config, server, eraStoreFor(config, redis))), source: 'as a fresh start of the server lists them' };
}

function pinsFor(config: LoadedConfig, redis: Redis): ToolPins {
  return new ToolPins(redis, {
    prefix: config.redis.prefix,
    timeoutMs: Math.max(2_000, durationMs(config.redis.timeout)),
    logger: silentLogger,
  });
}

/** Tool names and evidence come from the upstream: each is shown escaped on its line, so no name can add a row or drive the terminal. */
function describeServer(server: string, source: string, rows: ToolRow[]): string {
  const names = rows.map((r) => escapeLine(r.name));
  const width = Math.max(...names.map((name) => name.length), 4);
  const lines = rows.map((r, i) => {
    const changed = r.changed === null ? '' : r.changed ? '  CHANGED since accepted' : '';
    return `  ${names[i]!.padEnd(width)}  ${`${r.class}/${r.level}`.padEnd(18)} ${r.decision} (${escapeLine(r.rule)})${changed}\n  ${' '.repeat(width)}  ${escapeLine(r.evidence.join('; '))}`;
  });
  return `${server}: ${rows.length} tool${rows.length === 1 ? '' : 's'}, ${source}\n${lines.join('\n')}`;
}
