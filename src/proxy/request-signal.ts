/**
 * A `fetch` for the SDK's HTTP client transports that gives every request
 * its own AbortSignal, aborted when the transport's shared one is.
 *
 * Why: StreamableHTTPClientTransport (and SSEClientTransport's POSTs) pass
 * one long-lived signal to every `fetch`, and Node's fetch (undici) adds an
 * abort listener to that signal per request that only a garbage collection
 * removes. Under steady traffic the shared signal collects thousands of
 * listeners: each new request then walks them (`getEventListeners`, the
 * duplicate check) and, past 1,500, Node prints a MaxListenersExceededWarning
 * with a stack trace to stderr for every call. Here the shared signal gets a
 * single listener, which aborts the requests still in progress (bodies
 * included, so closing the transport still ends its open streams).
 */
const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

export function withRequestSignals(base: typeof fetch = fetch): typeof fetch {
  const inFlight = new WeakMap<AbortSignal, Set<AbortController>>();
  const requestsOf = (shared: AbortSignal): Set<AbortController> => {
    let set = inFlight.get(shared);
    if (!set) {
      const live = new Set<AbortController>();
      shared.addEventListener(
        'abort',
        () => {
          for (const controller of live) controller.abort(shared.reason);
          live.clear();
        },
        { once: true },
      );
      inFlight.set(shared, live);
      set = live;
    }
    return set;
  };

  return async (input, init) => {
    const shared = init?.signal;
    if (!shared) return base(input, init);
    const own = new AbortController();
    if (shared.aborted) own.abort(shared.reason);
    const live = requestsOf(shared);
    live.add(own);
    const release = () => live.delete(own);

    let response: Response;
    try {
      response = await base(input, { ...init, signal: own.signal });
    } catch (err) {
      release();
      throw err;
    }
    if (!response.body || NULL_BODY_STATUS.has(response.status)) {
      release();
      return response;
    }
    // The body (an SSE stream, often) may outlive the headers: release once it ends, fails or is cancelled.
    const reader = response.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            release();
            controller.close();
          } else {
            controller.enqueue(value);
          }
        } catch (err) {
          release();
          controller.error(err);
        }
      },
      cancel(reason) {
        release();
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
