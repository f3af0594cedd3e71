import { randomUUID } from 'node:crypto';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
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
  // One connection, so `scope: session` limits count per process: each run of `airlock stdio` is a session of its own.
  const identity = {
    grant: grant?.name,
    sessionId: `stdio-${randomUUID()}`,
    subscriptions: new Set<string>(),
  };
  // The SDK picks the generation from the client's first message; for a 2026 client that probes with
  // server/discover and then falls back to initialize, it makes one server per try and closes the unused one.
  const handle = serveStdio(
    () => {
      const server = createSessionServer(serving.deps, scope, identity);
      const session = { server, scope, grant: grant?.name, subscriptions: identity.subscriptions, close: () => server.close() };
      serving.sessions.add(session);
      server.onclose = () => {
        serving.sessions.delete(session);
      };
      server.onerror = (err) => logger.debug({ err: err.message }, 'stdio protocol error');
      return server;
    },
    { onerror: (err) => logger.debug({ err: err.message }, 'stdio protocol error') },
  );
  let stopped = () => {};
  const ended = new Promise<void>((resolve) => {
    stopped = resolve;
    process.stdin.once('end', resolve);
    process.stdin.once('close', resolve);
  });
  const closeAll = () => handle.close().catch(() => undefined);
  // As `airlock start` does: held calls are withdrawn with a reason and the call in flight may finish, then the session ends.
  const stop = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'stopping airlock stdio');
    void serving
      .drain(durationMs(config.listen.shutdown_timeout))
      .then(closeAll)
      .then(() => stopped());
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await ended;
  await closeAll();
  process.off('SIGTERM', stop);
  process.off('SIGINT', stop);
  await serving.close();
  unpublish();
  await close();
  logger.flush();
}
