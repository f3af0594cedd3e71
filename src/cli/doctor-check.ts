/** One line of `airlock doctor`: `ok`, `warn` (does not fail the run) or `error` (exit 1), what was checked, and what was found. */
export interface Check {
  level: 'ok' | 'warn' | 'error';
  what: string;
  detail: string;
}
