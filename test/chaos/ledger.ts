import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';

/** How one agent call ended, read from its tool result (or the error it threw). */
export type Outcome = 'released' | 'rejected' | 'expired' | 'withdrawn' | 'unavailable' | 'denied' | 'rate_limited' | 'failed';

const BY_DECISION: Record<string, Outcome> = {
  // An approved call's result is the upstream's own, with the approval added under `_meta`.
  approved: 'released',
  rejected: 'rejected',
  expired: 'expired',
  withdrawn: 'withdrawn',
  unavailable: 'unavailable',
  denied: 'denied',
  tampered: 'denied',
  rate_limited: 'rate_limited',
};

/**
 * A result without `_meta["airlock/decision"]`, or with `approved` there,
 * came from the upstream: the call was released. A thrown error (transport gone, gateway killed) is
 * `failed`: the agent learnt nothing, and whether the upstream saw the call
 * is for the upstream's own record to say.
 */
export function outcomeOf(settled: PromiseSettledResult<unknown>): Outcome {
  if (settled.status === 'rejected') return 'failed';
  const result = settled.value as { isError?: boolean; _meta?: Record<string, { decision?: string } | undefined> };
  const decision = result._meta?.['airlock/decision']?.decision;
  if (decision === undefined) return 'released';
  const outcome = BY_DECISION[decision];
  assert.ok(outcome, `unexpected decision ${decision} in ${JSON.stringify(result)}`);
  return outcome;
}

export interface ChaosCounts {
  /** Calls that were held for approval. */
  held: number;
  /** Calls the upstream really received. */
  released: number;
  rejected: number;
  expired: number;
  /** Every other refusal: withdrawn, unavailable, denied, rate limited, failed. */
  refused: number;
  /** Calls the upstream received with no approval on record: must be 0. */
  wrongly_released: number;
  /** Approvals a reviewer gave whose call neither ran nor ended with a reason: must be 0. */
  approvals_lost: number;
  /** Calls admitted beyond a limit: must be 0. */
  over_admitted: number;
}

export function emptyCounts(): ChaosCounts {
  return { held: 0, released: 0, rejected: 0, expired: 0, refused: 0, wrongly_released: 0, approvals_lost: 0, over_admitted: 0 };
}

/** Adds agent outcomes to the counts (`released` is set from the upstream's record, not from here). */
export function countOutcomes(counts: ChaosCounts, outcomes: Outcome[]): ChaosCounts {
  for (const outcome of outcomes) {
    if (outcome === 'rejected') counts.rejected++;
    else if (outcome === 'expired') counts.expired++;
    else if (outcome !== 'released') counts.refused++;
  }
  return counts;
}

/**
 * Prints one line of counts (visible in the spec reporter and in CI logs),
 * then asserts the three promises every chaos test keeps.
 */
export function reportCounts(t: TestContext, counts: ChaosCounts, extra: Record<string, number | string> = {}): void {
  const line = Object.entries({ ...counts, ...extra })
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  t.diagnostic(`counts: ${line}`);
  console.log(`# chaos ${t.name}: ${line}`);
  assert.equal(counts.wrongly_released, 0, 'no call may reach the upstream without an approval');
  assert.equal(counts.approvals_lost, 0, 'no approval may be lost');
  assert.equal(counts.over_admitted, 0, 'no call may be admitted beyond its limit');
}
