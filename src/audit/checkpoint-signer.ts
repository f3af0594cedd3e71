import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { ChainHead, DraftEvent } from './chain.js';
import { checkpointDraft, type CheckpointSettings } from './checkpoint.js';

/** How long a claim to sign the next checkpoint lasts: its holder appends it on its next call, within milliseconds, unless it died. */
const CLAIM_LEASE_MS = 5_000;

/** What the append script said about checkpoints. */
export interface CheckpointReply {
  /** This instance is to sign the next checkpoint. */
  claimed: boolean;
  /** The seq of the newest checkpoint, as the script knows it (0: none). */
  newest: number;
}

/**
 * One writer's part in checkpointing (see append.lua): what it asks the
 * script, and which checkpoint it signs after an append. It signs when it
 * holds the claim, and also, unasked, when the head it is shown is below one
 * it saw before: the checkpoint then signs how far the trail had reached, so
 * the cut stays on record whoever reset the head.
 */
export class CheckpointSigner {
  readonly #settings: CheckpointSettings;
  readonly #instance: string;
  readonly #logger: Logger;
  readonly #token: string;
  /** The highest seq this instance has seen the head at. */
  #highest = 0;

  constructor(settings: CheckpointSettings, instance: string, logger: Logger) {
    this.#settings = settings;
    this.#instance = instance;
    this.#logger = logger;
    this.#token = `${instance}/${randomUUID()}`;
  }

  get everyMs(): number {
    return this.#settings.everyMs;
  }

  /** The script's checkpoint argument; `force` claims the next checkpoint whether due or not (a closing instance signs what it leaves). */
  request(force: boolean): string {
    return `${this.#settings.everyEvents} ${this.#settings.everyMs} ${CLAIM_LEASE_MS} ${force ? 1 : 0} ${this.#token}`;
  }

  /** After an append of `appended` events that left the chain at `head`: the checkpoint to write next, if any. */
  after(head: ChainHead, appended: number, reply: CheckpointReply, now: number): DraftEvent | undefined {
    if (head.seq === 0) return undefined;
    const before = head.seq - appended;
    const reached = before < this.#highest ? this.#highest : undefined;
    this.#highest = head.seq;
    if (reached !== undefined) {
      this.#logger.error(
        { reached, head: before },
        `the audit trail went back from seq ${reached} to seq ${before}: events were cut from its end (or Redis lost them); a signed checkpoint records it`,
      );
    }
    if (!reply.claimed && reached === undefined) return undefined;
    return checkpointDraft(
      this.#settings.key,
      { seq: head.seq, hash: head.hash, previous: reply.newest, ...(reached !== undefined && { reached }) },
      now,
      this.#instance,
    );
  }
}
