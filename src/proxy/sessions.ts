import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Notification } from '@modelcontextprotocol/sdk/types.js';
import type { Scope } from './router.js';

export interface Session {
  server: Server;
  scope: Scope;
  grant: string | undefined;
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

  /** Sends a server's notification to its sessions; a session that declared no such capability, or has gone, is skipped. */
  broadcast(upstream: string, notification: Notification): void {
    for (const session of this.#sessions) {
      if (!session.scope.servers.includes(upstream)) continue;
      session.server.notification(notification as never).catch(() => undefined);
    }
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#sessions].map((s) => s.close().catch(() => undefined)));
    this.#sessions.clear();
  }
}
