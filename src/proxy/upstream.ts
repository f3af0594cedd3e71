import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import {
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  PROTOCOL_VERSION_META_KEY,
  Client,
  SdkHttpError,
  SSEClientTransport,
  StreamableHTTPClientTransport,
  isInputRequiredResult,
  withInputRequired,
  type CallToolResult,
  type ClientCapabilities,
  type InputRequiredResult,
  type Notification,
  type PriorDiscovery,
  type RequestOptions,
  type ServerCapabilities,
  type Tool,
  type Transport,
  type VersionNegotiationMode,
} from '@modelcontextprotocol/client';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { CallToolResultSchema, EmptyResultSchema, ListToolsResultSchema } from '@modelcontextprotocol/core';
import type { Logger } from 'pino';
import type { AuditRecorder } from '../audit/index.js';
import type { z, ZodType } from 'zod';
import type { LoadedServer, UpstreamProtocol } from '../config/index.js';
import { networkFailure, ProtocolError, UpstreamUnavailableError, upstreamFailure } from './errors.js';
import { forwardedResult } from './forwarded-result.js';
import { readPages, type PageFetch } from './list-pages.js';
import { paramHeadersFor, scanParamHeaders, type ParamHeaderDeclaration } from './param-headers.js';
import { toolListRefresh } from './tool-list-refresh.js';
import { connectionDigest, MemoryEraStore, type EraStore } from './upstream-era.js';
import { asLegacyNotification, ListenStream, ResourceSubscriptions } from './upstream-listen.js';
import { INTERNAL_ERROR, METHOD_NOT_FOUND, RELAY_ALL, relayedCapabilities, type Asker, type RelayDeps } from './questions.js';
import { answerQuestions, AskersInFlight, SessionLink, type QuestionOwner } from './session-link.js';
import { RawChannel } from './raw-channel.js';
import { withRequestSignals } from './request-signal.js';
import { resumeNoSooner, StreamResumptions } from './stream-resumptions.js';
import { VERSION } from '../version.js';
import { errorMessage } from '../errors.js';

export type UpstreamStatus = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface UpstreamOptions {
  name: string;
  server: LoadedServer;
  logger: Logger;
  /** Every notification the server sends that is not a reply to a request (list changes, log messages, resource updates). */
  onNotification: (notification: Notification) => void;
  /** Called with the tool list when it is read after connecting, and when a read after the server said it changed finds it changed. */
  onTools?: (tools: readonly Tool[]) => Promise<void>;
  /** Called after (re)connecting, so sessions can refresh what they show. */
  onConnected?: () => void;
  /** Called when a connection attempt fails or an open connection drops (for metrics). */
  onFault?: (kind: 'connect_failed' | 'disconnected') => void;
  /** Called each time one of the server's lists is cut at a cap (for metrics). */
  onListCut?: (method: string, cap: 'pages' | 'items') => void;
  /** Where the questions it relays to agents are audited (see relayQuestion); without it they are refused unaudited. */
  audit?: AuditRecorder;
  /** First and maximum delay between reconnection attempts. */
  backoff?: { initialMs: number; maxMs: number };
  /**
   * Where the generation each server speaks is remembered (see EraStore):
   * Redis to share it with other instances and the CLI; without one, this
   * Upstream remembers it for its own reconnects.
   */
  eras?: EraStore;
}

const CLIENT_INFO = { name: 'airlock', version: VERSION };
/** The one revision a stateless server speaks. */
const MODERN_PROTOCOL = '2026-07-28';

/** On `tools/list_changed` a server's tool list is read at most this often (see toolListRefresh). */
const TOOL_LIST_READ_GAP_MS = 1_000;

/**
 * How long a server may take to answer `server/discover`. On stdio a server
 * that stays silent is taken for a 2025 one, so this is what such a server
 * costs at its first connect (the SDK's default is the 60 s request timeout).
 */
const PROBE_TIMEOUT_MS = 10_000;

const RESOURCE_SUBSCRIPTION_METHODS = new Set(['resources/subscribe', 'resources/unsubscribe']);

const MODE: Record<UpstreamProtocol, VersionNegotiationMode> = {
  auto: 'auto',
  '2025-11-25': 'legacy',
  '2026-07-28': { pin: '2026-07-28' },
};

/**
 * One MCP server behind Airlock, shared by every downstream session: a real
 * SDK client over stdio or Streamable HTTP (SSE for old servers), speaking
 * 2025-11-25 or 2026-07-28 as the server does (asked once, then
 * remembered), reconnected with backoff when the server dies, with its tool
 * list cached and refreshed when the server says it changed. Callers see
 * one generation: results without the 2026 server's cache hints, its list
 * changes as 2025 notifications, resource subscriptions by request.
 */
export class Upstream {
  readonly name: string;
  #status: UpstreamStatus = 'disconnected';
  #client: Client | undefined;
  #tools: Tool[] = [];
  #toolsByName = new Map<string, Tool>();
  #lastError: string | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #connecting: Promise<void> | undefined;
  /** Lists cut at a cap since they were last read whole: each is warned about once, not on every read. */
  readonly #cutWarned = new Set<string>();
  readonly #options: UpstreamOptions;
  readonly #eras: EraStore;
  readonly #digest: string;
  /** Tools dropped for invalid `x-mcp-header` declarations, each logged once. */
  readonly #invalidWarned = new Set<string>();
  /** Per tool of a 2026 HTTP server: the arguments its calls mirror in `Mcp-Param-*` headers. */
  #paramHeaders = new Map<string, ParamHeaderDeclaration[]>();
  readonly #resources = new ResourceSubscriptions();
  #listen: ListenStream | undefined;
  readonly #resumptions = new StreamResumptions();
  /** Calls in flight on the shared connection whose agents can be asked (see AskersInFlight). */
  readonly #askers = new AskersInFlight();
  /** The sessions' own connections (see SessionLink), by the session's asker. */
  readonly #links = new Map<Asker, Promise<SessionLink | undefined>>();
  /** Sessions (and calls) whose connections were released: a call of theirs still on its way opens no new one. */
  readonly #released = new WeakSet<Asker>();
  /** Set when the server answered on the SSE transport of before Streamable HTTP, which gets no session links. */
  #sse = false;
  /** Each connection's channel for requests whose results the SDK would not hand back (see RawChannel). */
  readonly #raw = new WeakMap<Client, RawChannel>();
  /** Set when a 2026 server turned down a 2025 session of a session's own (until the next connect: it may be another server then). */
  #no2025Sessions = false;
  readonly #relay: RelayDeps;

  constructor(options: UpstreamOptions) {
    this.name = options.name;
    this.#options = options;
    this.#eras = options.eras ?? new MemoryEraStore();
    this.#digest = connectionDigest(options.server);
    this.#relay = {
      server: options.name,
      relay: options.server.relay ?? RELAY_ALL,
      audit: options.audit ?? { record: () => undefined, commit: async () => undefined },
      logger: options.logger,
    };
  }

  get status(): UpstreamStatus {
    return this.#status;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  get capabilities(): ServerCapabilities | undefined {
    return this.#client?.getServerCapabilities();
  }

  get instructions(): string | undefined {
    return this.#client?.getInstructions();
  }

  /** The protocol revision agreed with the server (`2025-11-25`, `2026-07-28`, or an older 2025-era one), while connected. */
  get protocol(): string | undefined {
    return this.#client?.getNegotiatedProtocolVersion();
  }

  /** Whether the server speaks a 2026-era revision: stateless, so a log level travels in each request's `_meta`. */
  /** How long a call may run without progress (`call_timeout`), and whether the operator marked the server slow (its calls become tasks). */
  get calls(): { timeoutMs: number; slow: boolean } {
    return { timeoutMs: this.#options.server.call_timeout_ms, slow: this.#options.server.slow === true };
  }

  get stateless(): boolean {
    return this.#client?.getProtocolEra() === 'modern';
  }

  /**
   * Whether the server may close a call's SSE stream before its result (SSE
   * polling) for a 2025 session whose agent declared `capabilities`, which
   * Airlock mirrors to the agent: a Streamable HTTP server speaking a 2025
   * revision, or one not connected yet that is not pinned to 2026; a 2026
   * one only where the session gets a 2025 session of its own there (see
   * #linkFor). A stdio server never does.
   */
  mayCloseStreams(capabilities: ClientCapabilities | undefined): boolean {
    const { server } = this.#options;
    if (server.transport !== 'http') return false;
    if (!this.#client) return server.protocol !== '2026-07-28';
    if (!this.stateless) return true;
    return this.#takes2025Sessions() && Object.keys(relayedCapabilities(this.#relay.relay, capabilities)).length > 0;
  }

  /**
   * Whether a 2025 session may get a 2025 session of its own on this 2026
   * server, as its agent would connecting directly: over HTTP, unless the
   * entry is pinned to 2026 (the operator chose that Airlock speak only 2026
   * to it; its questions then reach 2025 agents as input_required rounds
   * Airlock answers) or the server turned one down.
   */
  #takes2025Sessions(): boolean {
    const { server } = this.#options;
    return server.transport === 'http' && server.protocol !== '2026-07-28' && !this.#no2025Sessions;
  }

  get tools(): readonly Tool[] {
    return this.#tools;
  }

  tool(name: string): Tool | undefined {
    return this.#toolsByName.get(name);
  }

  /** Connects once; on failure keeps retrying in the background and resolves anyway: a dead upstream must not stop the gateway. */
  start(): Promise<void> {
    this.#connecting ??= this.#connect().finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  async close(): Promise<void> {
    this.#status = 'closed';
    clearTimeout(this.#retryTimer);
    const links = [...this.#links.values()];
    this.#links.clear();
    await Promise.all(links.map(async (link) => (await link.catch(() => undefined))?.close()));
    const client = this.#client;
    this.#client = undefined;
    await this.#listen?.close().catch(() => undefined);
    this.#listen = undefined;
    await client?.close().catch(() => undefined);
  }

  /**
   * Sends a request as is and returns the server's result, without what
   * belongs to the hop (see forwardedResult); throws UpstreamUnavailableError
   * when the server cannot be reached. `resources/subscribe` and
   * `resources/unsubscribe` work whatever the server's generation. With
   * `allowInputRequired`, a 2026 server's `input_required` result (its
   * questions for the agent) comes back as the server sent it, for the
   * caller to answer (see input-rounds.ts); without, it is an error.
   */
  request<S extends ZodType>(
    request: { method: string; params?: Record<string, unknown> },
    schema: S,
    options: RequestOptions & { allowInputRequired: true },
  ): Promise<z.output<S> | InputRequiredResult>;
  request<S extends ZodType>(
    request: { method: string; params?: Record<string, unknown> },
    schema: S,
    options?: RequestOptions,
  ): Promise<z.output<S>>;
  async request<S extends ZodType>(
    request: { method: string; params?: Record<string, unknown> },
    schema: S,
    options?: RequestOptions & { asker?: Asker },
  ): Promise<z.output<S> | InputRequiredResult> {
    // A subscriber that leaves while the server is away is counted out, or it would be resubscribed for no one.
    if (request.method === 'resources/unsubscribe' && this.#status !== 'connected') {
      this.#resources.remove(String(request.params?.uri ?? ''));
      return {} as never;
    }
    const client = this.#connectedClient();
    // Counted in, with its agent when it can be asked, so a question the server asks meanwhile is not taken for another's (see #sharedOwner).
    const { asker, ...sent } = options ?? {};
    const leave = this.#askers.enter(asker);
    try {
      if (RESOURCE_SUBSCRIPTION_METHODS.has(request.method)) return (await this.#subscription(client, request, sent)) as never;
      const result = await client.request(request, sent.allowInputRequired ? withInputRequired(schema) : schema, sent);
      return isInputRequiredResult(result) ? result : forwardedResult(result as z.output<S>);
    } catch (err) {
      // A 2026 server keeps no connection whose end would say it went away, and a 2025 one's stream may only be retried: a request that cannot reach it does.
      if (networkFailure(err) || sessionGone(err)) this.#unreachable(client);
      throw upstreamFailure(this.name, err);
    } finally {
      leave();
    }
  }

  /**
   * A request to a 2026 server whose result comes back exactly as the
   * server sent it, a task (`resultType: "task"`) included, which the SDK
   * would refuse (see RawChannel). Its envelope declares `capabilities`:
   * what the agent it is sent for can take. Errors as for `request`.
   */
  async rawRequest(
    method: string,
    params: Record<string, unknown>,
    options: { signal?: AbortSignal; capabilities: ClientCapabilities; timeoutMs?: number },
  ): Promise<Record<string, unknown>> {
    const client = this.#connectedClient();
    const raw = this.#raw.get(client);
    if (!raw || !this.stateless) throw new Error(`server ${this.name} does not speak 2026-07-28: no raw requests`);
    const meta = {
      ...(params._meta as Record<string, unknown> | undefined),
      [PROTOCOL_VERSION_META_KEY]: MODERN_PROTOCOL,
      [CLIENT_INFO_META_KEY]: CLIENT_INFO,
      [CLIENT_CAPABILITIES_META_KEY]: options.capabilities,
    };
    try {
      return await raw.request(
        method,
        { ...params, _meta: meta },
        { signal: options.signal, timeoutMs: options.timeoutMs ?? this.#options.server.call_timeout_ms },
      );
    } catch (err) {
      if (networkFailure(err)) this.#unreachable(client);
      throw upstreamFailure(this.name, err);
    }
  }

  /**
   * `onStreamClosed` runs once if the server closes the call's SSE stream
   * before its result (see StreamResumptions). With an `asker`, what the
   * server asks during the call reaches that agent: over the session's own
   * connection where one is made (see #linkFor), else over the shared one
   * while this is its only such call.
   */
  callTool(
    params: Record<string, unknown>,
    options: CallOptions & { allowInputRequired: true },
  ): Promise<CallToolResult | InputRequiredResult>;
  callTool(params: Record<string, unknown>, options: CallOptions): Promise<CallToolResult>;
  async callTool(params: Record<string, unknown>, options: CallOptions): Promise<CallToolResult | InputRequiredResult> {
    const { onStreamClosed, asker, ...rest } = options;
    const mirrored = this.#paramHeaders.get(String(params.name));
    // Only a Streamable HTTP server's streams can close early and be resumed: a stdio call follows nothing.
    const followed = this.#options.server.transport === 'http' ? this.#resumptions.follow(onStreamClosed) : undefined;
    const sent = {
      timeout: this.#options.server.call_timeout_ms,
      resetTimeoutOnProgress: true,
      ...rest,
      ...(followed && { onresumptiontoken: followed.onresumptiontoken }),
      ...(mirrored && { headers: { ...rest.headers, ...paramHeadersFor(mirrored, params.arguments) } }),
    };
    try {
      // A server that forgot the session (it restarted) answers 404 without running the call: once, it goes over a new one.
      for (let attempt = 0; ; attempt++) {
        const link = asker?.session && (await this.#linkFor(asker.session, rest.signal));
        const leave = link && link.calls.enter(asker);
        try {
          if (!link)
            return await this.request({ method: 'tools/call', params }, CallToolResultSchema, { ...sent, ...(asker && { asker }) });
          return forwardedResult(await link.client.request({ method: 'tools/call', params: as2025(params) }, CallToolResultSchema, sent));
        } catch (err) {
          if (!link) throw err;
          const gone = sessionGone(err);
          if (gone || !link.open || networkFailure(err)) this.#drop(asker.session!);
          if (gone && attempt === 0) continue;
          throw upstreamFailure(this.name, err);
        } finally {
          leave?.();
        }
      }
    } finally {
      followed?.end();
    }
  }

  /** Tells the session's own connection, if it has one, that its agent's roots changed: the server may ask again. */
  rootsChanged(session: Asker): void {
    void this.#links
      .get(session)
      ?.then((link) => (link?.open ? link.client.sendRootsListChanged() : undefined))
      .catch(() => undefined);
  }

  /** Closes the connections made for one session (see SessionLink): its agent has gone. */
  release(session: Asker): void {
    this.#released.add(session);
    this.#drop(session);
  }

  /** Closes a session's own connection; its next call opens a new one. */
  #drop(session: Asker): void {
    const link = this.#links.get(session);
    if (!link) return;
    this.#links.delete(session);
    void link.then((l) => l?.close()).catch(() => undefined);
  }

  /**
   * The session's own connection to this server, made on its first call: for
   * a 2025 server over Streamable HTTP, or over stdio with `process:
   * per_session`, when the session's agent declared something it can be
   * asked that `relay` lets through. None otherwise (the shared connection
   * serves), and none while the server is not connected. One that fails to
   * open is not retried for that call: the shared connection serves it.
   */
  async #linkFor(session: Asker, signal: AbortSignal | undefined): Promise<SessionLink | undefined> {
    const known = this.#links.get(session);
    const open = known && (await known);
    if (open?.open) return open;
    // A session that has gone (or a call withdrawn meanwhile) opens nothing that no one would close.
    if (this.#released.has(session) || signal?.aborted) return undefined;
    if (known) this.#links.delete(session);
    const { server } = this.#options;
    const client = this.#client;
    if (this.#status !== 'connected' || !client) return undefined;
    // A 2025 session's agent is asked as a 2025 server asks, so its own connection speaks 2025: to a 2026 server only if it speaks both.
    const modern = client.getProtocolEra() === 'modern';
    // A stdio server's process per 2025 session; a 2026 client's call (its own key: see parkedRound) uses the shared one, which ties a question to it.
    const eligible = modern
      ? this.#takes2025Sessions()
      : server.transport === 'http'
        ? !this.#sse
        : server.process === 'per_session' && session.session !== session;
    const capabilities = relayedCapabilities(this.#relay.relay, session.capabilities());
    if (!eligible || Object.keys(capabilities).length === 0) return undefined;
    const opening = SessionLink.open({
      transport: server.transport === 'http' ? this.#httpTransport(server.url, server.headers) : this.#stdioTransport(),
      capabilities,
      session,
      relay: this.#relay,
      clientInfo: CLIENT_INFO,
      timeoutMs: server.call_timeout_ms,
    }).catch((err: unknown) => {
      this.#links.delete(session);
      // A 2026 server says in server/discover only which 2026 revisions it speaks: whether it takes 2025 sessions too is found by asking.
      if (modern && !networkFailure(err)) {
        this.#no2025Sessions = true;
        this.#options.logger.info(
          { upstream: this.name, err: errorMessage(err) },
          'the upstream takes no 2025 sessions: 2025 agents are asked its questions through the shared 2026 connection',
        );
        return undefined;
      }
      this.#options.logger.warn(
        { upstream: this.name, err: errorMessage(err) },
        "could not open a session's own connection to the upstream; its calls use the shared one, and what the server asks is not passed on",
      );
      return undefined;
    });
    this.#links.set(session, opening);
    return opening;
  }

  /**
   * Every item of one of the server's paginated lists (`resources/list`,
   * `prompts/list`, …), up to its caps (`max_list_pages`, `max_list_items`):
   * past them what was read is returned, and the cut is logged and counted.
   * Stops when `signal` aborts.
   */
  list<S extends ZodType<{ nextCursor?: string }>, T>(
    method: string,
    schema: S,
    itemsOf: (page: z.output<S>) => readonly T[],
    signal?: AbortSignal,
  ): Promise<T[]> {
    return this.#list(
      (cursor, pageSignal) => this.request({ method, params: cursor === undefined ? {} : { cursor } }, schema, { signal: pageSignal }),
      method,
      itemsOf,
      signal,
    );
  }

  notify(notification: Notification): Promise<void> {
    return this.#connectedClient().notification(notification);
  }

  /**
   * Counted per URI for the connection shared by every session: a 2025
   * server is told of each subscribe (as a session would tell it; asking
   * twice is harmless) but of an unsubscribe only when the last subscriber
   * left; a 2026 server has no such methods and is told through the listen
   * stream's filter, opened again when the set of URIs changes.
   */
  async #subscription(
    client: Client,
    request: { method: string; params?: Record<string, unknown> },
    options?: RequestOptions,
  ): Promise<object> {
    const uri = String(request.params?.uri ?? '');
    const subscribe = request.method === 'resources/subscribe';
    const changed = subscribe ? this.#resources.add(uri) : this.#resources.remove(uri);
    const modern = client.getProtocolEra() === 'modern';
    try {
      if (!modern) {
        if (subscribe || changed) await client.request(request, EmptyResultSchema, options);
      } else if (client.getServerCapabilities()?.resources?.subscribe !== true) {
        throw new ProtocolError(-32601, `Method not found: upstream ${this.name} offers no resource subscriptions`);
      } else if (changed) {
        await this.#listen?.update();
      }
    } catch (err) {
      // A subscribe is undone, so the count stays what the server was told; an unsubscriber has left all the same.
      if (subscribe) this.#resources.remove(uri);
      throw err;
    }
    return {};
  }

  #connectedClient(): Client {
    if (this.#status !== 'connected' || !this.#client) {
      throw new UpstreamUnavailableError(
        this.name,
        `upstream ${this.name} is not connected${this.#lastError ? ` (${this.#lastError})` : ''}`,
        { sent: false },
      );
    }
    return this.#client;
  }

  async #connect(): Promise<void> {
    if (this.#status === 'closed') return;
    this.#status = 'connecting';
    const { logger, server } = this.#options;
    const mode = MODE[server.protocol ?? 'auto'];
    const prior = mode === 'legacy' ? undefined : await this.#eras.read(this.name, this.#digest);
    try {
      const { client, refreshTools } =
        server.transport === 'stdio'
          ? await this.#connectStdio(mode, prior)
          : await this.#connectHttp(server.url, server.headers, mode, prior);
      // close() was called while this attempt ran: what it opened must not outlive it.
      if (this.#closedNow()) {
        await client.close().catch(() => undefined);
        return;
      }
      this.#client = client;
      await refreshTools();
      if (this.#closedNow()) return;
      if (client.getProtocolEra() === 'modern') await this.#openListen(client);
      else await this.#resubscribe(client);
      if (this.#closedNow()) return;
      if (mode !== 'legacy' && prior === undefined) await this.#eras.write(this.name, this.#digest, verdictOf(client));
      this.#status = 'connected';
      this.#lastError = undefined;
      this.#attempt = 0;
      this.#no2025Sessions = false;
      const info = client.getServerVersion();
      logger.info(
        {
          upstream: this.name,
          server_name: info?.name,
          server_version: info?.version,
          protocol: client.getNegotiatedProtocolVersion(),
          tools: this.#tools.length,
        },
        'upstream connected',
      );
      this.#options.onConnected?.();
    } catch (err) {
      // A remembered verdict that did not hold (the server was upgraded or replaced) is asked again next time.
      if (prior !== undefined) await this.#eras.forget(this.name, this.#digest);
      // Connected but failed after (tools/list, listen): that connection, and a stdio server's process, must not outlive the attempt.
      const failed = this.#client;
      this.#client = undefined;
      await this.#listen?.close().catch(() => undefined);
      this.#listen = undefined;
      if (failed) {
        failed.onclose = undefined;
        await failed.close().catch(() => undefined);
      }
      if (this.#closedNow()) return;
      this.#lastError = errorMessage(err);
      this.#status = 'disconnected';
      // Once per outage at warn; each further attempt only at debug, so a server that stays down does not flood the log.
      const level = this.#attempt === 0 ? 'warn' : 'debug';
      logger[level]({ upstream: this.name, err: this.#lastError, attempt: this.#attempt + 1 }, 'upstream connection failed; retrying');
      this.#options.onFault?.('connect_failed');
      this.#scheduleRetry();
    }
  }

  async #connectStdio(mode: VersionNegotiationMode, prior: PriorDiscovery | undefined): Promise<Connected> {
    return this.#connectClient(this.#stdioTransport(), mode, prior);
  }

  #stdioTransport(): StdioClientTransport {
    const server = this.#options.server;
    if (server.transport !== 'stdio') throw new Error('not a stdio server');
    const transport = new StdioClientTransport({
      command: server.command,
      args: server.args,
      env: { ...getDefaultEnvironment(), ...server.env },
      cwd: server.cwd,
      stderr: 'pipe',
    });
    this.#forwardStderr(transport.stderr as Readable | null);
    return transport;
  }

  #httpTransport(url: string, headers: Record<string, string>): StreamableHTTPClientTransport {
    return new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers },
      fetch: withRequestSignals(this.#resumptions.fetch()),
      reconnectionScheduler: resumeNoSooner,
    });
  }

  async #connectHttp(
    url: string,
    headers: Record<string, string>,
    mode: VersionNegotiationMode,
    prior: PriorDiscovery | undefined,
  ): Promise<Connected> {
    try {
      const connected = await this.#connectClient(this.#httpTransport(url, headers), mode, prior);
      this.#sse = false;
      return connected;
    } catch (streamableError) {
      // Servers from before Streamable HTTP (protocol 2024-11-05) speak SSE on the same URL, and only 2025-era
      // protocol, so a server pinned to 2026 has no fallback; a Client connects only once, so it needs a fresh one.
      if (typeof mode === 'object') throw streamableError;
      try {
        const connected = await this.#connectClient(
          new SSEClientTransport(new URL(url), {
            requestInit: { headers },
            eventSourceInit: { fetch: withHeaders(headers) },
            fetch: withRequestSignals(),
          }),
          'legacy',
          undefined,
        );
        this.#sse = true;
        return connected;
      } catch {
        throw streamableError;
      }
    }
  }

  async #connectClient(transport: Transport, mode: VersionNegotiationMode, prior: PriorDiscovery | undefined): Promise<Connected> {
    const { server } = this.#options;
    const declared = this.#sharedCapabilities();
    const client = new Client(CLIENT_INFO, {
      capabilities: declared,
      versionNegotiation: { mode, probe: { timeoutMs: PROBE_TIMEOUT_MS } },
      // Input a 2026 server asks for mid-call goes back to a caller that allows it (allowInputRequired), for the agent
      // whose call it is to answer: never a reply the SDK makes up.
      inputRequired: { autoFulfill: false },
    });
    answerQuestions(client, this.#relay, declared, () => this.#sharedOwner(), server.call_timeout_ms);
    const refreshTools = toolListRefresh({
      read: (current) => this.#refreshTools(client, current),
      live: () => this.#client === client,
      gapMs: TOOL_LIST_READ_GAP_MS,
    });
    // The sessions are shown the list read at connect (version 1) when they ask; later ones they are told about.
    let announced = 1;
    client.fallbackNotificationHandler = async (notification) => this.#options.onNotification(asLegacyNotification(notification));
    client.setNotificationHandler('notifications/tools/list_changed', async (notification) => {
      try {
        const read = await refreshTools();
        // The sessions hear of a change once per list that changed, however many announcements that read answered.
        if (read <= announced) return;
        announced = read;
      } catch (err) {
        this.#options.logger.warn({ upstream: this.name, err: errorMessage(err) }, 'tool list refresh failed');
      }
      this.#options.onNotification(asLegacyNotification(notification));
    });
    for (const method of [
      'notifications/prompts/list_changed',
      'notifications/resources/list_changed',
      'notifications/resources/updated',
    ] as const)
      client.setNotificationHandler(method, (notification) => this.#options.onNotification(asLegacyNotification(notification)));
    client.onclose = () => this.#closed(client);
    client.onerror = (err) => this.#options.logger.debug({ upstream: this.name, err: err.message }, 'upstream transport error');
    const raw = new RawChannel(transport);
    this.#raw.set(client, raw);
    try {
      await client.connect(raw.transport, prior && { prior });
    } catch (err) {
      // A failed connect leaves the transport open: an SSE EventSource reconnecting forever, a stdio child still running.
      client.onclose = undefined;
      await client.close().catch(() => undefined);
      throw err;
    }
    return { client, refreshTools };
  }

  /**
   * What the shared connection declares it can be asked: sampling and
   * elicitation (as `relay` lets through), so the server lists the tools that
   * ask, and a question is passed on while one call is in flight on it. Never
   * roots: one agent's folders would become every session's (a filesystem
   * server takes them as the folders it may touch).
   */
  #sharedCapabilities(): ClientCapabilities {
    return relayedCapabilities({ ...this.#relay.relay, roots: false }, { sampling: {}, elicitation: { form: {}, url: {} } });
  }

  /** The one call in flight on the shared connection is the one a question belongs to; with none or several, no one's. */
  #sharedOwner(): QuestionOwner {
    const asker = this.#askers.only();
    if (asker) return { asker };
    const { server } = this.#options;
    const calls = this.#askers.size;
    // No request in flight has an agent that can be asked (a list, a 2026 client that declared nothing): answered as such a client would.
    if (this.#askers.askable === 0)
      return {
        unowned: {
          code: METHOD_NOT_FOUND,
          message: `Method not found: no call in flight to server ${this.name} is of an agent that can be asked this`,
        },
      };
    const message =
      server.transport === 'stdio' && server.process !== 'per_session'
        ? `${calls} calls are in flight to server ${this.name}, whose one process every session shares, so Airlock cannot tell whom this is for; servers.${this.name}.process: per_session gives each session its own`
        : `${calls} calls are in flight on the connection to server ${this.name} that sessions without one of their own share, so Airlock cannot tell whom this is for`;
    return { unowned: { code: INTERNAL_ERROR, message } };
  }

  /** Read after an await: TypeScript would otherwise keep the status it narrowed before. */
  #closedNow(): boolean {
    return this.#status === 'closed';
  }

  /** After connecting to a 2026 server: its list changes and resource updates come only through a listen stream. */
  async #openListen(client: Client): Promise<void> {
    const { initialMs, maxMs } = this.#options.backoff ?? { initialMs: 250, maxMs: 10_000 };
    const listen = new ListenStream(client, () => this.#resources.uris, {
      upstream: this.name,
      logger: this.#options.logger,
      backoff: { initialMs, maxMs },
      onUnreachable: () => this.#unreachable(client),
    });
    await this.#listen?.close().catch(() => undefined);
    this.#listen = listen;
    await listen.update();
  }

  /** After reconnecting to a 2025 server: it forgot what the sessions had subscribed to. */
  async #resubscribe(client: Client): Promise<void> {
    await this.#listen?.close().catch(() => undefined);
    this.#listen = undefined;
    for (const uri of this.#resources.uris) {
      await client.request({ method: 'resources/subscribe', params: { uri } }, EmptyResultSchema).catch((err: unknown) => {
        this.#options.logger.warn({ upstream: this.name, uri, err: errorMessage(err) }, 'resubscribing to a resource failed');
      });
    }
  }

  #closed(client: Client): void {
    if (client !== this.#client || this.#status === 'closed') return;
    this.#client = undefined;
    // The server's sessions went with it, the sessions' own among them.
    for (const session of [...this.#links.keys()]) this.#drop(session);
    this.#status = 'disconnected';
    this.#lastError = 'the connection closed';
    // A server that went away may come back upgraded: its generation is asked again.
    void this.#eras.forget(this.name, this.#digest);
    void this.#listen?.close().catch(() => undefined);
    this.#listen = undefined;
    this.#options.logger.warn({ upstream: this.name }, 'upstream disconnected; reconnecting');
    this.#options.onFault?.('disconnected');
    this.#scheduleRetry();
  }

  /** An HTTP server a request could not reach: the connection is dropped (its transport closed) and made anew. */
  #unreachable(client: Client): void {
    if (client !== this.#client) return;
    this.#closed(client);
    void client.close().catch(() => undefined);
  }

  #scheduleRetry(): void {
    if (this.#status === 'closed') return;
    const { initialMs, maxMs } = this.#options.backoff ?? { initialMs: 250, maxMs: 10_000 };
    const delay = Math.min(maxMs, initialMs * 2 ** this.#attempt++);
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => void this.start(), delay).unref();
  }

  /**
   * Reads the tool list again, up to the caps: a truncated list is served (a
   * tool missing from it is uncallable, which is safe), rather than none.
   * There is no client to abandon this read, so the caps (and the gap
   * between reads) alone bound it. A list exactly as `current` (the JSON of
   * the one served) is left as it is. Returns the JSON of the list served.
   */
  async #refreshTools(client: Client, current: string | undefined): Promise<string> {
    const listed = await this.#list(
      (cursor) => client.request({ method: 'tools/list', params: cursor === undefined ? {} : { cursor } }, ListToolsResultSchema),
      'tools/list',
      (page) => page.tools,
    );
    const modern = client.getProtocolEra() === 'modern';
    const { tools, mirrored } = modern ? this.#withValidParamHeaders(listed) : { tools: listed, mirrored: new Map() };
    // A server announcing changes without changing anything would otherwise cost a pin check of every tool each time.
    const json = JSON.stringify(tools);
    if (json === current) return json;
    // Checked against the pins before the new list is served, so a changed tool is never called as unchanged.
    await this.#options.onTools?.(tools);
    this.#tools = tools;
    this.#toolsByName = new Map(tools.map((t) => [t.name, t]));
    // Headers exist on HTTP only: over stdio the declarations still decide which tools are valid.
    this.#paramHeaders = this.#options.server.transport === 'http' ? mirrored : new Map();
    return json;
  }

  /**
   * A 2026 client must drop tools whose `x-mcp-header` declarations break
   * the rules (a call could not carry them faithfully); the rest, with the
   * arguments each mirrors in headers.
   */
  #withValidParamHeaders(listed: Tool[]): { tools: Tool[]; mirrored: Map<string, ParamHeaderDeclaration[]> } {
    const tools: Tool[] = [];
    const mirrored = new Map<string, ParamHeaderDeclaration[]>();
    for (const tool of listed) {
      const scan = scanParamHeaders(tool.inputSchema);
      if (!scan.valid) {
        const said = `${tool.name}\n${scan.reason}`;
        if (!this.#invalidWarned.has(said))
          this.#options.logger.warn(
            { upstream: this.name, tool: tool.name, reason: scan.reason },
            `upstream ${this.name} tool ${tool.name} is left out: its x-mcp-header declarations are invalid (${scan.reason})`,
          );
        this.#invalidWarned.add(said);
        continue;
      }
      tools.push(tool);
      if (scan.declarations.length > 0) mirrored.set(tool.name, scan.declarations);
    }
    return { tools, mirrored };
  }

  async #list<P extends { nextCursor?: string }, T>(
    fetchPage: PageFetch<P>,
    method: string,
    itemsOf: (page: P) => readonly T[],
    signal?: AbortSignal,
  ): Promise<T[]> {
    const { max_list_pages: pages, max_list_items: items } = this.#options.server;
    const read = await readPages(fetchPage, itemsOf, { pages, items }, signal);
    if (read.cut === undefined) {
      this.#cutWarned.delete(method);
      return read.items;
    }
    this.#options.onListCut?.(method, read.cut);
    const key = read.cut === 'pages' ? 'max_list_pages' : 'max_list_items';
    const cap = read.cut === 'pages' ? pages : items;
    // A server that never ends its list is cut on every read: warned about once, then at debug until it ends one.
    const level = this.#cutWarned.has(method) ? 'debug' : 'warn';
    this.#cutWarned.add(method);
    this.#options.logger[level](
      { upstream: this.name, method, cap: key, max: cap, pages: read.pages, items: read.items.length },
      `${method} of upstream ${this.name} was cut at ${key} (${cap}) while the server offered more; serving the ${read.items.length} items read. Raise servers.${this.name}.${key} if it really has more`,
    );
    return read.items;
  }

  #forwardStderr(stream: Readable | null): void {
    if (!stream) return;
    const lines = createInterface({ input: stream });
    lines.on('line', (line) => this.#options.logger.info({ upstream: this.name, stderr: line.slice(0, 2_000) }, 'upstream stderr'));
  }
}

type CallOptions = RequestOptions & { onStreamClosed?: () => void; asker?: Asker };

/** A connection with the reader of its tool list (see toolListRefresh). */
interface Connected {
  client: Client;
  refreshTools: () => Promise<number>;
}

/** The SSE GET needs the configured headers too (an Authorization header, typically). */
function withHeaders(headers: Record<string, string>): typeof fetch {
  return (input, init) => fetch(input, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers)), ...headers } });
}

/** A call as a session's own 2025 connection sends it: without the 2026 envelope key that tells a stateless server the agent's capabilities (the session declared them). */
function as2025(params: Record<string, unknown>): Record<string, unknown> {
  const meta = params._meta as Record<string, unknown> | undefined;
  if (meta === undefined || !(CLIENT_CAPABILITIES_META_KEY in meta)) return params;
  const { [CLIENT_CAPABILITIES_META_KEY]: _told, ...rest } = meta;
  const { _meta: _all, ...call } = params;
  return Object.keys(rest).length > 0 ? { ...call, _meta: rest } : call;
}

/** A 404 from a 2025 server: the session it was asked under no longer exists there. */
function sessionGone(err: unknown): boolean {
  return err instanceof SdkHttpError && err.status === 404;
}

/** What the connection showed of the server's generation, to connect with next time without asking. */
function verdictOf(client: Client): PriorDiscovery {
  const discover = client.getDiscoverResult();
  return client.getProtocolEra() === 'modern' && discover !== undefined ? { kind: 'modern', discover } : { kind: 'legacy' };
}
