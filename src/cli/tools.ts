import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { durationMs, findConfigFile, loadConfig, suggest, type LoadedConfig } from '../config/index.js';
import { AirlockError, ErrorCode } from '../errors.js';
import { starterPolicy, ToolPins, toolRows, type Pin, type ToolRow } from '../inventory/index.js';
import { loadPolicyFile } from '../policy/index.js';
import { adminFromEnv, openCliRedis } from './console-access.js';
import { liveTools } from './live-tools.js';
import { grantNamed, serverNamed } from './lookup.js';
import { displayPath, ExitCode, type Io } from './output.js';

export interface ToolsOptions {
  config?: string;
  json?: boolean;
  grant?: string;
}

const silentLogger = pino({ level: 'silent' });

/**
 * `airlock tools [SERVER]`: every upstream tool with its risk class, today's
 * decision and whether it changed since it was accepted. Servers are started
 * (or connected to) to read their live lists; the accepted definitions come
 * from the gateway's Redis, and are reported as not read when it is away.
 */
export async function tools(io: Io, server: string | undefined, options: ToolsOptions): Promise<number> {
  const config = loadConfig(findConfigFile(io.cwd, options.config), io.env);
  if (server !== undefined) serverNamed(config, server);
  const names = server === undefined ? Object.keys(config.servers) : [server];
  if (options.grant !== undefined) grantNamed(config, options.grant);
  const pinsOf = await pinReader(config, io.env);
  try {
    const servers = await Promise.all(
      names.map(async (name) => {
        try {
          const live = await liveTools(config, name);
          return { server: name, tools: toolRows(name, live, loadPolicyFile(config.servers[name]!.policy), await pinsOf.read(name), options.grant) };
        } catch (err) {
          return { server: name, error: (err as Error).message };
        }
      }),
    );
    if (options.json) io.out(JSON.stringify({ servers, ...(pinsOf.error && { pins_error: pinsOf.error }) }, null, 2));
    else io.out(servers.map((s) => ('error' in s ? `${s.server}: ${s.error}` : describeServer(s.server, s.tools))).join('\n\n') + (pinsOf.error ? `\n\nchanged since accepted: not read (${pinsOf.error})` : ''));
    return servers.some((s) => 'error' in s) ? ExitCode.Failed : ExitCode.Ok;
  } finally {
    pinsOf.close();
  }
}

/** `airlock tools accept SERVER [TOOL...]`: the live definitions become the accepted ones (all the server's tools when none are named). */
export async function acceptTools(io: Io, server: string, names: string[], options: { config?: string }): Promise<number> {
  const config = loadConfig(findConfigFile(io.cwd, options.config), io.env);
  serverNamed(config, server);
  const admin = adminFromEnv(config, io.env);
  const live = await liveTools(config, server);
  const unknown = names.filter((n) => !live.some((t) => t.name === n));
  if (unknown.length > 0) {
    const known = live.map((t) => t.name);
    throw new AirlockError(ErrorCode.BadArguments, `server ${server} has no tool ${unknown.map((n) => `"${n}"${suggest(n, known)}`).join(', ')}`);
  }
  const chosen = names.length === 0 ? live : live.filter((t) => names.includes(t.name));
  const redis = await openCliRedis(config, io.env);
  try {
    await pinsFor(config, redis).accept(server, chosen, admin);
  } finally {
    redis.disconnect();
  }
  io.out(`accepted the current definitions of ${chosen.length} tool${chosen.length === 1 ? '' : 's'} of ${server} as ${admin}: ${chosen.map((t) => t.name).join(', ')}`);
  return ExitCode.Ok;
}

/** `airlock policy init SERVER [-o FILE]`: a starter policy from the live tool list and risk classes. */
export async function policyInit(io: Io, server: string, options: { config?: string; output?: string }): Promise<number> {
  const config = loadConfig(findConfigFile(io.cwd, options.config), io.env);
  serverNamed(config, server);
  const text = starterPolicy(server, await liveTools(config, server));
  if (options.output === undefined) {
    io.out(text.trimEnd());
    return ExitCode.Ok;
  }
  const file = resolve(io.cwd, options.output);
  if (existsSync(file)) throw new AirlockError(ErrorCode.BadArguments, `${displayPath(io, file)} exists: remove it or choose another -o FILE (policy init never overwrites a policy)`);
  writeFileSync(file, text, { flag: 'wx' });
  io.out(`wrote ${displayPath(io, file)}; review it, then point servers.${server}.policy at it`);
  return ExitCode.Ok;
}

function pinsFor(config: LoadedConfig, redis: Redis): ToolPins {
  return new ToolPins(redis, { prefix: config.redis.prefix, timeoutMs: Math.max(2_000, durationMs(config.redis.timeout)), logger: silentLogger });
}

async function pinReader(config: LoadedConfig, env: NodeJS.ProcessEnv): Promise<{ read(server: string): Promise<Map<string, Pin> | undefined>; error?: string; close(): void }> {
  let redis: Redis;
  try {
    redis = await openCliRedis(config, env);
  } catch (err) {
    return { read: async () => undefined, error: (err as Error).message, close: () => undefined };
  }
  const pins = pinsFor(config, redis);
  const reader = {
    error: undefined as string | undefined,
    read: async (server: string) => pins.pins(server).catch((err: unknown) => ((reader.error = (err as Error).message), undefined)),
    close: () => redis.disconnect(),
  };
  return reader;
}

function describeServer(server: string, rows: ToolRow[]): string {
  const width = Math.max(...rows.map((r) => r.name.length), 4);
  const lines = rows.map((r) => {
    const changed = r.changed === null ? '' : r.changed ? '  CHANGED since accepted' : '';
    return `  ${r.name.padEnd(width)}  ${`${r.class}/${r.level}`.padEnd(18)} ${r.decision} (${r.rule})${changed}\n  ${' '.repeat(width)}  ${r.evidence.join('; ')}`;
  });
  return `${server}: ${rows.length} tool${rows.length === 1 ? '' : 's'}\n${lines.join('\n')}`;
}
