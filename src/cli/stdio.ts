import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { durationMs, findConfigFile, loadConfig } from '../config/index.js';
import { AirlockError, ErrorCode } from '../errors.js';
import { openApprovals, openRedis } from '../gateway/index.js';
import { ToolPins } from '../inventory/index.js';
import { RateLimiter } from '../limits/index.js';
import { createLogger } from '../logging.js';
import { PolicyWatcher } from '../policy/index.js';
import { createSessionServer, SessionRegistry, Upstream } from '../proxy/index.js';
import { grantNamed, serverNamed } from './lookup.js';
import type { Io } from './output.js';

/**
 * `airlock stdio SERVER`: one configured server served to a stdio MCP client
 * (Claude Desktop, for one), under the same policy as over HTTP. Logs go to
 * stderr, since stdout carries the protocol. Resolves when the client hangs up.
 */
export async function stdio(io: Io, name: string, options: { config?: string; grant?: string }): Promise<void> {
  const config = loadConfig(findConfigFile(io.cwd, options.config), io.env);
  const server = serverNamed(config, name);
  const grant = options.grant === undefined ? undefined : grantNamed(config, options.grant).grant;
  if (grant?.servers && !grant.servers.includes(name)) throw new AirlockError(ErrorCode.Forbidden, `grant ${grant.name} may not use server ${name}`);

  const logger = createLogger({ level: config.log.level, fd: 2 });
  const { redis, close } = await openRedis(config, io.env, logger);
  const watcher = PolicyWatcher.open({ file: server.policy, logger });
  const sessions = new SessionRegistry();
  const pins = new ToolPins(redis, { prefix: config.redis.prefix, timeoutMs: durationMs(config.redis.timeout), logger });
  const upstream = new Upstream({ name, server, logger, onNotification: (n) => sessions.broadcast(name, n), onTools: async (tools) => void (await pins.sync(name, tools)) });
  await upstream.start();

  const scope = { servers: [name], aggregated: false };
  const limiter = new RateLimiter(redis, { prefix: config.redis.prefix, timeoutMs: durationMs(config.redis.timeout) });
  const { deps: approval, approvals } = await openApprovals(config, redis, logger);
  const identity = { grant: grant?.name, sessionId: 'stdio', subscriptions: new Set<string>(), calls: new Map<string | number, AbortController>() };
  const session = createSessionServer({ policyFor: () => watcher.current, upstream: () => upstream, limiter, pins, approval, logger }, scope, identity);
  sessions.add({ server: session, scope, grant: grant?.name, subscriptions: identity.subscriptions, close: () => session.close() });
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => (transport.onclose = resolve));
  await session.connect(transport);
  process.stdin.once('end', () => void session.close());
  await closed;
  watcher.close();
  await approvals.close();
  await upstream.close();
  await close();
  logger.flush();
}
