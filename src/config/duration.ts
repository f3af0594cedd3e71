import { z } from 'zod';

const NAMED: Record<string, number> = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000 };
const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Reads `second|minute|hour|day`, a number of seconds, or `90s` / `15m` / `1h` / `1d` / `250ms`
 * and returns milliseconds, or a message saying what was expected.
 */
export function parseDuration(input: string | number): number | string {
  if (typeof input === 'number') {
    return Number.isFinite(input) && input > 0 ? Math.round(input * 1000) : `must be a positive number of seconds, got ${input}`;
  }
  const named = NAMED[input.trim()];
  if (named !== undefined) return named;
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(input.trim());
  if (!match)
    return `expected a duration like "90s", "15m", "1h", "1d", a number of seconds or second|minute|hour|day, got ${JSON.stringify(input)}`;
  const ms = Math.round(Number(match[1]) * (UNITS[match[2] ?? 's'] ?? 1_000));
  return ms > 0 ? ms : `must be longer than zero, got ${JSON.stringify(input)}`;
}

/** Human form of a duration in milliseconds: `1 minute`, `90 seconds`, `2 hours`. */
export function describeDuration(ms: number): string {
  for (const [unit, size] of [
    ['day', 86_400_000],
    ['hour', 3_600_000],
    ['minute', 60_000],
    ['second', 1_000],
  ] as const) {
    if (ms >= size && ms % size === 0) return ms === size ? `1 ${unit}` : `${ms / size} ${unit}s`;
  }
  return `${ms} ms`;
}

/** The span a rate is counted over: `minute` for one minute, `90 seconds` otherwise (as in "10 per minute"). */
export function describePer(ms: number): string {
  return describeDuration(ms).replace(/^1 /, '');
}

/**
 * A zod field for durations that keeps what the user wrote in the document
 * (for messages and JSON Schema) while checking that it parses and stays
 * within `maxMs`.
 */
export function durationField(maxMs: number) {
  return z
    .union([z.number(), z.string()])
    .superRefine((value, ctx) => {
      const ms = parseDuration(value);
      if (typeof ms === 'string') ctx.addIssue({ code: 'custom', message: ms });
      else if (ms > maxMs) ctx.addIssue({ code: 'custom', message: `at most ${describeDuration(maxMs)}, got ${JSON.stringify(value)}` });
    })
    .meta({ description: 'A duration: second|minute|hour|day, a number of seconds, or "90s", "15m", "1h", "1d".' });
}

/** Milliseconds of a duration that the schema has already accepted. */
export function durationMs(value: string | number): number {
  const ms = parseDuration(value);
  if (typeof ms === 'string') throw new Error(`unchecked duration: ${ms}`);
  return ms;
}
