import { waitingConnection } from '../redis/index.js';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import { ProtocolError } from './errors.js';
import { fromWire, toWire, type ParkedCall, type ParkedCalls, type Round, type WireRound } from './parked-calls.js';
import { INTERNAL_ERROR } from './questions.js';

interface Forwarded {
  id: string;
  responses: Record<string, unknown> | undefined;
  reply: string;
}

/**
 * Where a parked call's retry is served when it lands on another instance
 * (see ParkedCall): it is forwarded over Redis pub/sub to the instance the
 * request state names, which answers the questions, waits for the next round
 * and publishes it back. An instance that is gone is said so at once (nobody
 * listens on its channel), so the agent learns the call is lost rather than
 * waiting for nothing.
 */
export class ParkedRelay {
  /** This process's name in request states: new on every start, as its parked calls do not survive it. */
  readonly instance: string = randomUUID();
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #prefix: string;
  readonly #calls: ParkedCalls;
  readonly #logger: Logger;
  readonly #replies = new Map<string, (round: WireRound) => void>();

  private constructor(redis: Redis, subscriber: Redis, prefix: string, calls: ParkedCalls, logger: Logger) {
    this.#redis = redis;
    this.#subscriber = subscriber;
    this.#prefix = prefix;
    this.#calls = calls;
    this.#logger = logger;
  }

  static async start(options: { redis: Redis; prefix: string; calls: ParkedCalls; logger: Logger }): Promise<ParkedRelay> {
    const subscriber = waitingConnection(options.redis);
    const relay = new ParkedRelay(options.redis, subscriber, options.prefix, options.calls, options.logger);
    subscriber.on('message', (channel: string, message: string) => relay.#onMessage(channel, message));
    await subscriber.subscribe(relay.#channel(relay.instance));
    return relay;
  }

  /**
   * The next round of the call parked as `id` on `instance`, after giving it
   * `responses`: here when it is this instance, else over Redis.
   */
  async next(instance: string, id: string, responses: Record<string, unknown> | undefined, signal: AbortSignal): Promise<Round> {
    if (instance === this.instance) return this.#local(id, responses, signal);
    const reply = `${this.#prefix}parked-reply:${randomUUID()}`;
    const answered = new Promise<WireRound>((resolve) => this.#replies.set(reply, resolve));
    try {
      await this.#subscriber.subscribe(reply);
      const message: Forwarded = { id, responses, reply };
      const listeners = await this.#redis.publish(this.#channel(instance), JSON.stringify(message));
      if (listeners === 0)
        throw new ProtocolError(
          INTERNAL_ERROR,
          'the Airlock instance that holds this call is gone, and the call with it: it may or may not have run; call the tool again',
        );
      const aborted = new Promise<never>((_, reject) => {
        if (signal.aborted) reject(signal.reason);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
      return fromWire(await Promise.race([answered, aborted]));
    } finally {
      this.#replies.delete(reply);
      void this.#subscriber.unsubscribe(reply).catch(() => undefined);
    }
  }

  /** A new call parked here (see ParkedCalls.open). */
  open(): ParkedCall {
    return this.#calls.open();
  }

  /** Abandons a call parked here; one parked on another instance is left to its own clock there. */
  abandon(at: { instance: string; id: string }, reason: string): void {
    if (at.instance === this.instance) this.#calls.get(at.id)?.abandon(reason);
  }

  /** Abandons the calls parked here (the instance is stopping) and stops listening. */
  async close(): Promise<void> {
    this.#calls.close('Airlock is shutting down');
    this.#subscriber.disconnect();
  }

  #local(id: string, responses: Record<string, unknown> | undefined, signal: AbortSignal): Promise<Round> {
    const call = this.#calls.get(id);
    if (!call)
      return Promise.reject(
        new ProtocolError(
          INTERNAL_ERROR,
          'this call is no longer waiting for answers (it ended, or no retry came in time); call the tool again',
        ),
      );
    return call.next(responses, signal);
  }

  #onMessage(channel: string, message: string): void {
    const reply = this.#replies.get(channel);
    if (reply) {
      try {
        reply(JSON.parse(message) as WireRound);
      } catch (err) {
        reply({ error: { code: INTERNAL_ERROR, message: `a malformed answer from another instance: ${errorMessage(err)}` } });
      }
      return;
    }
    if (channel !== this.#channel(this.instance)) return;
    let forwarded: Forwarded;
    try {
      forwarded = JSON.parse(message) as Forwarded;
    } catch {
      return;
    }
    if (
      typeof forwarded?.id !== 'string' ||
      typeof forwarded.reply !== 'string' ||
      !forwarded.reply.startsWith(`${this.#prefix}parked-reply:`)
    )
      return;
    // The retry's own request is on the other instance: this side ends only with the round, or with the call.
    void toWire(this.#local(forwarded.id, forwarded.responses, new AbortController().signal))
      .then((round) => this.#redis.publish(forwarded.reply, JSON.stringify(round)))
      .catch((err: unknown) => this.#logger.warn({ err: errorMessage(err) }, 'could not answer a parked call retried on another instance'));
  }

  #channel(instance: string): string {
    return `${this.#prefix}parked:${instance}`;
  }
}
