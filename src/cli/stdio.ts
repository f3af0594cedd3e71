import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { durationMs, findConfigFile, loadConfig } from '../config/index.js';
import { builtInChannels } from '../channels/index.js';
import { AirlockError, ErrorCode } from '../errors.js';
import { openRedis, openServing } from '../gateway/index.js';
import { publishLocalAdmin, resolveLocalAdmin } from '../local-admin/index.js';
import { createLogger, logSettings } from '../logging.js';
import { createSessionServer } from '../proxy/index.js';
import { grantNamed, serverNamed } from './lookup.js';
import { displayPath, type Io } from './output.js';

/**
 * `airlock stdio SERVER`: one configured server served to a stdio MCP client
 * (Claude Desktop, for one), under the same policy as over HTTP. Logs go to
 * stderr, since stdout carries the protocol. Resolves when the client hangs up.
 */
export async function stdio(io: Io, name: string, options: { config?: string; grant?: string }): Promise<void> {
  const channels = builtInChannels();
  const config = loadConfig(findConfigFile(io.cwd, options.config), io.env, { channels: channels.names });
  serverNamed(config, name);
  const grant = options.grant === undefined ? undefined : grantNamed(config, options.grant).grant;
  if (grant?.servers && !grant.servers.includes(name))
    throw new AirlockError(ErrorCode.Forbidden, `grant ${grant.name} may not use server ${name}`);
  // Before anything is opened, so the refusal ends the process at once.
  channels.checkProcess(config, { http: false });

  const logger = createLogger({ ...logSettings(config.log, io.env), fd: 2 });
  // It holds calls too, decided on the command line: without `admins` that takes the local admin's token.
  const localAdmin = resolveLocalAdmin({ config, env: io.env, logger, display: (file) => displayPath(io, file), http: false });
  const { redis, close } = await openRedis(config, io.env, logger);
  const unpublish = localAdmin
    ? await publishLocalAdmin(redis, config, localAdmin, logger).catch(async (err: unknown) => {
        await close();
        throw err;
      })
    : () => {};
  const serving = await openServing(config, redis, logger, [name], 'stdio', channels);
  await serving.start();

  const scope = { servers: [name], aggregated: false };
  const identity = {
    grant: grant?.name,
    sessionId: 'stdio',
    subscriptions: new Set<string>(),
    calls: new Map<string | number, AbortController>(),
  };
  const session = createSessionServer(serving.deps, scope, identity);
  serving.sessions.add({ server: session, scope, grant: grant?.name, subscriptions: identity.subscriptions, close: () => session.close() });
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => (transport.onclose = resolve));
  await session.connect(transport);
  process.stdin.once('end', () => void session.close());
  // As `airlock start` does: held calls are withdrawn with a reason and the call in flight may finish, then the session ends.
  const stop = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'stopping airlock stdio');
    void serving.drain(durationMs(config.listen.shutdown_timeout)).then(() => session.close());
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await closed;
  process.off('SIGTERM', stop);
  process.off('SIGINT', stop);
  await serving.close();
  unpublish();
  await close();
  logger.flush();
}
