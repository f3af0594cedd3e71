import type { ScenarioScore, SuiteRun } from './conformance.js';

export type Verdict = 'same' | 'lost' | 'expected' | 'stale';

export interface ScenarioRow {
  scenario: string;
  direct: ScenarioScore | undefined;
  through: ScenarioScore | undefined;
  /** Checks passed directly that did not pass through Airlock (0 when through passed as many or more). */
  lost: number;
  verdict: Verdict;
  /** Why the scenario is listed in the expected failures, when it is. */
  reason: string | undefined;
}

export interface Comparison {
  rows: ScenarioRow[];
  /** Scenarios that lost checks through Airlock and are not listed. */
  unexpected: ScenarioRow[];
  /** Listed scenarios that lost nothing (or did not run): the list must shrink. */
  stale: ScenarioRow[];
}

/**
 * Holds the run through Airlock to the direct run, scenario by scenario: a
 * scenario passing fewer checks through Airlock is a failure unless
 * `expected` lists it, and a listed scenario that loses nothing is stale, so
 * the issue that fixes it must also empty its line.
 */
export function compareRuns(direct: SuiteRun, through: SuiteRun, expected: Map<string, string>): Comparison {
  const names = [...new Set([...direct.keys(), ...through.keys(), ...expected.keys()])];
  const rows = names.map((scenario): ScenarioRow => {
    const d = direct.get(scenario);
    const t = through.get(scenario);
    const lost = Math.max(0, (d?.passed ?? 0) - (t?.passed ?? 0));
    const reason = expected.get(scenario);
    const verdict: Verdict = reason === undefined ? (lost > 0 ? 'lost' : 'same') : lost > 0 ? 'expected' : 'stale';
    return { scenario, direct: d, through: t, lost, verdict, reason };
  });
  return { rows, unexpected: rows.filter((r) => r.verdict === 'lost'), stale: rows.filter((r) => r.verdict === 'stale') };
}

const score = (s: ScenarioScore | undefined) => (s === undefined ? '—' : `${s.passed}/${s.passed + s.failed}`);
const MARK: Record<Verdict, string> = { same: '', lost: 'LOST', expected: 'expected', stale: 'STALE' };

/** The comparison as a fixed-width table, one line per scenario, and totals. */
export function formatTable(title: string, comparison: Comparison): string[] {
  const width = Math.max(8, ...comparison.rows.map((r) => r.scenario.length));
  const line = (a: string, b: string, c: string, d: string) => `${a.padEnd(width)}  ${b.padStart(7)}  ${c.padStart(7)}  ${d}`;
  const total = (pick: (r: ScenarioRow) => ScenarioScore | undefined) =>
    comparison.rows.reduce((sum, r) => sum + (pick(r)?.passed ?? 0), 0);
  return [
    title,
    line('scenario', 'direct', 'airlock', ''),
    ...comparison.rows.map((r) => line(r.scenario, score(r.direct), score(r.through), MARK[r.verdict])),
    line('passed', String(total((r) => r.direct)), String(total((r) => r.through)), ''),
  ];
}
