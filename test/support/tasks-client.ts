/**
 * A 2026-07-28 client of the MCP tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663), for the tests of held
 * calls as tasks: a v2 `Client` pinned to 2026-07-28 over Streamable HTTP with a bearer token, an ext-tasks session on
 * it (`session.callTool(...)`, then `execution.settle()`), and the same wire by hand (`callTool`, `get`, `update`,
 * `cancel`) for what a test must see exactly: the CreateTaskResult, a task as `tasks/get` shows it, a JSON-RPC error.
 *
 * ext-tasks 0.2.2 cannot drive a 2026 tasks server through the SDK `Client` alone: the client's 2026 result codec
 * refuses `resultType: 'task'` ("Unsupported result type") and its own `tasks/*` shapes are 2025-11-25's, so
 * `createTaskSessionFromClient` throws for a server that lists the extension unless it is given both
 * - `rawDispatch(request, { signal, context })`: sends one request `{ method, params }` (no `jsonrpc`, no `id`) and
 *   resolves with `{ kind: 'result', result }` or `{ kind: 'error', error: { code, message, data? } }`, throwing a
 *   `DispatchError` only when no answer came (`context.headers` carries the `Mcp-Name` of a `tasks/*` request);
 * - `v2RequestFraming: { protocolVersion, clientInfo, clientCapabilities }`: what it writes into the `_meta` of every
 *   `tools/call` and `tasks/*` request it sends that way (`io.modelcontextprotocol/protocolVersion`, `…/clientInfo`,
 *   `…/clientCapabilities`, the tasks extension added), as the SDK would for its own requests.
 * Here the raw path is a second `StreamableHTTPClientTransport` on the same URL and token, which derives
 * `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` (the tool's name, or `params.taskId`) from that `_meta` and body
 * as it does for the SDK's requests.
 */
import {
  Client,
  SdkHttpError,
  StreamableHTTPClientTransport,
  type ClientCapabilities,
  type JSONRPCMessage,
} from '@modelcontextprotocol/client';
import {
  createTaskSessionFromClient,
  DispatchError,
  type ApplicationInputHandler,
  type JsonRpcResponse,
  type RawClientDispatch,
  type TaskEnabledSession,
  type V2RequestFraming,
} from '@modelcontextprotocol/ext-tasks/client';
import type { JsonValue } from '@modelcontextprotocol/ext-tasks/core';
import { until, within } from './poll.js';

export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';
export const MODERN_PROTOCOL = '2026-07-28';
/** Per-request client capabilities, as a 2026 request carries them in `_meta`. */
const CLIENT_CAPABILITIES_META = 'io.modelcontextprotocol/clientCapabilities';

export type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';

/** A task as `tasks/get` (or a CreateTaskResult) shows it, fields unchecked beyond these. */
export interface WireTask {
  resultType: string;
  taskId: string;
  status: TaskStatus;
  statusMessage?: string;
  createdAt: string;
  lastUpdatedAt: string;
  ttlMs: number | null;
  pollIntervalMs?: number;
  inputRequests?: Record<string, { method: string; params?: Record<string, unknown> }>;
  result?: { content?: { type: string; text?: string }[]; isError?: boolean; [key: string]: unknown };
  error?: { code: number; message: string; data?: unknown };
  _meta?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface TasksClientOptions {
  /** `clientInfo.name`. */
  name?: string;
  /** The client's 2026 capabilities: declared by the `Client` and sent in every framed request's `_meta`. */
  capabilities?: ClientCapabilities;
  /** How the session answers a task's `inputRequests` (its `tasks/update`); without it an elicitation is cancelled. */
  onInputRequest?: ApplicationInputHandler['handle'];
}

export interface TasksClient {
  readonly client: Client;
  /** The ext-tasks session: `callTool`, then the execution's `settle()`. */
  readonly session: TaskEnabledSession;
  /** Whether `server/discover` listed `capabilities.extensions['io.modelcontextprotocol/tasks']`. */
  readonly advertised: boolean;
  /** Every request sent on the raw path (the session's and the test's) with its answer, in the order answered. */
  readonly exchanges: { request: JsonValue; response: JsonRpcResponse }[];
  /** One framed request on the raw path: the tasks extension declared in its `_meta`, its answer as it came. */
  request(method: string, params: Record<string, JsonValue>): Promise<JsonRpcResponse>;
  /** `tools/call` declaring the extension: a CreateTaskResult, a CallToolResult, or an error, as it came. */
  callTool(name: string, args: Record<string, JsonValue>): Promise<JsonRpcResponse>;
  /** `tasks/get`, `tasks/update`, `tasks/cancel`, each with `Mcp-Name: <taskId>`. */
  get(taskId: string): Promise<JsonRpcResponse>;
  update(taskId: string, inputResponses: Record<string, JsonValue>): Promise<JsonRpcResponse>;
  cancel(taskId: string): Promise<JsonRpcResponse>;
  /** Closes the session, the raw path and the client. */
  close(): Promise<void>;
}

/**
 * Requests on a transport of their own, each answered by its id. A request whose stream ends unanswered (the
 * instance died) fails with a `DispatchError`; a refusal sent as an HTTP error with a JSON-RPC body (a 2026 server
 * answers "method not found" with 404) is that error, as the SDK's own requests see only a 400's body.
 */
class RawRequests {
  private readonly transport: StreamableHTTPClientTransport;
  private readonly pending = new Map<number, { resolve: (r: JsonRpcResponse) => void; reject: (e: unknown) => void }>();
  private nextId = 1;

  constructor(url: URL, headers: Record<string, string>) {
    this.transport = new StreamableHTTPClientTransport(url, { requestInit: { headers } });
    this.transport.onmessage = (message) => {
      const answer = message as { id?: unknown; result?: JsonValue; error?: { code: number; message: string; data?: JsonValue } };
      if (typeof answer.id !== 'number' || (answer.result === undefined && answer.error === undefined)) return;
      this.settle(answer.id, (p) =>
        p.resolve(answer.error === undefined ? { kind: 'result', result: answer.result! } : { kind: 'error', error: answer.error }),
      );
    };
    this.transport.onerror = () => undefined; // each failure reaches its own request below
  }

  start(): Promise<void> {
    return this.transport.start();
  }

  close(): Promise<void> {
    for (const id of [...this.pending.keys()]) this.settle(id, (p) => p.reject(new DispatchError('closed')));
    return this.transport.close();
  }

  readonly dispatch: RawClientDispatch = async (request, options = {}) => {
    const id = this.nextId++;
    const { method } = request as { method: string };
    const answered = new Promise<JsonRpcResponse>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    const { signal } = options;
    const onAbort = () => this.settle(id, (p) => p.reject(signal?.reason ?? new DOMException('aborted', 'AbortError')));
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await this.transport.send({ jsonrpc: '2.0', id, ...(request as object) } as JSONRPCMessage, {
        ...(signal && { requestSignal: signal }),
        ...(options.context?.headers && { headers: options.context.headers }),
        onRequestStreamEnd: () => this.settle(id, (p) => p.reject(new DispatchError(`the stream of ${method} ended unanswered`))),
      });
    } catch (err) {
      const refusal = err instanceof SdkHttpError ? jsonRpcError((err.data as { text?: unknown } | undefined)?.text, id) : undefined;
      this.settle(id, (p) =>
        refusal ? p.resolve(refusal) : p.reject(new DispatchError(`${method} was not answered`, false, { cause: err })),
      );
    }
    try {
      return await answered;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  };

  private settle(id: number, how: (p: { resolve: (r: JsonRpcResponse) => void; reject: (e: unknown) => void }) => void): void {
    const waiting = this.pending.get(id);
    if (!waiting) return;
    this.pending.delete(id);
    how(waiting);
  }
}

/** The JSON-RPC error an HTTP error's body carries for request `id`, if it is one. */
function jsonRpcError(body: unknown, id: number): JsonRpcResponse | undefined {
  if (typeof body !== 'string') return undefined;
  try {
    const parsed = JSON.parse(body) as { id?: unknown; error?: { code: number; message: string; data?: JsonValue } };
    return parsed.id === id && parsed.error ? { kind: 'error', error: parsed.error } : undefined;
  } catch {
    return undefined;
  }
}

/** `params` with the tasks extension declared in its per-request client capabilities. */
function declaringTasks(params: Record<string, JsonValue>, capabilities: ClientCapabilities): Record<string, JsonValue> {
  const meta = (params._meta ?? {}) as Record<string, JsonValue>;
  const declared = (meta[CLIENT_CAPABILITIES_META] ?? capabilities) as Record<string, JsonValue>;
  const extensions = (declared.extensions ?? {}) as Record<string, JsonValue>;
  return {
    ...params,
    _meta: { ...meta, [CLIENT_CAPABILITIES_META]: { ...declared, extensions: { ...extensions, [TASKS_EXTENSION]: {} } } },
  };
}

/** Connects to `url` (an Airlock server path such as `http://127.0.0.1:PORT/mcp/fixture`) with `token`. */
export async function connectTasks(url: string, token: string, options: TasksClientOptions = {}): Promise<TasksClient> {
  const capabilities = options.capabilities ?? {};
  const clientInfo = { name: options.name ?? 'airlock-tasks-test', version: '1.0.0' };
  const headers = { Authorization: `Bearer ${token}` };
  const client = new Client(clientInfo, { versionNegotiation: { mode: { pin: MODERN_PROTOCOL } }, capabilities });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  const raw = new RawRequests(new URL(url), headers);
  await raw.start();
  const framing: V2RequestFraming = {
    protocolVersion: MODERN_PROTOCOL,
    clientInfo,
    clientCapabilities: JSON.parse(JSON.stringify(capabilities)) as Record<string, JsonValue>,
  };
  const extensions = client.getServerCapabilities()?.extensions as Record<string, unknown> | undefined;
  const exchanges: TasksClient['exchanges'] = [];
  const dispatch: RawClientDispatch = async (request, dispatchOptions) => {
    const response = await raw.dispatch(request, dispatchOptions);
    exchanges.push({ request, response });
    return response;
  };
  const session = createTaskSessionFromClient(client, {
    endpointId: `airlock-test ${url}`,
    rawDispatch: dispatch,
    v2RequestFraming: framing,
    ...(options.onInputRequest && { onInputRequest: options.onInputRequest }),
  });
  // What the session sends itself is framed by it; what a test sends by hand is framed here the same way.
  const request = (method: string, params: Record<string, JsonValue>) =>
    dispatch({
      method,
      params: declaringTasks(
        {
          ...params,
          _meta: {
            ...((params._meta ?? {}) as Record<string, JsonValue>),
            'io.modelcontextprotocol/protocolVersion': MODERN_PROTOCOL,
            'io.modelcontextprotocol/clientInfo': clientInfo,
          },
        },
        capabilities,
      ),
    });
  return {
    client,
    session,
    advertised: extensions !== undefined && Object.hasOwn(extensions, TASKS_EXTENSION),
    exchanges,
    request,
    callTool: (name, args) => request('tools/call', { name, arguments: args }),
    get: (taskId) => request('tasks/get', { taskId }),
    update: (taskId, inputResponses) => request('tasks/update', { taskId, inputResponses }),
    cancel: (taskId) => request('tasks/cancel', { taskId }),
    async close() {
      await session.close().catch(() => undefined);
      await raw.close().catch(() => undefined);
      await client.close().catch(() => undefined);
    },
  };
}

/** The result of an answer that must be one, or a failure naming `what` and the error that came instead. */
export function resultOf<T = Record<string, unknown>>(answer: JsonRpcResponse, what: string): T {
  if (answer.kind === 'error') throw new Error(`${what}: expected a result, got JSON-RPC error ${JSON.stringify(answer.error)}`);
  return answer.result as T;
}

/** The error of an answer that must be one. */
export function errorOf(answer: JsonRpcResponse, what: string): { code: number; message: string; data?: unknown } {
  if (answer.kind === 'result') throw new Error(`${what}: expected a JSON-RPC error, got ${JSON.stringify(answer.result)}`);
  return answer.error;
}

/** The CreateTaskResult a `tools/call` must have answered with. */
export function createdTask(answer: JsonRpcResponse, what: string): WireTask {
  const result = resultOf<WireTask>(answer, what);
  if (result.resultType !== 'task') throw new Error(`${what}: expected a CreateTaskResult, got ${JSON.stringify(result)}`);
  return result;
}

/**
 * `tools/call` of a tool the server holds, which must answer a CreateTaskResult at once: fails at once when the server
 * does not list the extension (it would hold the call instead), and after `guardMs` if no answer came, rather than
 * hanging on a call held the old way.
 */
export async function callAsTask(tasks: TasksClient, name: string, args: Record<string, JsonValue>, guardMs = 60_000): Promise<WireTask> {
  if (!tasks.advertised) throw new Error(`server/discover does not list ${TASKS_EXTENSION}: a held ${name} cannot answer with a task`);
  const answer = await within(guardMs, `a held ${name} to answer with a task`, tasks.callTool(name, args));
  return createdTask(answer, `tools/call ${name}`);
}

/** Polls `tasks/get` until the task's status is one of `statuses`, and returns the task as then shown. */
export async function taskReaching(
  tasks: TasksClient,
  taskId: string,
  statuses: readonly TaskStatus[],
  timeoutMs = 60_000,
): Promise<WireTask> {
  let task: WireTask | undefined;
  await until(
    `task ${taskId} to be ${statuses.join(' or ')}`,
    async () => {
      task = resultOf<WireTask>(await tasks.get(taskId), `tasks/get ${taskId}`);
      return statuses.includes(task.status);
    },
    timeoutMs,
    100,
  );
  return task!;
}
