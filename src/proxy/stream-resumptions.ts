import type { ReconnectionScheduler } from '@modelcontextprotocol/client';

/**
 * The shortest wait before the SDK's client transport resumes an upstream's
 * SSE stream, whatever `retry:` the server sent: a server that sends
 * `retry: 0` and closes every stream it opens would otherwise have Airlock
 * reconnect in a tight loop for as long as the call lasts.
 */
export const MIN_RESUME_DELAY_MS = 250;

/** Tokens of ended calls remembered, so their streams are not resumed (see StreamResumptions). */
const ENDED_TOKENS_KEPT = 1_024;

/** What a call passes to its request (`onresumptiontoken`), and calls once it is over. */
export interface FollowedCall {
  onresumptiontoken: (token: string) => void;
  end(): void;
}

/**
 * The SSE streams of one HTTP upstream's calls that the server closed before
 * their result (SEP-1699 polling). The SDK's client transport resumes such a
 * stream by itself, with a GET carrying the last event id the call saw; it
 * has no hook for the close, so that GET, seen by `fetch`, is how a call
 * learns of it. `onClosed` runs at the first one of a call: Airlock then
 * closes its client's stream once, whatever the server does after.
 *
 * The transport also goes on resuming a stream after its call ended (timed
 * out, withdrawn), for as long as the server accepts and closes each GET:
 * the resumption of an ended call fails here, before it reaches the server,
 * which ends the transport's retries. A server that gives two calls one event
 * id can at most have one client's stream closed once, which it resumes.
 */
export class StreamResumptions {
  readonly #calls = new Map<string, () => void>();
  readonly #ended = new Set<string>();

  /** A fetch for the transport, which sees its resumptions. */
  fetch(base: typeof fetch = fetch): typeof fetch {
    return (input, init) => {
      const token = (init?.method ?? 'GET').toUpperCase() === 'GET' ? new Headers(init?.headers).get('last-event-id') : null;
      if (token !== null) {
        if (this.#ended.has(token)) return Promise.reject(new Error('not resuming the stream of a call that has ended'));
        this.#calls.get(token)?.();
      }
      return base(input, init);
    };
  }

  follow(onClosed?: () => void): FollowedCall {
    let token: string | undefined;
    let closed = false;
    const resumed = () => {
      if (closed) return;
      closed = true;
      onClosed?.();
    };
    const forget = () => {
      if (token !== undefined && this.#calls.get(token) === resumed) this.#calls.delete(token);
    };
    return {
      onresumptiontoken: (next) => {
        forget();
        token = next;
        this.#calls.set(next, resumed);
      },
      end: () => {
        forget();
        if (token === undefined) return;
        this.#ended.add(token);
        if (this.#ended.size > ENDED_TOKENS_KEPT) this.#ended.delete(this.#ended.values().next().value!);
      },
    };
  }
}

/** The transport's own timer, never sooner than MIN_RESUME_DELAY_MS. */
export const resumeNoSooner: ReconnectionScheduler = (reconnect, delay) => {
  const timer = setTimeout(reconnect, Math.max(delay, MIN_RESUME_DELAY_MS));
  return () => clearTimeout(timer);
};
