/**
 * Counts the calls between arrival and answer and, once closed at shutdown,
 * tells new ones to go elsewhere while the counted ones finish.
 */
export class CallGate {
  #inFlight = 0;
  #closed = false;
  #waiters: (() => void)[] = [];

  get closed(): boolean {
    return this.#closed;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  close(): void {
    this.#closed = true;
  }

  enter(): void {
    this.#inFlight++;
  }

  leave(): void {
    if (--this.#inFlight > 0) return;
    for (const resolve of this.#waiters.splice(0)) resolve();
  }

  /** Resolves true once no call is in flight, or false when `timeoutMs` passes first. */
  async drained(timeoutMs: number): Promise<boolean> {
    if (this.#inFlight === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.#waiters.push(() => resolve(true)));
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    try {
      return await Promise.race([idle, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
