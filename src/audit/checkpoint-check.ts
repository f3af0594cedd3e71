import { checkpointLimits, describeDuration } from '../config/index.js';
import type { ChainHead, ChainProblem, ChainReport } from './chain.js';
import { checkpointSigned } from './checkpoint.js';
import type { AuditEvent } from './event.js';

/** What verification holds checkpoints to: the anchor key, and how often the gateways were told to sign. */
export interface CheckpointRules {
  key: Buffer;
  everyEvents: number;
  everyMs: number;
}

export interface VerifyOptions {
  /** With the anchor key: check every checkpoint, and that the newest is recent enough. */
  checkpoints?: CheckpointRules;
  /** The time the end of the trail is judged against (default: now). */
  asOf?: { ms: number; now: boolean };
}

export interface NewestCheckpoint {
  /** The checkpoint event's own seq. */
  seq: number;
  /** The seq of the event it signs: every event up to it is fixed. */
  covers: number;
  time: string;
}

export interface CheckpointReport {
  /** Checkpoints among the events read. */
  count: number;
  /** Whether their signatures were checked (an anchor key was given). */
  checked: boolean;
  /** The one covering the most events (with no key: as it says, unchecked). */
  newest?: NewestCheckpoint;
  /** With a key: the events after what the newest checkpoint covers, which nothing signs yet: a cut there cannot be told. */
  unproven?: { first: number; last: number };
  problem?: ChainProblem;
}

/** Hashes kept of the latest events: a checkpoint is written right behind the event it signs, never this far. */
const RECENT = 65_536;

/**
 * Checks checkpoints as the chain check walks the events (`observe`, for
 * each event the chain check accepted), then the end of the trail
 * (`finish`). Pure: the time to judge the end against is passed in.
 * Events up to `start` (trimmed by retention, or before a file begins) are
 * gone: what a checkpoint says of them cannot be checked, and is not.
 */
export class CheckpointCheck {
  readonly #rules: CheckpointRules | undefined;
  readonly #start: number;
  readonly #recent = { seqs: new Array<number>(RECENT), hashes: new Array<string>(RECENT) };
  /** Seqs of the checkpoint events read, for the `previous` each names. */
  readonly #seen = new Set<number>();
  #newest: NewestCheckpoint | undefined;

  constructor(rules: CheckpointRules | undefined, start: ChainHead) {
    this.#rules = rules;
    this.#start = start.seq;
  }

  /** Takes the next event; returns what is wrong with it (to follow "event seq N (…)"), if anything. */
  observe(event: AuditEvent): string | undefined {
    this.#recent.seqs[event.seq % RECENT] = event.seq;
    this.#recent.hashes[event.seq % RECENT] = event.hash;
    if (event.event !== 'audit_checkpoint') return undefined;
    const problem = this.#rules ? this.#check(event, this.#rules.key) : undefined;
    if (problem !== undefined) return problem;
    this.#seen.add(event.seq);
    const covers = event.checkpoint?.seq ?? 0;
    if (!this.#newest || covers >= this.#newest.covers) this.#newest = { seq: event.seq, covers, time: event.time };
    return undefined;
  }

  /** What was found so far, the end not judged (the walk stopped at a problem). */
  found(): CheckpointReport {
    return { count: this.#seen.size, checked: this.#rules !== undefined, ...(this.#newest && { newest: this.#newest }) };
  }

  /** The report once every event up to seq `last` was read, the end judged as of `asOf` (ms; `now`: whether that is the present). */
  finish(last: number, asOf: { ms: number; now: boolean }): CheckpointReport {
    const newest = this.#newest;
    const report = this.found();
    const rules = this.#rules;
    if (!rules || last <= this.#start) return report;
    const end = (seq: number, message: string): CheckpointReport => ({
      ...report,
      problem: { where: 'the end of the trail', seq, message },
    });
    if (!newest) {
      return end(
        this.#start + 1,
        `no checkpoint among events seq ${this.#start + 1}–${last}: none was signed (no gateway with audit.anchor_key has written since), or they were removed`,
      );
    }
    const unproven = { first: newest.covers + 1, last };
    report.unproven = unproven;
    const limits = checkpointLimits(rules.everyEvents, rules.everyMs);
    const after = last - newest.covers;
    if (after > limits.events) {
      return end(
        unproven.first,
        `${after} events (seq ${unproven.first}–${last}) are not covered by a checkpoint (the newest, event seq ${newest.seq} signed at ${newest.time}, covers seq ${newest.covers}), more than audit.checkpoint.events (${rules.everyEvents}) + 1024: checkpoints stopped being written (a gateway without audit.anchor_key?), or were removed`,
      );
    }
    const age = asOf.ms - Date.parse(newest.time);
    if (age > limits.ms) {
      const when = asOf.now ? 'now' : new Date(asOf.ms).toISOString();
      return end(
        unproven.first,
        `the newest checkpoint (event seq ${newest.seq}, covering events through seq ${newest.covers}) was signed at ${newest.time}, ${describeAge(age)} before ${when}, but gateways sign one every ${describeDuration(rules.everyMs)}: events after it were cut from the end of the trail (and the head reset), or no gateway has run since. If every gateway has been stopped since ${newest.time}, verify as of then: --as-of ${newest.time}`,
      );
    }
    return report;
  }

  #check(event: AuditEvent, key: Buffer): string | undefined {
    const checkpoint = event.checkpoint;
    if (!checkpoint) return 'is a checkpoint without its signature: it was changed';
    if (!checkpointSigned(key, checkpoint, event.time))
      return 'is a checkpoint whose signature does not match: it was forged or changed, or the gateways sign with another audit.anchor_key';
    if (checkpoint.reached !== undefined) {
      return `is a checkpoint recording that the trail had reached seq ${checkpoint.reached} before its head was set back (signed by ${event.instance}): events up to seq ${checkpoint.reached} were cut from its end, or Redis lost them`;
    }
    // Before the seq checks: a checkpoint removed and the rest renumbered also leaves the next one "not before" what it signs.
    const previous = checkpoint.previous;
    if (previous > this.#start && !this.#seen.has(previous)) {
      return `is a checkpoint naming event seq ${previous} as the checkpoint before it, but that is not a checkpoint: a checkpoint was removed (and the events after it renumbered)`;
    }
    if (checkpoint.seq >= event.seq) return `is a checkpoint of event seq ${checkpoint.seq}, which is not before it: it was moved`;
    if (checkpoint.seq <= this.#start) return undefined;
    const at = checkpoint.seq % RECENT;
    if (this.#recent.seqs[at] !== checkpoint.seq)
      return `is a checkpoint of event seq ${checkpoint.seq}, more than ${RECENT} events before it: it was moved`;
    if (this.#recent.hashes[at] !== checkpoint.hash) {
      return `is a checkpoint of event seq ${checkpoint.seq}, but that event's hash is not the one signed: event seq ${checkpoint.seq} or one before it was changed, removed or replaced (and the chain after it recomputed)`;
    }
    return undefined;
  }
}

/** The chain's report with what the checkpoints say; the end is judged only when the whole chain held (a broken chain is the first thing wrong). */
export function endOfTrail(
  report: ChainReport,
  checkpoints: CheckpointCheck,
  last: number,
  asOf: { ms: number; now: boolean },
): ChainReport & { checkpoints: CheckpointReport } {
  if (report.problem) return { ...report, checkpoints: checkpoints.found() };
  const { problem, ...found } = checkpoints.finish(last, asOf);
  return { ...report, ...(problem && { problem }), checkpoints: found };
}

/** `95 s`, `12 min`, `3 h`, `4 days`: how long ago, roughly. */
function describeAge(ms: number): string {
  const s = Math.round(ms / 1_000);
  if (s < 120) return `${s} s`;
  if (s < 7_200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3_600)} h`;
  return `${Math.round(s / 86_400)} days`;
}
