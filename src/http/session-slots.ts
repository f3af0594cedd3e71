/** Most sessions open at once on one instance: per grant (all agents together when there are no grants), and in all. */
export interface SessionLimits {
  perGrant: number;
  total: number;
}

export type SlotTaken = { ok: true; release: () => void } | { ok: false; limit: 'grant' | 'total'; max: number };

/**
 * The MCP sessions each grant has open on this instance. A slot is taken
 * when an `initialize` is accepted, before anything is awaited, so a burst of
 * concurrent `initialize` requests cannot all pass the check; it is given
 * back once, when that session's transport closes or the `initialize` fails.
 * Grants are the config's, so the map stays as small as the config.
 */
export class SessionSlots {
  readonly #limits: SessionLimits;
  readonly #open = new Map<string | undefined, number>();
  #total = 0;

  constructor(limits: SessionLimits) {
    this.#limits = limits;
  }

  /** A slot for a new session of `grant`, or which limit is reached (the grant's own first: its agents can do something about that one). */
  take(grant: string | undefined): SlotTaken {
    const open = this.#open.get(grant) ?? 0;
    if (open >= this.#limits.perGrant) return { ok: false, limit: 'grant', max: this.#limits.perGrant };
    if (this.#total >= this.#limits.total) return { ok: false, limit: 'total', max: this.#limits.total };
    this.#open.set(grant, open + 1);
    this.#total++;
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.#open.set(grant, (this.#open.get(grant) ?? 1) - 1);
        this.#total--;
      },
    };
  }

  get total(): number {
    return this.#total;
  }

  /** Open sessions by grant; a grant that had some and has none now is listed with 0. */
  counts(): [grant: string | undefined, open: number][] {
    return [...this.#open];
  }
}
