import { waitingConnection } from '../redis/index.js';
import type { Redis } from 'ioredis';

/**
 * Calls `onEnded` with the id of every session ended on purpose on any
 * instance (DELETE, or the idle sweep finding it idle everywhere), so the
 * copies other instances hold close too. A connection of its own, as
 * subscribing takes a connection over; it waits for Redis while it is away
 * (a message missed meanwhile is caught by the idle sweep, which finds the
 * session's tombstone). Returns the function that stops listening.
 */
export async function listenForEndedSessions(redis: Redis, channel: string, onEnded: (id: string) => void): Promise<() => void> {
  const subscriber = waitingConnection(redis);
  subscriber.on('message', (_channel: string, id: string) => onEnded(id));
  await subscriber.subscribe(channel);
  return () => subscriber.disconnect();
}
