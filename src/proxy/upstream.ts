import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CallToolResultSchema,
  ListToolsResultSchema,
  ToolListChangedNotificationSchema,
  type CallToolResult,
  type Notification,
  type ServerCapabilities,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import type { z, ZodType } from 'zod';
import type { LoadedServer } from '../config/index.js';
import { ProtocolError, UpstreamUnavailableError } from './errors.js';
import { readPages, type PageFetch } from './list-pages.js';
import { toolListRefresh } from './tool-list-refresh.js';
import { withRequestSignals } from './request-signal.js';
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
  /** First and maximum delay between reconnection attempts. */
  backoff?: { initialMs: number; maxMs: number };
}

const CLIENT_INFO = { name: 'airlock', version: VERSION };

/** On `tools/list_changed` a server's tool list is read at most this often (see toolListRefresh). */
const TOOL_LIST_READ_GAP_MS = 1_000;

/**
 * One MCP server behind Airlock, shared by every downstream session: a real
 * SDK client over stdio or Streamable HTTP (SSE for old servers), reconnected
 * with backoff when the server dies, with its tool list cached and refreshed
 * when the server says it changed.
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

  constructor(options: UpstreamOptions) {
    this.name = options.name;
    this.#options = options;
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
    const client = this.#client;
    this.#client = undefined;
    await client?.close().catch(() => undefined);
  }

  /** Sends a request as is and returns the server's result; throws UpstreamUnavailableError when the server cannot be reached. */
  async request<S extends z.ZodType>(
    request: { method: string; params?: Record<string, unknown> },
    schema: S,
    options?: RequestOptions,
  ): Promise<z.output<S>> {
    const client = this.#connectedClient();
    try {
      return (await client.request(request as never, schema as never, options)) as z.output<S>;
    } catch (err) {
      throw toUnavailable(this.name, err);
    }
  }

  callTool(params: Record<string, unknown>, options: RequestOptions): Promise<CallToolResult> {
    return this.request({ method: 'tools/call', params }, CallToolResultSchema, {
      timeout: this.#options.server.call_timeout_ms,
      resetTimeoutOnProgress: true,
      ...options,
    });
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
    return this.#connectedClient().notification(notification as never);
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
    try {
      const { client, refreshTools } =
        server.transport === 'stdio' ? await this.#connectStdio() : await this.#connectHttp(server.url, server.headers);
      // close() was called while this attempt ran: what it opened must not outlive it.
      if (this.#closedNow()) {
        await client.close().catch(() => undefined);
        return;
      }
      this.#client = client;
      await refreshTools();
      if (this.#closedNow()) return;
      this.#status = 'connected';
      this.#lastError = undefined;
      this.#attempt = 0;
      const info = client.getServerVersion();
      logger.info(
        { upstream: this.name, server_name: info?.name, server_version: info?.version, tools: this.#tools.length },
        'upstream connected',
      );
      this.#options.onConnected?.();
    } catch (err) {
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

  async #connectStdio(): Promise<Connected> {
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
    return this.#connectClient(transport);
  }

  async #connectHttp(url: string, headers: Record<string, string>): Promise<Connected> {
    try {
      return await this.#connectClient(
        new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers }, fetch: withRequestSignals() }),
      );
    } catch (streamableError) {
      // Servers from before Streamable HTTP (protocol 2024-11-05) speak SSE on the same URL;
      // a Client connects only once, so the fallback needs a fresh one.
      try {
        return await this.#connectClient(
          new SSEClientTransport(new URL(url), {
            requestInit: { headers },
            eventSourceInit: { fetch: withHeaders(headers) },
            fetch: withRequestSignals(),
          }),
        );
      } catch {
        throw streamableError;
      }
    }
  }

  async #connectClient(transport: Transport): Promise<Connected> {
    const client = new Client(CLIENT_INFO, { capabilities: {} });
    const refreshTools = toolListRefresh({
      read: (current) => this.#refreshTools(client, current),
      live: () => this.#client === client,
      gapMs: TOOL_LIST_READ_GAP_MS,
    });
    // The sessions are shown the list read at connect (version 1) when they ask; later ones they are told about.
    let announced = 1;
    client.fallbackNotificationHandler = async (notification) => this.#options.onNotification(notification);
    client.setNotificationHandler(ToolListChangedNotificationSchema, async (notification) => {
      try {
        const read = await refreshTools();
        // The sessions hear of a change once per list that changed, however many announcements that read answered.
        if (read <= announced) return;
        announced = read;
      } catch (err) {
        this.#options.logger.warn({ upstream: this.name, err: errorMessage(err) }, 'tool list refresh failed');
      }
      this.#options.onNotification(notification);
    });
    client.onclose = () => this.#closed(client);
    client.onerror = (err) => this.#options.logger.debug({ upstream: this.name, err: err.message }, 'upstream transport error');
    try {
      await client.connect(transport);
    } catch (err) {
      // A failed connect leaves the transport open: an SSE EventSource reconnecting forever, a stdio child still running.
      client.onclose = undefined;
      await client.close().catch(() => undefined);
      throw err;
    }
    return { client, refreshTools };
  }

  /** Read after an await: TypeScript would otherwise keep the status it narrowed before. */
  #closedNow(): boolean {
    return this.#status === 'closed';
  }

  #closed(client: Client): void {
    if (client !== this.#client || this.#status === 'closed') return;
    this.#client = undefined;
    this.#status = 'disconnected';
    this.#lastError = 'the connection closed';
    this.#options.logger.warn({ upstream: this.name }, 'upstream disconnected; reconnecting');
    this.#options.onFault?.('disconnected');
    this.#scheduleRetry();
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
    const tools = await this.#list(
      (cursor) => client.request({ method: 'tools/list', params: cursor === undefined ? {} : { cursor } }, ListToolsResultSchema),
      'tools/list',
      (page) => page.tools,
    );
    // A server announcing changes without changing anything would otherwise cost a pin check of every tool each time.
    const json = JSON.stringify(tools);
    if (json === current) return json;
    // Checked against the pins before the new list is served, so a changed tool is never called as unchanged.
    await this.#options.onTools?.(tools);
    this.#tools = tools;
    this.#toolsByName = new Map(tools.map((t) => [t.name, t]));
    return json;
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

/** A connection with the reader of its tool list (see toolListRefresh). */
interface Connected {
  client: Client;
  refreshTools: () => Promise<number>;
}

/** The SSE GET needs the configured headers too (an Authorization header, typically). */
function withHeaders(headers: Record<string, string>): typeof fetch {
  return (input, init) => fetch(input, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers)), ...headers } });
}

function toUnavailable(name: string, err: unknown): unknown {
  if (err instanceof UpstreamUnavailableError) return err;
  // JSON-RPC errors the server itself sent are its answer, not a failure to reach it.
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number' && code !== -32000 && code !== -32001)
    return ProtocolError.fromUpstream(err as { code: number; message: string; data?: unknown });
  return new UpstreamUnavailableError(name, `upstream ${name} failed: ${errorMessage(err)}`, { sent: true, cause: err });
}
