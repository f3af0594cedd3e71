import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Approvals } from '../approvals/index.js';
import { AuditReader, type AuditTrail } from '../audit/index.js';
import { consoleApiRoutes } from '../channels/index.js';
import { durationMs, type LoadedConfig } from '../config/index.js';
import { AirlockError, ErrorCode } from '../errors.js';
import { adminApi, auditApiRoutes, bearerToken, createAdminAuthenticator, toolsApiRoutes, createAuthenticator, createHttpApp, mcpRoutes, type ReadinessCheck } from '../http/index.js';
import type { PipelineDeps } from '../proxy/index.js';
import { pingRedis } from '../redis/index.js';
import { openServing, type Serving } from './serving.js';

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
  readonly #serving: Serving;
  #http: HttpServer | undefined;
  #stopping = false;

  private constructor(options: GatewayOptions, serving: Serving) {
    this.#options = options;
    this.#serving = serving;
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
    const serving = await openServing(config, options.redis, logger, Object.keys(config.servers), 'gateway');
    const gateway = new Gateway(options, serving);
    try {
      await serving.start();
      await gateway.#listen();
    } catch (err) {
      await serving.close();
      throw err;
    }
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
    return this.#serving.deps;
  }

  get approvals(): Approvals {
    return this.#serving.approvals;
  }

  get audit(): AuditTrail {
    return this.#serving.audit;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    const http = this.#http;
    if (http) {
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      await this.#serving.sessions.closeAll();
      http.closeAllConnections();
      await closed;
    }
    await this.#serving.close();
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
      ...[...this.#serving.upstreams.values()].map((u) => ({
        name: `upstream:${u.name}`,
        check: async () => ({ ok: u.status === 'connected', detail: u.status === 'connected' ? `${u.tools.length} tools` : `${u.status}${u.lastError ? `: ${u.lastError}` : ''}` }),
      })),
    ];
    const authenticateAdmin = createAdminAuthenticator(config);
    const app = createHttpApp({
      routers: [
        ...this.#serving.routers,
        adminApi({
          authenticate: (req) => authenticateAdmin(bearerToken(req)),
          routers: [
            consoleApiRoutes({ approvals: this.approvals, audit: this.audit, logger }),
            auditApiRoutes(new AuditReader(redis, config.redis.prefix, Math.max(2_000, durationMs(config.redis.timeout)))),
            toolsApiRoutes({ servers: Object.keys(config.servers), toolsOf: (name) => this.deps.upstream(name).tools, policyOf: (name) => this.deps.policyFor(name), pins: this.#serving.pins }),
          ],
          logger,
        }),
        mcpRoutes({
          deps: this.deps,
          servers: Object.keys(config.servers),
          authenticate: createAuthenticator(config),
          sessions: this.#serving.sessions,
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
      const failed = (err: NodeJS.ErrnoException) => reject(listenError(config, err));
      const http = app.listen(config.listen.port, config.listen.host, (err?: Error) => (err ? failed(err) : resolve()));
      http.on('error', failed);
      this.#http = http;
    });
    logger.info({ url: this.url, servers: Object.keys(config.servers), grants: (config.grants ?? []).length }, 'airlock listening');
  }
}

/** A port taken or a host that is not ours is the config's problem, told in one line. */
function listenError(config: LoadedConfig, err: NodeJS.ErrnoException): Error {
  const where = `${config.listen.host}:${config.listen.port}`;
  if (err.code === 'EADDRINUSE') return new AirlockError(ErrorCode.ConfigInvalid, `${config.file}: listen: ${where} is already in use (another airlock, or another program); stop it or choose another port`);
  if (err.code === 'EADDRNOTAVAIL' || err.code === 'EACCES') return new AirlockError(ErrorCode.ConfigInvalid, `${config.file}: listen: cannot listen on ${where} (${err.code})`);
  return err;
}
