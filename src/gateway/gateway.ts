import type { Server as HttpServer } from 'node:http';
import express, { type Express, type Request } from 'express';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Approvals } from '../approvals/index.js';
import { AuditReader, type AuditTrail } from '../audit/index.js';
import { builtInChannels, consoleApiRoutes, type ChannelRegistry } from '../channels/index.js';
import { durationMs, listenSource, type LoadedConfig } from '../config/index.js';
import { AirlockError, ErrorCode } from '../errors.js';
import {
  adminApi,
  auditApiRoutes,
  bearerToken,
  createAdminAuthenticator,
  toolsApiRoutes,
  createAuthenticator,
  createHttpApp,
  hostCheck,
  hostGuard,
  isLoopbackHost,
  mcpRoutes,
  metricsRoutes,
  oauthRefusalRoutes,
  type LocalAdmin,
  type ReadinessCheck,
} from '../http/index.js';
import type { SessionDeps } from '../proxy/index.js';
import { pingRedis } from '../redis/index.js';
import { openServing, type Serving } from './serving.js';

export interface GatewayOptions {
  config: LoadedConfig;
  logger: Logger;
  /** A connected request-path client (see `connectRedis`). */
  redis: Redis;
  /** Without `admins`, the one admin `/api` and `/metrics` accept (see resolveLocalAdmin). */
  localAdmin?: LocalAdmin;
  /** The kinds of approval channel `approvals.channels` may name; default: the built-in ones. */
  channels?: ChannelRegistry;
}

/**
 * One running Airlock: the policies (watched), the upstream servers, the
 * open sessions and the HTTP listener, started and stopped together.
 */
export class Gateway {
  readonly #options: GatewayOptions;
  readonly #serving: Serving;
  #http: HttpServer | undefined;
  #metricsHttp: HttpServer | undefined;
  /** Writes the sampled Host/Origin and session-limit refusals still pending, once the listeners are closed. */
  #flushRefusals: (() => void) | undefined;
  #stopping = false;
  /** Aborted by a second signal: stop without waiting for calls in flight. */
  readonly #hurry = new AbortController();

  private constructor(options: GatewayOptions, serving: Serving) {
    this.#options = options;
    this.#serving = serving;
  }

  /**
   * Refuses an open (grant-less) gateway on anything but loopback: without
   * grants anyone who can reach the port could call tools. The host may come
   * from `--host` or AIRLOCK_HOST: the message names what set it.
   */
  static checkExposure(config: LoadedConfig): void {
    if ((config.grants ?? []).length === 0 && !isLoopbackHost(config.listen.host)) {
      const inFile = config.listen_overrides?.host === undefined ? '' : ` in ${config.file}`;
      throw new AirlockError(
        ErrorCode.ConfigInvalid,
        `${listenSource(config, 'host')}: ${config.listen.host} is not loopback and no grants are configured${inFile}, so anyone who reaches the port could call tools; add grants or listen on 127.0.0.1`,
      );
    }
  }

  static async start(options: GatewayOptions): Promise<Gateway> {
    const { config, logger } = options;
    Gateway.checkExposure(config);
    const serving = await openServing(
      config,
      options.redis,
      logger,
      Object.keys(config.servers),
      'gateway',
      options.channels ?? builtInChannels(),
    );
    const gateway = new Gateway(options, serving);
    try {
      await serving.start();
      await gateway.#listen();
    } catch (err) {
      await gateway.#closeHttp(gateway.#http, true);
      gateway.#flushRefusals?.();
      await serving.close();
      throw err;
    }
    return gateway;
  }

  /** The base URL the gateway listens on, e.g. `http://127.0.0.1:8080`. */
  get url(): string {
    if (!this.#http) throw new Error('the gateway is not listening');
    const address = addressOf(this.#http);
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  /** The separate metrics listener's base URL, when `metrics.listen` is set. */
  get metricsUrl(): string | undefined {
    if (!this.#metricsHttp) return undefined;
    return `http://${this.#options.config.metrics.listen?.host ?? '127.0.0.1'}:${addressOf(this.#metricsHttp).port}`;
  }

  get deps(): SessionDeps {
    return this.#serving.deps;
  }

  get approvals(): Approvals {
    return this.#serving.approvals;
  }

  get audit(): AuditTrail {
    return this.#serving.audit;
  }

  /**
   * A graceful stop: `/readyz` answers 503 and new sessions and calls are
   * refused at once; calls held for approval are withdrawn (their agents are
   * told to call again); calls already sent upstream get up to
   * `listen.shutdown_timeout` to finish (or until `hurry()`); then sessions,
   * the listener, upstreams, approvals and the audit trail close.
   */
  async stop(): Promise<void> {
    const { config } = this.#options;
    this.#stopping = true;
    await this.#serving.drain(durationMs(config.listen.shutdown_timeout), this.#hurry.signal);
    await Promise.all([this.#closeHttp(this.#http, true), this.#closeHttp(this.#metricsHttp, false)]);
    this.#flushRefusals?.();
    await this.#serving.close();
  }

  /** Cuts the drain of a stop short (a second SIGTERM or SIGINT). */
  hurry(): void {
    this.#hurry.abort();
  }

  async #closeHttp(http: HttpServer | undefined, sessions: boolean): Promise<void> {
    if (!http) return;
    const closed = new Promise<void>((resolve) => http.close(() => resolve()));
    if (sessions) await this.#serving.sessions.closeAll();
    http.closeAllConnections();
    await closed;
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
        check: async () => ({
          ok: u.status === 'connected',
          detail: u.status === 'connected' ? `${u.tools.length} tools` : `${u.status}${u.lastError ? `: ${u.lastError}` : ''}`,
        }),
      })),
    ];
    const authenticateAdmin = createAdminAuthenticator(config, this.#options.localAdmin);
    const adminOf = (req: Request) => authenticateAdmin(bearerToken(req));
    const metrics = this.#serving.metrics;
    const guard = hostGuard({ audit: this.audit, logger, now: Date.now, onRefused: (kind) => metrics.requestRefused(kind) });
    const mcp = await mcpRoutes({
      deps: this.deps,
      servers: Object.keys(config.servers),
      authenticate: createAuthenticator(config),
      sessions: this.#serving.sessions,
      bodyLimit: config.listen.body_limit,
      idleTimeoutMs: durationMs(config.listen.session_idle_timeout),
      sessionLimits: { perGrant: config.listen.max_sessions_per_grant, total: config.listen.max_sessions },
      configFile: config.file,
      redis,
      redisPrefix: config.redis.prefix,
      redisTimeoutMs: durationMs(config.redis.timeout),
      logger,
    });
    this.#flushRefusals = () => {
      guard.flush();
      mcp.close();
    };
    const names = { publicUrl: config.public_url, allowedHosts: config.listen.allowed_hosts };
    const app = createHttpApp({
      hostGuard: guard.protect(hostCheck({ listenHost: config.listen.host, ...names })),
      routers: [
        ...this.#serving.routers,
        metricsRoutes({ metrics, authenticate: adminOf, logger }),
        adminApi({
          authenticate: adminOf,
          routers: [
            consoleApiRoutes({ approvals: this.approvals, audit: this.audit, logger }),
            auditApiRoutes(new AuditReader(redis, config.redis.prefix, Math.max(2_000, durationMs(config.redis.timeout)))),
            toolsApiRoutes({
              servers: Object.keys(config.servers),
              toolsOf: (name) => this.deps.upstream(name).tools,
              policyOf: (name) => this.deps.policyFor(name),
              pins: this.#serving.pins,
            }),
          ],
          logger,
        }),
        mcp.router,
        oauthRefusalRoutes(logger),
      ],
      readiness,
      isStopping: () => this.#stopping,
      authenticateAdmin: adminOf,
      bodyLimit: config.listen.body_limit,
      logger,
    });
    this.#http = await listen(app, config.listen, listenSource(config));
    const separate = config.metrics.listen;
    if (separate) {
      const metricsApp = express()
        .disable('x-powered-by')
        .use(guard.protect(hostCheck({ listenHost: separate.host, ...names })))
        .use(metricsRoutes({ metrics, logger }));
      this.#metricsHttp = await listen(metricsApp, separate, `${config.file}: metrics.listen`);
      logger.info({ url: `${this.metricsUrl ?? ''}/metrics` }, 'metrics listening');
    }
    // Last, once every listener is up: what starts Airlock (a script, a test) may use them all when it reads this line.
    logger.info({ url: this.url, servers: Object.keys(config.servers), grants: (config.grants ?? []).length }, 'airlock listening');
  }
}

function addressOf(http: HttpServer): AddressInfo {
  const address = http.address() as AddressInfo | null;
  if (!address) throw new Error('the gateway is not listening');
  return address;
}

/** `source` says what set the address, for the error: `<file>: listen`, or the flag or variable that overrode it. */
function listen(app: Express, where: { host: string; port: number }, source: string): Promise<HttpServer> {
  return new Promise<HttpServer>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => reject(listenError(source, where, err));
    const http = app.listen(where.port, where.host, (err?: Error) => (err ? failed(err) : resolve(http)));
    http.on('error', failed);
  });
}

/** A port taken or a host that is not ours is the config's problem, told in one line. */
function listenError(source: string, { host, port }: { host: string; port: number }, err: NodeJS.ErrnoException): Error {
  const where = `${host}:${port}`;
  if (err.code === 'EADDRINUSE')
    return new AirlockError(
      ErrorCode.ConfigInvalid,
      `${source}: ${where} is already in use (another airlock, or another program); stop it or choose another port`,
    );
  if (err.code === 'EADDRNOTAVAIL' || err.code === 'EACCES' || err.code === 'ENOTFOUND')
    return new AirlockError(ErrorCode.ConfigInvalid, `${source}: cannot listen on ${where} (${err.code})`);
  return err;
}
