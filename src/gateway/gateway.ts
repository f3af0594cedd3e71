import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Approvals } from '../approvals/index.js';
import { consoleApiRoutes } from '../channels/index.js';
import { durationMs, type LoadedConfig } from '../config/index.js';
import { AirlockError, ErrorCode } from '../errors.js';
import { adminApi, bearerToken, createAdminAuthenticator, toolsApiRoutes, createAuthenticator, createHttpApp, mcpRoutes, type ReadinessCheck } from '../http/index.js';
import { ToolPins } from '../inventory/index.js';
import { RateLimiter } from '../limits/index.js';
import { PolicyWatcher } from '../policy/index.js';
import { SessionRegistry, Upstream, type ApprovalDeps, type PipelineDeps } from '../proxy/index.js';
import { pingRedis } from '../redis/index.js';
import { openApprovals } from './open-approvals.js';

export interface GatewayOptions {
  config: LoadedConfig;
  logger: Logger;
  /** A connected request-path client (see `connectRedis`). */
  redis: Redis;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * One running Airlock: the policies (watched), the upstream servers, the
 * open sessions and the HTTP listener, started and stopped together.
 */
export class Gateway {
  readonly #options: GatewayOptions;
  readonly #watchers: Map<string, PolicyWatcher>;
  readonly #upstreams: Map<string, Upstream>;
  readonly #sessions: SessionRegistry;
  readonly #limiter: RateLimiter;
  readonly #approval: ApprovalDeps;
  readonly #pins: ToolPins;
  #http: HttpServer | undefined;
  #stopping = false;

  private constructor(options: GatewayOptions, watchers: Map<string, PolicyWatcher>, upstreams: Map<string, Upstream>, sessions: SessionRegistry, approval: ApprovalDeps, pins: ToolPins) {
    this.#options = options;
    this.#pins = pins;
    this.#approval = approval;
    this.#sessions = sessions;
    this.#limiter = new RateLimiter(options.redis, { prefix: options.config.redis.prefix, timeoutMs: durationMs(options.config.redis.timeout) });
    this.#watchers = watchers;
    this.#upstreams = upstreams;
  }

  /** Refuses an open (grant-less) gateway on anything but loopback: without grants anyone who can reach the port could call tools. */
  static checkExposure(config: LoadedConfig): void {
    if ((config.grants ?? []).length === 0 && !LOOPBACK.has(config.listen.host)) {
      throw new AirlockError(
        ErrorCode.ConfigInvalid,
        `${config.file}: listen.host: ${config.listen.host} is not loopback and no grants are configured, so anyone who reaches the port could call tools; add grants or listen on 127.0.0.1`,
      );
    }
  }

  static async start(options: GatewayOptions): Promise<Gateway> {
    const { config, logger } = options;
    Gateway.checkExposure(config);
    const watchers = new Map(Object.entries(config.servers).map(([name, server]) => [name, PolicyWatcher.open({ file: server.policy, logger: logger.child({ server: name }) })]));
    const sessions = new SessionRegistry();
    const pins = new ToolPins(options.redis, { prefix: config.redis.prefix, timeoutMs: durationMs(config.redis.timeout), logger });
    const upstreams = new Map(
      Object.entries(config.servers).map(([name, server]) => [
        name,
        new Upstream({ name, server, logger, onNotification: (n) => sessions.broadcast(name, n), onTools: async (tools) => void (await pins.sync(name, tools)) }),
      ]),
    );
    const { deps: approval } = await openApprovals(config, options.redis, logger);
    const gateway = new Gateway(options, watchers, upstreams, sessions, approval, pins);
    await Promise.all([...upstreams.values()].map((u) => u.start()));
    await gateway.#listen();
    return gateway;
  }

  /** The base URL the gateway listens on, e.g. `http://127.0.0.1:8080`. */
  get url(): string {
    const address = this.#http?.address() as AddressInfo | null;
    if (!address) throw new Error('the gateway is not listening');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  get deps(): PipelineDeps {
    return {
      policyFor: (server) => this.#watcher(server).current,
      upstream: (server) => {
        const upstream = this.#upstreams.get(server);
        if (!upstream) throw new AirlockError(ErrorCode.UnknownServer, `unknown server "${server}"`);
        return upstream;
      },
      limiter: this.#limiter,
      pins: this.#pins,
      approval: this.#approval,
      logger: this.#options.logger,
    };
  }

  get approvals(): Approvals {
    return this.#approval.approvals;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    const http = this.#http;
    if (http) {
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      await this.#sessions.closeAll();
      http.closeAllConnections();
      await closed;
    }
    for (const watcher of this.#watchers.values()) watcher.close();
    await this.#approval.approvals.close();
    await Promise.all([...this.#upstreams.values()].map((u) => u.close()));
  }

  #watcher(server: string): PolicyWatcher {
    const watcher = this.#watchers.get(server);
    if (!watcher) throw new AirlockError(ErrorCode.UnknownServer, `unknown server "${server}"`);
    return watcher;
  }

  async #listen(): Promise<void> {
    const { config, logger, redis } = this.#options;
    const readiness: ReadinessCheck[] = [
      {
        name: 'redis',
        check: async () => {
          const ping = await pingRedis(redis);
          return ping.ok ? { ok: true, detail: `PING ${ping.ms} ms` } : { ok: false, detail: ping.error };
        },
      },
      ...[...this.#upstreams.values()].map((u) => ({
        name: `upstream:${u.name}`,
        check: async () => ({ ok: u.status === 'connected', detail: u.status === 'connected' ? `${u.tools.length} tools` : `${u.status}${u.lastError ? `: ${u.lastError}` : ''}` }),
      })),
    ];
    const authenticateAdmin = createAdminAuthenticator(config);
    const app = createHttpApp({
      routers: [
        adminApi({
          authenticate: (req) => authenticateAdmin(bearerToken(req)),
          routers: [
            consoleApiRoutes({ approvals: this.approvals, logger }),
            toolsApiRoutes({ servers: Object.keys(config.servers), toolsOf: (name) => this.deps.upstream(name).tools, policyOf: (name) => this.#watcher(name).current, pins: this.#pins }),
          ],
          logger,
        }),
        mcpRoutes({
          deps: this.deps,
          servers: Object.keys(config.servers),
          authenticate: createAuthenticator(config),
          sessions: this.#sessions,
          bodyLimit: config.listen.body_limit,
          idleTimeoutMs: durationMs(config.listen.session_idle_timeout),
          logger,
        }),
      ],
      readiness,
      isStopping: () => this.#stopping,
      bodyLimit: config.listen.body_limit,
      logger,
    });
    await new Promise<void>((resolve, reject) => {
      const http = app.listen(config.listen.port, config.listen.host, (err?: Error) => (err ? reject(err) : resolve()));
      http.on('error', reject);
      this.#http = http;
    });
    logger.info({ url: this.url, servers: Object.keys(config.servers), grants: (config.grants ?? []).length }, 'airlock listening');
  }
}
