import { ProtocolErrorCode as JsonRpcError } from '@modelcontextprotocol/server';
import { EmptyResultSchema } from '@modelcontextprotocol/core';
import { errorMessage } from '../errors.js';
import { ProtocolError } from './errors.js';
import type { SessionDeps } from './session-deps.js';

/**
 * The most resources one subscriber may hold: each costs a subscription at
 * the server and a little memory here, and an agent could otherwise ask for
 * any number of them.
 */
export const MAX_SUBSCRIPTIONS = 1_000;

/** How a session's set of subscriptions names one: the server that owns the resource, and its URI. */
export function subscriptionKey(server: string, uri: string): string {
  return `${server}\n${uri}`;
}

/**
 * The resource subscriptions of one subscriber (a 2025 session, or a 2026
 * client's listen stream) at the upstreams, which count subscribers per URI
 * and tell their server to stop when the count drops to none (see
 * Upstream). Each URI is counted once for this subscriber however often it
 * subscribes, and given back once however often it unsubscribes, so no
 * subscriber can end another's subscription. The operations run one at a
 * time: a subscribe still in flight is counted before an unsubscribe or the
 * subscriber's end gives it back.
 */
export class ResourceSubscriber {
  readonly #deps: SessionDeps;
  /** The keys (subscriptionKey) this subscriber holds; the registry reads them to route resource updates. */
  readonly #held: Set<string>;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(deps: SessionDeps, held: Set<string>) {
    this.#deps = deps;
    this.#held = held;
  }

  /** Subscribes at `server` (its params as the client sent them), unless this subscriber already did. */
  subscribe(server: string, params: { uri: string } & Record<string, unknown>, signal: AbortSignal): Promise<void> {
    return this.#serially(async () => {
      const key = subscriptionKey(server, params.uri);
      if (this.#held.has(key)) return;
      if (this.#held.size >= MAX_SUBSCRIPTIONS)
        throw new ProtocolError(
          JsonRpcError.InvalidParams,
          `This session already holds ${MAX_SUBSCRIPTIONS} resource subscriptions, the most Airlock keeps for one; unsubscribe from one first`,
        );
      await this.#deps.upstream(server).request({ method: 'resources/subscribe', params }, EmptyResultSchema, { signal });
      this.#held.add(key);
    });
  }

  /** Gives back this subscriber's subscription to `uri`, at whichever server it was made; nothing when it has none. */
  unsubscribe(uri: string): Promise<void> {
    return this.#serially(async () => {
      for (const key of this.#held) if (uriOf(key) === uri) await this.#leave(key);
    });
  }

  /** Gives back every subscription: the session or the listen stream ended, however it ended. */
  release(): Promise<void> {
    return this.#serially(async () => {
      for (const key of this.#held) await this.#leave(key);
    });
  }

  /**
   * The subscriber stops hearing of the resource at once; the server is told
   * if it was the last. A server that cannot be told is only logged: the
   * upstream counts the subscriber out all the same, and nothing reaches it.
   */
  async #leave(key: string): Promise<void> {
    this.#held.delete(key);
    const server = key.slice(0, key.indexOf('\n'));
    const uri = uriOf(key);
    await this.#deps
      .upstream(server)
      .request({ method: 'resources/unsubscribe', params: { uri } }, EmptyResultSchema)
      .catch((err: unknown) => this.#deps.logger.debug({ upstream: server, uri, err: errorMessage(err) }, 'unsubscribing upstream failed'));
  }

  #serially<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(operation);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

function uriOf(key: string): string {
  return key.slice(key.indexOf('\n') + 1);
}
