/** Most sessions open at once: per grant (all agents together when there are no grants) across every instance, and in all on one instance. */
export interface SessionLimits {
  perGrant: number;
  total: number;
}

export type SlotTaken = { ok: true; release: () => void } | { ok: false; limit: 'total'; max: number };

/**
 * The MCP sessions (and 2026 listen streams) each grant has open on this
 * instance, for `listen.max_sessions`, which bounds what one instance holds
 * in memory. The per-grant limit counts across instances and lives in Redis
 * (see SessionStore); a session rebuilt here from its record takes a slot of
 * this instance's total, as it costs this instance what one opened here does.
 * A slot is taken before anything is awaited, so a burst of concurrent
 * `initialize` requests cannot all pass the check; it is given back once,
 * when that session's transport closes or its opening fails. Grants are the
 * config's, so the map stays as small as the config.
 */
export class SessionSlots {
  readonly #limits: SessionLimits;
  readonly #open = new Map<string | undefined, number>();
  #total = 0;

  constructor(limits: SessionLimits) {
    this.#limits = limits;
  }

  take(grant: string | undefined): SlotTaken {
    if (this.#total >= this.#limits.total) return { ok: false, limit: 'total', max: this.#limits.total };
    this.#open.set(grant, (this.#open.get(grant) ?? 0) + 1);
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

  /** Open sessions by grant on this instance; a grant that had some and has none now is listed with 0. */
  counts(): [grant: string | undefined, open: number][] {
    return [...this.#open];
  }
}
