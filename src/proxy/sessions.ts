import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Notification } from '@modelcontextprotocol/sdk/types.js';
import type { SessionScope } from './router.js';
import { subscriptionKey } from './session-server.js';

export interface Session {
  server: Server;
  scope: SessionScope;
  grant: string | undefined;
  subscriptions: ReadonlySet<string>;
  close(): Promise<void>;
}

/**
 * The open downstream sessions of this process, so an upstream's
 * notifications reach every session that can see that upstream.
 */
export class SessionRegistry<S extends Session = Session> {
  readonly #sessions = new Set<S>();

  add(session: S): void {
    this.#sessions.add(session);
  }

  delete(session: S): void {
    this.#sessions.delete(session);
  }

  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Sends a server's notification to its sessions; a resource update only to
   * the sessions that subscribed to that resource. A session that declared no
   * such capability, or has gone, is skipped.
   */
  broadcast(upstream: string, notification: Notification): void {
    const uri = notification.method === 'notifications/resources/updated' ? String(notification.params?.uri) : undefined;
    for (const session of this.#sessions) {
      if (!session.scope.servers.includes(upstream)) continue;
      if (uri !== undefined && !session.subscriptions.has(subscriptionKey(upstream, uri))) continue;
      session.server.notification(notification as never).catch(() => undefined);
    }
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#sessions].map((s) => s.close().catch(() => undefined)));
    this.#sessions.clear();
  }
}
