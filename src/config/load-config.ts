import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AirlockError, DocumentError, ErrorCode, type Problem } from '../errors.js';
import { crossCheck, policyFileProblems } from './cross-checks.js';
import { readSourceFile } from './document.js';
import { durationMs } from './duration.js';
import { interpolate } from './interpolate.js';
import { ConfigSchema, sizeBytes, type AirlockConfig, type HttpServer, type ServerConfig, type StdioServer } from './schema.js';
import { problemsFromIssues } from './zod-problems.js';

export type LoadedStdioServer = StdioServer & { cwd: string };
export type LoadedServer = LoadedStdioServer | HttpServer;

/** The config with every path that Airlock opens made absolute and every default filled in. */
export type LoadedConfig = Omit<AirlockConfig, '$schema' | 'servers' | 'approvals' | 'audit' | 'tasks'> & {
  /** Absolute path of the config file. */
  file: string;
  /** Its folder, against which relative paths were resolved. */
  dir: string;
  servers: Record<string, LoadedServer>;
  /** `channels`: the channels listed, or the one `channel`, or the default: slack with a slack section, else console. */
  approvals: Omit<AirlockConfig['approvals'], 'channel' | 'channels'> & {
    channels: string[];
    timeout_ms: number;
    heartbeat_ms: number;
    retention_ms: number;
    max_arguments_bytes: number;
    pending_window_ms: number;
  };
  audit: AirlockConfig['audit'] & { retention_ms: number; max_arguments_bytes: number; checkpoint: { interval_ms: number } };
  tasks: { enabled: boolean; retention_ms: number; poll_interval_ms: number; max_result_bytes: number };
  /** Set by `withListenOverrides`: which flag or variable replaced the file's `listen.host` or `listen.port`. */
  listen_overrides?: { host?: ListenOverride; port?: ListenOverride };
};

/** What set the listener's host or port instead of the config file's `listen` (see `withListenOverrides`). */
export type ListenOverride = '--host' | '--port' | 'AIRLOCK_HOST' | 'AIRLOCK_PORT';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const CONFIG_FILE_NAMES = ['airlock.yaml', 'airlock.yml', 'airlock.json'] as const;

const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface LoadOptions {
  /** The channel kinds this process can open (see ChannelRegistry): any other name in `approvals.channel(s)` is a problem. Absent: names are not checked. */
  channels?: readonly string[];
  /**
   * Given, a server's policy file that is missing (or is not a file) is handed here, once the rest of the config has
   * loaded, instead of failing the load: `airlock policy init` reads no policy, and is how a new server gets its first.
   * Absent, as for the gateway and every other command, it is a problem like any other.
   */
  policyFileProblem?: (problem: Problem) => void;
}

/**
 * Reads, interpolates and validates a config file. Problems are reported
 * with the file name as given, all at once, in document order.
 */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env, options: LoadOptions = {}): LoadedConfig {
  const source = readSourceFile(file, ErrorCode.ConfigInvalid);
  const dir = dirname(resolve(file));
  const expanded = interpolate(source, env);
  const parsed = ConfigSchema.safeParse(expanded.value, { reportInput: true });
  // A string whose variable is unset stays as written; what the schema or the
  // cross checks say about it would only repeat that one problem.
  const unexpanded = new Set(expanded.problems.map((problem) => problem.path));
  const policyFiles = policyFileProblems(source, expanded.value, dir);
  const later = [
    ...(parsed.success ? [] : problemsFromIssues(source, ConfigSchema, parsed.error.issues)),
    ...crossCheck(source, expanded.value, options.channels),
    ...(options.policyFileProblem ? [] : policyFiles),
  ].filter((problem) => !unexpanded.has(problem.path));
  const problems = [...expanded.problems, ...later];
  if (!parsed.success || problems.length > 0) throw new DocumentError(ErrorCode.ConfigInvalid, inDocumentOrder(problems));
  policyFiles.forEach((problem) => options.policyFileProblem?.(problem));
  return resolvePaths(parsed.data, resolve(file), dir);
}

function resolvePaths(config: AirlockConfig, file: string, dir: string): LoadedConfig {
  const {
    $schema: _schema,
    servers,
    approvals: { channel, channels, ...approvals },
    audit,
    tasks,
    ...rest
  } = config;
  return {
    ...rest,
    file,
    dir,
    servers: Object.fromEntries(Object.entries(servers).map(([name, server]) => [name, resolveServer(server, dir)])),
    approvals: {
      ...approvals,
      channels: channels ?? [channel ?? (config.slack ? 'slack' : 'console')],
      timeout_ms: durationMs(approvals.timeout),
      heartbeat_ms: durationMs(approvals.heartbeat),
      retention_ms: durationMs(approvals.retention),
      max_arguments_bytes: sizeBytes(approvals.max_arguments),
      pending_window_ms: durationMs(approvals.pending.window),
    },
    audit: {
      ...audit,
      ...(audit.file !== undefined && { file: resolve(dir, audit.file) }),
      retention_ms: durationMs(audit.retention),
      max_arguments_bytes: sizeBytes(audit.max_arguments),
      checkpoint: { ...audit.checkpoint, interval_ms: durationMs(audit.checkpoint.interval) },
    },
    tasks: {
      enabled: tasks.enabled,
      retention_ms: durationMs(tasks.retention),
      poll_interval_ms: durationMs(tasks.poll_interval),
      max_result_bytes: sizeBytes(tasks.max_result),
    },
  };
}

function resolveServer(server: ServerConfig, dir: string): LoadedServer {
  const policy = resolve(dir, server.policy);
  if (server.transport === 'http') return { ...server, policy };
  return { ...server, policy, cwd: resolve(dir, server.cwd ?? '.') };
}

function inDocumentOrder(problems: Problem[]): Problem[] {
  return [...problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

/**
 * The config file to use: `-c FILE` when given, else `airlock.yaml` (or
 * `.yml`, `.json`) in `cwd`, else the example shipped with the package.
 * Returns an absolute path that may not exist; `loadConfig` says so.
 */
export function findConfigFile(cwd: string, explicit?: string): string {
  if (explicit !== undefined) return resolve(cwd, explicit);
  for (const name of CONFIG_FILE_NAMES) {
    const candidate = join(cwd, name);
    if (existsSync(candidate)) return candidate;
  }
  return join(PACKAGE_ROOT, 'examples', 'airlock.yaml');
}

/** Airlock's private state folder beside the config file: the private Redis's data, the local admin's token. */
export function stateDir(config: { dir: string }): string {
  return join(config.dir, '.airlock');
}

/**
 * `redis.url` wins over `REDIS_URL`; with neither, the local default. A
 * REDIS_URL that is no URL is refused here, without repeating it (it may
 * hold a password), rather than failing later with the value in a stack.
 */
export function redisUrl(config: { redis: { url?: string } }, env: NodeJS.ProcessEnv = process.env): string {
  if (config.redis.url !== undefined) return config.redis.url;
  const fromEnv = env.REDIS_URL;
  if (!fromEnv) return DEFAULT_REDIS_URL;
  if (!URL.canParse(fromEnv))
    throw new AirlockError(
      ErrorCode.ConfigInvalid,
      'REDIS_URL is not a URL (not repeated here: it may hold a password); expected redis://[user:password@]host:port/db or rediss://…',
    );
  return fromEnv;
}
