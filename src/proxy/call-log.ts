import type { Logger } from 'pino';

type Fields = Record<string, unknown>;

/** Log lines about one call, each carrying the call's fields (`request_id`, server, tool, …). */
export interface CallLog {
  debug(fields: Fields, message: string): void;
  info(fields: Fields, message: string): void;
  warn(fields: Fields, message: string): void;
  error(fields: Fields, message: string): void;
  /** The same log with more fields on every line (`approval_id` once a call is held). */
  with(fields: Fields): CallLog;
}

/**
 * A pino child logger per call would do the same, but each child is an
 * object with its own prototype chain that lives as long as the call: with
 * thousands of calls held for approval that adds up. Fields are merged only
 * for lines that are written.
 */
export function callLog(logger: Logger, base: Fields): CallLog {
  const at = (level: 'debug' | 'info' | 'warn' | 'error') => (fields: Fields, message: string) => {
    if (logger.isLevelEnabled(level)) logger[level]({ ...base, ...fields }, message);
  };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    with: (more) => callLog(logger, { ...base, ...more }),
  };
}
