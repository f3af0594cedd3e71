import { InvalidArgumentError } from 'commander';
import { builtInChannels } from '../channels/index.js';
import {
  findConfigFile,
  loadConfig,
  parseListenHost,
  parseListenPort,
  withListenOverrides,
  type ListenFlags,
  type ParsedListen,
} from '../config/index.js';
import { Gateway, openRedis } from '../gateway/index.js';
import { publishLocalAdmin, resolveLocalAdmin } from '../local-admin/index.js';
import { createLogger, logSettings } from '../logging.js';
import { displayPath, type Io } from './output.js';

/**
 * `airlock start`: the gateway, until SIGTERM or SIGINT. Resolves once it is
 * listening; the returned promise of `stopped` settles after a clean stop.
 */
export async function start(io: Io, options: { config?: string } & ListenFlags): Promise<{ stopped: Promise<void> }> {
  const channels = builtInChannels();
  const { config: file, ...flags } = options;
  const config = withListenOverrides(loadConfig(findConfigFile(io.cwd, file), io.env, { channels: channels.names }), io.env, flags);
  Gateway.checkExposure(config);
  const logger = createLogger(logSettings(config.log, io.env));
  logger.info({ config: displayPath(io, config.file) }, 'starting airlock');
  // Before Redis: a token file that cannot be used stops the start before anything runs.
  const localAdmin = resolveLocalAdmin({ config, env: io.env, logger, display: (file) => displayPath(io, file), http: true });

  const { redis, close } = await openRedis(config, io.env, logger);
  // One handler, on from before the start to the end: "airlock listening" is logged before start returns, so a signal may come
  // while it finishes (it is kept for after), and a signal listener never removed and added again cannot drop one on its way.
  let gateway: Gateway | undefined;
  let early: NodeJS.Signals | undefined;
  let stopping = false;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  // The first signal stops gracefully (see Gateway.stop); a second one cuts the wait for calls in flight short.
  const stop = (signal: NodeJS.Signals) => {
    if (!gateway) return void (early ??= signal);
    if (stopping) {
      logger.warn({ signal }, 'second signal: not waiting for calls in flight');
      gateway.hurry();
      return;
    }
    stopping = true;
    logger.info({ signal }, 'stopping airlock');
    const running = gateway;
    void (async () => {
      await running.stop();
      unpublish();
      await close();
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      logger.info('airlock stopped');
      logger.flush();
      resolveStopped();
    })();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  let unpublish = () => {};
  try {
    if (localAdmin) unpublish = await publishLocalAdmin(redis, config, localAdmin, logger);
    gateway = await Gateway.start({
      config,
      logger,
      redis,
      channels,
      ...(localAdmin && { localAdmin: { name: localAdmin.name, sha256: [localAdmin.sha256] } }),
    });
  } catch (err) {
    // Nothing may keep the process alive after a failed start: it must exit with the reason.
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    unpublish();
    await close();
    throw err;
  }
  if (early) stop(early);
  return { stopped };
}

/** Commander's parsers of `--host` and `--port`: a bad value is a usage error naming the flag (exit 2). */
export const hostFlag = (text: string): string => flagValue(parseListenHost(text));
export const portFlag = (text: string): number => flagValue(parseListenPort(text));

function flagValue<T>(parsed: ParsedListen<T>): T {
  if (!parsed.ok) throw new InvalidArgumentError(parsed.message);
  return parsed.value;
}
