import type { Redis } from 'ioredis';
import { waitingConnection } from '../redis/index.js';

/**
 * Every change to a task is published with its id (see TaskStore); this
 * instance's listeners hear those of the tasks they follow: the run of a
 * task waiting for its client's answers, or for a cancel. Messages sent
 * while Redis is away are lost, so listeners also look again now and then.
 */
export class TaskEvents {
  readonly #subscriber: Redis;
  readonly #listeners = new Map<string, Set<() => void>>();

  private constructor(subscriber: Redis) {
    this.#subscriber = subscriber;
  }

  static async start(redis: Redis, channel: string): Promise<TaskEvents> {
    const subscriber = waitingConnection(redis);
    const events = new TaskEvents(subscriber);
    subscriber.on('message', (_channel: string, id: string) => {
      for (const listener of events.#listeners.get(id) ?? []) listener();
    });
    await subscriber.subscribe(channel);
    return events;
  }

  /** Calls `listener` on each change of task `id` until the returned function is called. */
  on(id: string, listener: () => void): () => void {
    let set = this.#listeners.get(id);
    if (!set) this.#listeners.set(id, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#listeners.delete(id);
    };
  }

  close(): void {
    this.#listeners.clear();
    this.#subscriber.disconnect();
  }
}
