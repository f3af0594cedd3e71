import { createHash } from 'node:crypto';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { durationMs, LOCAL_ADMIN_NAME, stateDir, tokenSha256, type LoadedConfig } from '../config/index.js';
import { AirlockError, ErrorCode } from '../errors.js';
import { publishTokenDigest } from './published.js';
import { folderServing, servedFolders } from './served-folders.js';
import { ensureTokenFile, NOT_OWNER_ONLY } from './token-file.js';

/** The local admin of a gateway without `admins`, and where its token came from. */
export interface LocalAdminToken {
  name: typeof LOCAL_ADMIN_NAME;
  token: string;
  /** SHA-256 of the token, hex: all that leaves the process. */
  sha256: string;
  /** `<host>:<token file>` or `<host>:AIRLOCK_ADMIN_TOKEN`: its field in Redis (see publishTokenDigest). */
  source: string;
}

export interface LocalAdminOptions {
  config: LoadedConfig;
  /** The gateway's environment: AIRLOCK_ADMIN_TOKEN, when set, is the token; HOME is what `~` means to its servers. */
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** How a path is shown to the person reading the log. */
  display(path: string): string;
  /** The process serves `/api` (`airlock start`), not only the command line (`airlock stdio`). */
  http: boolean;
}

/** Where a gateway without `admins` keeps its local admin's token when AIRLOCK_ADMIN_TOKEN is not set. */
export function tokenFilePath(config: { dir: string }): string {
  return join(stateDir(config), 'admin-token');
}

/**
 * The local admin a gateway has when no `admins` are configured (undefined
 * when some are): its token is AIRLOCK_ADMIN_TOKEN, else the one in
 * `.airlock/admin-token` beside the config, made on the first start. The
 * file must lie outside every folder a server serves, or an agent could
 * read it through that server and approve its own calls. Logs where the
 * token is and how to use it, never the token.
 */
export function resolveLocalAdmin(options: LocalAdminOptions): LocalAdminToken | undefined {
  const { config, env, logger, display } = options;
  if ((config.admins ?? []).length > 0) return undefined;
  const configArg = `-c ${shellWord(display(config.file))}`;
  const fromEnv = env.AIRLOCK_ADMIN_TOKEN;
  if (fromEnv !== undefined && fromEnv !== '') {
    const admin = localAdmin(config, fromEnv, 'AIRLOCK_ADMIN_TOKEN');
    const api = options.http ? ', or send "Authorization: Bearer $AIRLOCK_ADMIN_TOKEN" to /api' : '';
    logger.info(
      { token_from: 'AIRLOCK_ADMIN_TOKEN' },
      `no admin is configured: the local admin's token is AIRLOCK_ADMIN_TOKEN, from this process's environment; decide held calls with it set: airlock approvals list ${configArg}${api}`,
    );
    return admin;
  }

  const file = tokenFilePath(config);
  const served = folderServing(
    file,
    servedFolders(config.servers, (server) => (server.transport === 'stdio' ? server.env.HOME : undefined) ?? env.HOME ?? homedir()),
  );
  if (served) {
    throw new AirlockError(
      ErrorCode.ConfigInvalid,
      `${config.file}: servers.${served.server}.args: "${served.argument}" serves ${served.folder}, which holds the local admin's token file ${file}, so an agent could read the token through ${served.server} and approve its own calls; configure \`admins\`, set AIRLOCK_ADMIN_TOKEN, or serve another folder`,
    );
  }
  const own = ensureTokenFile(file, { uid: process.getuid?.() });
  const shown = shellWord(display(file));
  if ((own.mode & NOT_OWNER_ONLY) !== 0) {
    logger.warn(
      { token_file: file, mode: octal(own.mode) },
      `the local admin's token file ${display(file)} has mode ${octal(own.mode)}, so other users may read or replace it: run chmod 600 ${shown}`,
    );
  }
  const admin = localAdmin(config, own.token, file);
  const api = options.http ? `, or send "Authorization: Bearer $(cat ${shown})" to /api` : '';
  logger.info(
    { token_file: file, created: own.created },
    `no admin is configured: the local admin's token is in ${display(file)} (mode ${octal(own.mode)}); decide held calls with: airlock approvals list ${configArg} --token-file ${shown}${api}`,
  );
  return admin;
}

/** Publishes the local admin token's digest under the config's prefix, for the commands that check tokens on Redis (see publishTokenDigest). */
export function publishLocalAdmin(redis: Redis, config: LoadedConfig, admin: LocalAdminToken, logger: Logger): Promise<() => void> {
  return publishTokenDigest(redis, {
    prefix: config.redis.prefix,
    source: admin.source,
    sha256: admin.sha256,
    timeoutMs: Math.max(2_000, durationMs(config.redis.timeout)),
    logger,
  });
}

function localAdmin(config: LoadedConfig, token: string, from: string): LocalAdminToken {
  const sha256 = createHash('sha256').update(token).digest('hex');
  const grant = (config.grants ?? []).findIndex((g) => tokenSha256(g) === sha256);
  if (grant !== -1) {
    const where = from === 'AIRLOCK_ADMIN_TOKEN' ? from : `the token in ${from}`;
    throw new AirlockError(
      ErrorCode.ConfigInvalid,
      `${config.file}: grants[${grant}]: same token as the local admin's (${where}): an agent holding it could approve its own calls; give each its own`,
    );
  }
  return { name: LOCAL_ADMIN_NAME, token, sha256, source: `${hostname()}:${from}` };
}

function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

/** `path` as one shell word, so the hint can be pasted whatever the path holds. */
function shellWord(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}
