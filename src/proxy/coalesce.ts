/**
 * `run` one at a time. A call while no run is under way starts one; a call
 * during a run is answered by the next run, which starts when that one ends,
 * however many calls arrived meanwhile. So a burst of requests costs at most
 * two runs, and each caller still gets a run that began after it asked (a
 * change announced during a read is read again, not missed).
 */
export function coalesced<T>(run: () => Promise<T>): () => Promise<T> {
  let running = false;
  let waiting: { resolve: (value: T) => void; reject: (err: unknown) => void }[] = [];
  const drain = async () => {
    running = true;
    while (waiting.length > 0) {
      const batch = waiting;
      waiting = [];
      try {
        const value = await run();
        for (const caller of batch) caller.resolve(value);
      } catch (err) {
        for (const caller of batch) caller.reject(err);
      }
    }
    // No await between the last check of `waiting` and this: a call cannot slip in between and be left unanswered.
    running = false;
  };
  return () =>
    new Promise<T>((resolve, reject) => {
      waiting.push({ resolve, reject });
      if (!running) void drain();
    });
}
