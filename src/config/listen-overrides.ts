import { AirlockError, ErrorCode } from '../errors.js';
import type { ListenOverride, LoadedConfig } from './load-config.js';

/** `airlock start --host H --port N`, parsed (see `parseListenHost`, `parseListenPort`). */
export interface ListenFlags {
  host?: string | undefined;
  port?: number | undefined;
}

export type ParsedListen<T> = { ok: true; value: T } | { ok: false; message: string };

/**
 * A port as typed on the command line or in the environment: digits only, so
 * `8080.5`, `0x1f90`, `1e3` and ` 8080` are refused rather than read as some
 * other port.
 */
export function parseListenPort(text: string): ParsedListen<number> {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (port <= 65535) return { ok: true, value: port };
  return { ok: false, message: 'expected a port number from 0 to 65535 (0: any free port)' };
}

/** A host name or IP address to listen on, as `listen()` takes it (IPv6 without brackets). */
export function parseListenHost(text: string): ParsedListen<string> {
  if (/^[A-Za-z0-9._-]+$/.test(text) || (/^[0-9A-Fa-f:.]+$/.test(text) && text.includes(':'))) return { ok: true, value: text };
  return { ok: false, message: 'expected a host name or IP address to listen on (127.0.0.1, 0.0.0.0, ::1)' };
}

/**
 * The config with `listen.host` and `listen.port` taken from the flags, else
 * from AIRLOCK_HOST and AIRLOCK_PORT, else as the file says. An empty
 * variable counts as unset, as `${VAR:-default}` reads it; a variable a flag
 * overrides is not read at all. `airlock start` and `airlock doctor` apply
 * them; other commands do not listen.
 */
export function withListenOverrides(config: LoadedConfig, env: NodeJS.ProcessEnv, flags: ListenFlags = {}): LoadedConfig {
  const host = flags.host !== undefined ? { value: flags.host, by: '--host' as const } : fromEnv(env, 'AIRLOCK_HOST', parseListenHost);
  const port = flags.port !== undefined ? { value: flags.port, by: '--port' as const } : fromEnv(env, 'AIRLOCK_PORT', parseListenPort);
  if (!host && !port) return config;
  return {
    ...config,
    listen: { ...config.listen, ...(host && { host: host.value }), ...(port && { port: port.value }) },
    listen_overrides: { ...(host && { host: host.by }), ...(port && { port: port.by }) },
  };
}

function fromEnv<T, N extends ListenOverride>(
  env: NodeJS.ProcessEnv,
  name: N,
  parse: (text: string) => ParsedListen<T>,
): { value: T; by: N } | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  const parsed = parse(text);
  if (!parsed.ok) throw new AirlockError(ErrorCode.ConfigInvalid, `${name} is ${JSON.stringify(text)}: ${parsed.message}`);
  return { value: parsed.value, by: name };
}

/**
 * Where the listener's address was set, for messages about it: the flags or
 * variables that overrode the file (`--port`, `AIRLOCK_HOST and --port`), else
 * `<file>: listen` (`<file>: listen.host` for `part: 'host'`).
 */
export function listenSource(config: LoadedConfig, part?: 'host' | 'port'): string {
  const overrides = config.listen_overrides ?? {};
  if (part !== undefined) return overrides[part] ?? `${config.file}: listen.${part}`;
  const named = [overrides.host, overrides.port].filter((by) => by !== undefined);
  return named.length > 0 ? named.join(' and ') : `${config.file}: listen`;
}
