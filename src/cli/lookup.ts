import { suggest, type GrantConfig, type LoadedConfig, type LoadedServer } from '../config/index.js';
import { AirlockError, ErrorCode } from '../errors.js';

/** The configured server a command names, or an error suggesting the closest name. */
export function serverNamed(config: LoadedConfig, name: string): LoadedServer {
  const server = config.servers[name];
  if (server) return server;
  const names = Object.keys(config.servers);
  throw new AirlockError(
    ErrorCode.UnknownServer,
    `unknown server "${name}"${suggest(name, names)} (configured: ${names.join(', ') || 'none'})`,
  );
}

/** The configured grant a command names, with its index in `grants`, or an error suggesting the closest name. */
export function grantNamed(config: LoadedConfig, name: string): { grant: GrantConfig; index: number } {
  const grants = config.grants ?? [];
  const index = grants.findIndex((g) => g.name === name);
  const grant = grants[index];
  if (grant) return { grant, index };
  const names = grants.map((g) => g.name);
  throw new AirlockError(
    ErrorCode.UnknownGrant,
    `unknown grant "${name}"${suggest(name, names)} (configured: ${names.join(', ') || 'none'})`,
  );
}
