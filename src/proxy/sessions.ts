import type { Notification, Server } from '@modelcontextprotocol/server';
import type { SessionScope } from './router.js';
import { subscriptionKey } from './resource-subscriber.js';

export interface Session {
  server: Server;
  scope: SessionScope;
  grant: string | undefined;
  subscriptions: ReadonlySet<string>;
  close(): Promise<void>;
}

/**
 * Where a server's notifications reach clients that have no session (2026):
 * one per endpoint and grant, whose listen streams filter what each asked for.
 * `deliver` gets only what its scope may see.
 */
export interface NotificationSink {
  scope: SessionScope;
  deliver(upstream: string, notification: Notification): void;
  close(): Promise<void>;
}

/**
 * The open downstream sessions of this process, and the sinks of its
 * sessionless clients, so an upstream's notifications reach every client that
 * can see that upstream.
 */
export class SessionRegistry<S extends Session = Session> {
  readonly #sessions = new Set<S>();
  readonly #sinks = new Set<NotificationSink>();

  add(session: S): void {
    this.#sessions.add(session);
  }

  delete(session: S): void {
    this.#sessions.delete(session);
  }

  addSink(sink: NotificationSink): void {
    this.#sinks.add(sink);
  }

  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Sends a server's notification to its sessions, a resource update only to
   * the sessions that subscribed to that resource, and to every sink whose
   * scope holds the server. A session that declared no such capability, or
   * has gone, is skipped.
   */
  broadcast(upstream: string, notification: Notification): void {
    const uri = notification.method === 'notifications/resources/updated' ? String(notification.params?.uri) : undefined;
    for (const session of this.#sessions) {
      if (!session.scope.servers.includes(upstream)) continue;
      if (uri !== undefined && !session.subscriptions.has(subscriptionKey(upstream, uri))) continue;
      deliverTo(session.server, notification);
    }
    for (const sink of this.#sinks) if (sink.scope.servers.includes(upstream)) sink.deliver(upstream, notification);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#sessions, ...this.#sinks].map((s) => s.close().catch(() => undefined)));
    this.#sessions.clear();
    this.#sinks.clear();
  }
}

/**
 * A 2025 session gets the notification as it is; a 2026 stdio connection has
 * no channel for unsolicited ones, so the list changes go through the
 * `send*` methods, which the SDK routes to its listen streams.
 */
function deliverTo(server: Server, notification: Notification): void {
  const sent =
    notification.method === 'notifications/tools/list_changed'
      ? server.sendToolListChanged()
      : notification.method === 'notifications/prompts/list_changed'
        ? server.sendPromptListChanged()
        : notification.method === 'notifications/resources/list_changed'
          ? server.sendResourceListChanged()
          : notification.method === 'notifications/resources/updated'
            ? server.sendResourceUpdated({ uri: String(notification.params?.uri) })
            : server.notification(notification);
  sent.catch(() => undefined);
}
