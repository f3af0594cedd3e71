/**
 * The clients of the tasks bench (approval-tasks.ts).
 *
 * TasksWire: a 2026-07-28 client of the tasks extension by hand: each
 * request framed as test/support/tasks-client.ts frames it (protocol
 * version, client info and capabilities with io.modelcontextprotocol/tasks
 * declared, in `_meta`; MCP-Protocol-Version, Mcp-Method and Mcp-Name
 * headers), one POST each and nothing more. That client goes through the
 * SDK's transport, which leaves an abort listener per request on one signal:
 * the tens of thousands of requests here would set off
 * MaxListenersExceededWarning and spend the bench's CPU beside the gateway's.
 *
 * legacyClients, legacyHeldCall: the same held call by a 2025-11-25 SDK
 * client, which learns that its call is held from the first progress
 * notification (naming the approval request).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { MODERN_PROTOCOL, TASKS_EXTENSION, type WireTask } from '../test/support/tasks-client.js';
import { read, send } from '../test/support/raw-mcp.js';
import type { Cleanup } from './setup.js';

const META = {
  'io.modelcontextprotocol/protocolVersion': MODERN_PROTOCOL,
  'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1.0.0' },
  'io.modelcontextprotocol/clientCapabilities': { extensions: { [TASKS_EXTENSION]: {} } },
};

export class TasksWire {
  readonly #url: string;
  readonly #token: string;
  #nextId = 1;

  /** `url`: an Airlock server path, `http://127.0.0.1:PORT/mcp/held`. */
  constructor(url: string, token: string) {
    this.#url = url;
    this.#token = token;
  }

  /** A tools/call's result: a CreateTaskResult when the call is held, else the tool's result. */
  callTool(name: string, args: Record<string, unknown>): Promise<WireTask> {
    return this.#request('tools/call', name, { name, arguments: args });
  }

  /** A held call's task, which must come back as one. */
  async callAsTask(name: string, args: Record<string, unknown>): Promise<WireTask> {
    const task = await this.callTool(name, args);
    if (task.resultType !== 'task') throw new Error(`tools/call ${name}: expected a CreateTaskResult, got ${JSON.stringify(task)}`);
    return task;
  }

  get(taskId: string): Promise<WireTask> {
    return this.#request('tasks/get', taskId, { taskId });
  }

  async #request(method: string, name: string, params: Record<string, unknown>): Promise<WireTask> {
    const id = this.#nextId++;
    const headers = {
      Authorization: `Bearer ${this.#token}`,
      'MCP-Protocol-Version': MODERN_PROTOCOL,
      'Mcp-Method': method,
      'Mcp-Name': name,
    };
    const answer = await read(await send(this.#url, { jsonrpc: '2.0', id, method, params: { ...params, _meta: META } }, headers));
    const message = answer.messages.find((m) => m.id === id);
    if (message?.result === undefined) throw new Error(`${method} ${name} answered ${answer.status}: ${JSON.stringify(answer.messages)}`);
    return message.result as WireTask;
  }
}

/**
 * Calls on one 2025 client before a fresh one: its transport keeps an abort
 * listener per POST until it closes (a warning past 1,500), and a cancelled
 * call is two POSTs.
 */
const LEGACY_USES = 500;

/** A 2025-11-25 SDK client of `url` with `token`, replaced by a fresh one every LEGACY_USES calls. */
export function legacyClients(url: string, token: string, cleanup: Cleanup): () => Promise<Client> {
  let client: Client | undefined;
  let uses = 0;
  cleanup.push(() => client?.close());
  return async () => {
    if (client && uses++ < LEGACY_USES) return client;
    await client?.close();
    client = new Client({ name: 'bench', version: '1.0.0' });
    const headers = { Authorization: `Bearer ${token}` };
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
    uses = 1;
    return client;
  };
}

/** A held echo by a 2025 client, which learns it is held from its first progress notification (naming the request). */
export function legacyHeldCall(client: Client, message: string, timeoutMs: number, signal?: AbortSignal) {
  let heard: (held: { at: number; approval: string }) => void = () => undefined;
  const held = new Promise<{ at: number; approval: string }>((resolve) => (heard = resolve));
  const result = client.callTool({ name: 'echo', arguments: { message } }, undefined, {
    ...(signal && { signal }),
    timeout: timeoutMs,
    onprogress: (progress) => heard({ at: performance.now(), approval: /approve (apr_[\w-]+)/.exec(progress.message ?? '')?.[1] ?? '' }),
  });
  const early = result.then((answer) => Promise.reject(new Error(`a held echo answered before it was held: ${JSON.stringify(answer)}`)));
  return { held: Promise.race([held, early]), result };
}
