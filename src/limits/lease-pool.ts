/** Slots one request took ahead, usable until `until` (performance.now() ms). */
export interface Lease {
  id: string;
  unused: string[];
  until: number;
}

/** The most slots one request takes ahead. */
export const MAX_LEASE_SLOTS = 64;

/**
 * The slots this gateway holds ahead for one set of counters, and how busy
 * that set is, which decides how many to take next: twice the calls seen
 * in the last lease period, so a call now and then is charged on its own
 * (nothing taken ahead, nothing to give back) and a busy agent's next calls
 * find a slot waiting. Pure bookkeeping on a clock the caller passes in.
 */
export class LeasePool {
  readonly #periodMs: number;
  #leases: Lease[] = [];
  #periodStart = -Infinity;
  #seen = 0;
  #seenBefore = 0;
  /** Requests for slots on their way to Redis, and how many of their slots no waiting call has claimed yet. */
  #coming: { reply: Promise<unknown>; spare: number }[] = [];

  constructor(periodMs: number) {
    this.#periodMs = periodMs;
  }

  /** Counts a call, for `want`. */
  note(now: number): void {
    if (now - this.#periodStart >= this.#periodMs) {
      this.#seenBefore = now - this.#periodStart < 2 * this.#periodMs ? this.#seen : 0;
      this.#seen = 0;
      this.#periodStart = now;
    }
    this.#seen++;
  }

  /**
   * How many slots to ask for: the calls seen within one period before this
   * one, doubled. A period with a single call counts as none, so calls that
   * come further apart than a lease lasts never take slots they cannot use.
   */
  want(): number {
    const seen = Math.max(this.#seenBefore >= 2 ? this.#seenBefore : 0, this.#seen - 1);
    return Math.min(MAX_LEASE_SLOTS, Math.max(1, 2 * seen));
  }

  /** A slot still in time, or undefined; slots are used oldest lease first. */
  take(now: number): string | undefined {
    for (const lease of this.#leases) if (lease.until > now && lease.unused.length > 0) return lease.unused.pop();
    return undefined;
  }

  /** A request on its way that will bring `spare` slots for other calls, once `reply` settles. */
  expect(reply: Promise<unknown>, spare: number): void {
    if (spare <= 0) return;
    const coming = { reply, spare };
    this.#coming.push(coming);
    const gone = () => (this.#coming = this.#coming.filter((c) => c !== coming));
    reply.then(gone, gone);
  }

  /**
   * Claims a slot of a request on its way: its reply, to wait for and then
   * `take`, or undefined when none is coming (then ask Redis). A request may
   * bring fewer slots than asked, so a claim is a good guess, not a slot.
   */
  claim(): Promise<unknown> | undefined {
    const coming = this.#coming.find((c) => c.spare > 0);
    if (!coming) return undefined;
    coming.spare--;
    return coming.reply;
  }

  /** Slots on their way that no call has claimed yet. */
  get coming(): number {
    return this.#coming.reduce((n, c) => n + c.spare, 0);
  }

  add(lease: Lease): void {
    this.#leases.push(lease);
  }

  /** Slots still in time. */
  available(now: number): number {
    let n = 0;
    for (const lease of this.#leases) if (lease.until > now) n += lease.unused.length;
    return n;
  }

  /** Removes the leases that ended by `now` (all of them without `now`) and returns them, for their unused slots to be given back. */
  ended(now = Infinity): Lease[] {
    const ended = this.#leases.filter((lease) => lease.until <= now);
    this.#leases = this.#leases.filter((lease) => lease.until > now);
    return ended;
  }

  /** Nothing held, nothing asked, no call for two periods: the pool can be forgotten. */
  idle(now: number): boolean {
    return this.#leases.length === 0 && this.#coming.length === 0 && now - this.#periodStart >= 2 * this.#periodMs;
  }
}
