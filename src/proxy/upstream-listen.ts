import type { Client, McpSubscription, Notification, SubscriptionFilter } from '@modelcontextprotocol/client';
import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import { networkFailure } from './errors.js';

/**
 * The `subscriptions/listen` stream of one connection to a 2026 server: the
 * only way such a server tells of list changes and resource updates (it has
 * no unsolicited notifications, and `connect` with a remembered verdict
 * opens none by itself). Opened after connecting, opened again with a new
 * filter when the set of subscribed resources changes (the new stream
 * first, so nothing is missed in between), and again after a backoff when
 * the server or the network ends it.
 */
export interface ListenOptions {
  upstream: string;
  logger: Logger;
  /** First and longest wait before listening again after the stream ended. */
  backoff: { initialMs: number; maxMs: number };
  /** The server could not be reached to listen again: it went away, and the connection is to be made anew (no more retries here). */
  onUnreachable: () => void;
}

export class ListenStream {
  readonly #client: Client;
  readonly #uris: () => readonly string[];
  readonly #options: ListenOptions;
  #subscription: McpSubscription | undefined;
  /** One open at a time, in order: a later filter must not be replaced by an earlier one that was acked last. */
  #opening: Promise<void> = Promise.resolve();
  #attempt = 0;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(client: Client, uris: () => readonly string[], options: ListenOptions) {
    this.#client = client;
    this.#uris = uris;
    this.#options = options;
  }

  /** Opens the stream with the filter as it is now; rejects when the server refuses it. */
  update(): Promise<void> {
    const opened = this.#opening.then(() => this.#open());
    this.#opening = opened.catch(() => undefined);
    return opened;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    await this.#opening;
    await this.#subscription?.close();
  }

  async #open(): Promise<void> {
    if (this.#closed) return;
    const filter = this.#filter();
    const previous = this.#subscription;
    if (filter === undefined) {
      this.#subscription = undefined;
      await previous?.close();
      return;
    }
    const subscription = await this.#client.listen(filter);
    if (this.#closed) {
      await subscription.close();
      return;
    }
    this.#subscription = subscription;
    this.#attempt = 0;
    await previous?.close();
    void subscription.closed.then((how) => {
      if (how === 'local' || subscription !== this.#subscription || this.#closed) return;
      this.#options.logger.debug({ upstream: this.#options.upstream, how }, 'upstream listen stream ended; listening again');
      this.#listenAgain();
    });
  }

  #listenAgain(): void {
    const { initialMs, maxMs } = this.#options.backoff;
    clearTimeout(this.#retry);
    this.#retry = setTimeout(
      () =>
        void this.update().catch((err: unknown) => {
          if (networkFailure(err)) return this.#options.onUnreachable();
          this.#options.logger.debug({ upstream: this.#options.upstream, err: errorMessage(err) }, 'upstream listen failed; retrying');
          this.#listenAgain();
        }),
      Math.min(maxMs, initialMs * 2 ** this.#attempt++),
    ).unref();
  }

  /** What the server offers to tell of, and the resources someone subscribed to; `undefined` when that is nothing. */
  #filter(): SubscriptionFilter | undefined {
    const caps = this.#client.getServerCapabilities();
    const uris = this.#uris();
    const filter: SubscriptionFilter = {
      ...(caps?.tools?.listChanged === true && { toolsListChanged: true }),
      ...(caps?.prompts?.listChanged === true && { promptsListChanged: true }),
      ...(caps?.resources?.listChanged === true && { resourcesListChanged: true }),
      ...(caps?.resources?.subscribe === true && uris.length > 0 && { resourceSubscriptions: [...uris] }),
    };
    return Object.keys(filter).length === 0 ? undefined : filter;
  }
}

/**
 * Resource subscriptions of the connection shared by every session, counted
 * per URI: the server is asked once however many sessions subscribe, and
 * told to stop when the last one unsubscribes.
 */
export class ResourceSubscriptions {
  readonly #counts = new Map<string, number>();

  get uris(): string[] {
    return [...this.#counts.keys()];
  }

  /** Counts one more subscriber; true when it is the first. */
  add(uri: string): boolean {
    const count = this.#counts.get(uri) ?? 0;
    this.#counts.set(uri, count + 1);
    return count === 0;
  }

  /** Counts one subscriber less; true when that was the last. */
  remove(uri: string): boolean {
    const count = this.#counts.get(uri);
    if (count === undefined) return false;
    if (count > 1) this.#counts.set(uri, count - 1);
    else this.#counts.delete(uri);
    return count === 1;
  }
}

const RESERVED_META_PREFIX = 'io.modelcontextprotocol/';

/**
 * A notification as a 2025 server would have sent it: a 2026 server's
 * carries reserved `_meta` keys (the listen stream's subscription id, its
 * identity) that mean nothing to the sessions it is passed on to.
 */
export function asLegacyNotification(notification: Notification): Notification {
  const meta = notification.params?._meta;
  if (meta === undefined || !Object.keys(meta).some((key) => key.startsWith(RESERVED_META_PREFIX))) return notification;
  const kept = Object.fromEntries(Object.entries(meta).filter(([key]) => !key.startsWith(RESERVED_META_PREFIX)));
  const { _meta: _dropped, ...params } = notification.params ?? {};
  return { ...notification, params: Object.keys(kept).length === 0 ? params : { ...params, _meta: kept } };
}
