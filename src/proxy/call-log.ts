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
 * for lines that are written, and the methods are the class's, shared by
 * every call, not closures of each.
 */
export function callLog(logger: Logger, base: Fields): CallLog {
  return new FieldsLog(logger, base);
}

class FieldsLog implements CallLog {
  readonly #logger: Logger;
  readonly #base: Fields;

  constructor(logger: Logger, base: Fields) {
    this.#logger = logger;
    this.#base = base;
  }

  debug(fields: Fields, message: string): void {
    this.#write('debug', fields, message);
  }

  info(fields: Fields, message: string): void {
    this.#write('info', fields, message);
  }

  warn(fields: Fields, message: string): void {
    this.#write('warn', fields, message);
  }

  error(fields: Fields, message: string): void {
    this.#write('error', fields, message);
  }

  with(fields: Fields): CallLog {
    return new FieldsLog(this.#logger, { ...this.#base, ...fields });
  }

  #write(level: 'debug' | 'info' | 'warn' | 'error', fields: Fields, message: string): void {
    if (this.#logger.isLevelEnabled(level)) this.#logger[level]({ ...this.#base, ...fields }, message);
  }
}
