/**
 * Requests refused before anyone is identified (an unsigned or forged Slack
 * request, say) cost whoever sends them nothing, so each cannot become an
 * audit event: the trail, and Redis, would grow at their rate. Of each kind,
 * the first refusal in a window is audited in full; the rest are counted,
 * and one summary at the window's end says how many there were and when.
 */
export interface RefusalSamplerOptions<K extends string> {
  windowMs: number;
  now: () => number;
  /** `count` more refusals of `kind` were not audited one by one, between `from` and `to` (ms). */
  summarize: (kind: K, count: number, from: number, to: number) => void;
}

interface Window {
  endsAt: number;
  suppressed: number;
  firstSuppressedAt: number;
  lastSuppressedAt: number;
  timer: NodeJS.Timeout | undefined;
}

export class RefusalSampler<K extends string> {
  readonly #options: RefusalSamplerOptions<K>;
  readonly #windows = new Map<K, Window>();

  constructor(options: RefusalSamplerOptions<K>) {
    this.#options = options;
  }

  /** Whether this refusal of `kind` is to be audited in full; otherwise it is counted for the summary. */
  admit(kind: K): boolean {
    const now = this.#options.now();
    const window = this.#windows.get(kind);
    if (window === undefined || now >= window.endsAt) {
      if (window) this.#summarize(kind, window);
      this.#windows.set(kind, {
        endsAt: now + this.#options.windowMs,
        suppressed: 0,
        firstSuppressedAt: 0,
        lastSuppressedAt: 0,
        timer: undefined,
      });
      return true;
    }
    if (window.suppressed === 0) {
      window.firstSuppressedAt = now;
      window.timer = setTimeout(() => this.#summarize(kind, window), window.endsAt - now);
      window.timer.unref();
    }
    window.suppressed += 1;
    window.lastSuppressedAt = now;
    return false;
  }

  /** Writes every pending summary now (the gateway is stopping). */
  flush(): void {
    for (const [kind, window] of this.#windows) this.#summarize(kind, window);
    this.#windows.clear();
  }

  #summarize(kind: K, window: Window): void {
    clearTimeout(window.timer);
    window.timer = undefined;
    if (window.suppressed === 0) return;
    const { suppressed, firstSuppressedAt, lastSuppressedAt } = window;
    window.suppressed = 0;
    this.#options.summarize(kind, suppressed, firstSuppressedAt, lastSuppressedAt);
  }
}
