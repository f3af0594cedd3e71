import type { AuditEvent } from './event.js';

/** A JSON-lines line: the stored JSON byte for byte, with the stream id put first, so a file of them verifies like the mirror. */
export function jsonLine(id: string, raw: string): string {
  return `{"id":${JSON.stringify(id)},${raw.slice(1)}`;
}

const CSV_COLUMNS = [
  'id',
  'seq',
  'time',
  'event',
  'instance',
  'request_id',
  'approval_id',
  'grant',
  'session',
  'client',
  'server',
  'tool',
  'decision',
  'rule',
  'reason',
  'approvers',
  'channel',
  'result',
  'duration_ms',
  'detail',
  'admin',
  'digest',
  'arguments',
  'arguments_truncated',
  'prev',
  'hash',
  // Added later, so at the end: an export read by column position keeps its columns.
  'method',
  'resource',
  'prompt',
  'checkpoint',
  'protocol',
  'answer',
  'task_id',
] as const;

export const CSV_HEADER = CSV_COLUMNS.join(',');

/** One CSV row (RFC 4180) per event, columns as CSV_HEADER. */
export function csvRow(event: AuditEvent): string {
  return CSV_COLUMNS.map((column) => csvCell(cellText(event, column))).join(',');
}

function cellText(event: AuditEvent, column: (typeof CSV_COLUMNS)[number]): string {
  if (column === 'approvers')
    return (event.approvers ?? [])
      .map((a) =>
        [
          a.id,
          a.name && `(${a.name})`,
          a.person && `as ${a.person}`,
          a.verdict,
          `via ${a.via}`,
          a.at !== undefined && `at ${new Date(a.at).toISOString()}`,
        ]
          .filter(Boolean)
          .join(' '),
      )
      .join('; ');
  const value = event[column];
  if (value === undefined || value === null) return '';
  if (column === 'arguments' || column === 'checkpoint') return typeof value === 'string' ? value : JSON.stringify(value);
  return String(value);
}

/**
 * Quoted when it must be; and a cell a spreadsheet would run as a formula
 * (`=`, `+`, `-`, `@` first: arguments come from agents) is prefixed with `'`.
 */
function csvCell(text: string): string {
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}
