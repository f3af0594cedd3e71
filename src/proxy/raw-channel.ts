import type { JSONRPCMessage, Transport } from '@modelcontextprotocol/client';
import { ProtocolError } from './errors.js';

interface Pending {
  resolve(result: Record<string, unknown>): void;
  reject(err: Error): void;
}

/**
 * Requests sent on a client's transport beside the SDK's own, whose results
 * come back untouched: the v2 `Client` refuses a `tools/call` answered with a
 * task (`resultType: "task"`, the tasks extension), which Airlock passes on
 * to a client that offered the extension. The client is given `transport`,
 * a view of the real one whose incoming messages pass through here first:
 * a response to one of these requests (their ids are strings no SDK request
 * uses) is taken here, every other message goes on to the client.
 */
export class RawChannel {
  readonly transport: Transport;
  readonly #inner: Transport;
  readonly #pending = new Map<string, Pending>();
  #next = 0;

  constructor(inner: Transport) {
    this.#inner = inner;
    let toClient: Transport['onmessage'];
    const route: NonNullable<Transport['onmessage']> = (message, extra) => {
      if (this.#take(message)) return;
      toClient?.(message, extra);
    };
    this.transport = new Proxy(inner, {
      get: (target, property) => {
        if (property === 'onmessage') return toClient;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
      set: (target, property, value) => {
        if (property !== 'onmessage') return Reflect.set(target, property, value, target);
        toClient = value as Transport['onmessage'];
        target.onmessage = route;
        return true;
      },
    });
  }

  /**
   * Sends one request (its `_meta` as the caller built it: a 2026 request's
   * envelope included) and resolves with its result as the server sent it;
   * a JSON-RPC error rejects as a ProtocolError with its code and data.
   */
  async request(
    method: string,
    params: Record<string, unknown>,
    options: { signal?: AbortSignal; timeoutMs: number },
  ): Promise<Record<string, unknown>> {
    const id = `airlock-raw-${++this.#next}`;
    const { signal, timeoutMs } = options;
    signal?.throwIfAborted();
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', aborted);
        this.#pending.delete(id);
      };
      const aborted = () => {
        done();
        reject(signal?.reason instanceof Error ? signal.reason : new Error(String(signal?.reason ?? 'aborted')));
      };
      const timer = setTimeout(() => {
        done();
        reject(new ProtocolError(-32001, `Request timed out: ${method} had no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      signal?.addEventListener('abort', aborted, { once: true });
      this.#pending.set(id, {
        resolve: (result) => {
          done();
          resolve(result);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      });
      this.#inner.send({ jsonrpc: '2.0', id, method, params } as JSONRPCMessage).catch((err: unknown) => {
        this.#pending.get(id)?.reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
  }

  #take(message: JSONRPCMessage): boolean {
    const id = (message as { id?: unknown }).id;
    if (typeof id !== 'string') return false;
    const pending = this.#pending.get(id);
    if (!pending) return false;
    const { result, error } = message as { result?: unknown; error?: { code?: unknown; message?: unknown; data?: unknown } };
    if (error !== undefined) {
      const code = typeof error.code === 'number' ? error.code : -32603;
      pending.reject(new ProtocolError(code, typeof error.message === 'string' ? error.message : 'Internal error', error.data));
    } else if (result !== null && typeof result === 'object' && !Array.isArray(result)) {
      pending.resolve(result as Record<string, unknown>);
    } else {
      pending.reject(new ProtocolError(-32603, `the server answered ${id} with a result that is not an object`));
    }
    return true;
  }
}
