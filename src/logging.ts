import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import { capText, MAX_TEXT_CHARS } from './cap-text.js';
import { AirlockError, ErrorCode } from './errors.js';

export interface LogSettings {
  level?: string;
  pretty?: boolean;
}

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/**
 * The config's `log` section with the environment's word over it:
 * AIRLOCK_LOG_LEVEL and AIRLOCK_LOG_PRETTY (1/true or 0/false), so an
 * operator can turn on debug for one run without editing the config.
 */
export function logSettings(config: LogSettings, env: NodeJS.ProcessEnv): LogSettings {
  const level = env.AIRLOCK_LOG_LEVEL?.trim().toLowerCase();
  if (level !== undefined && level !== '' && !LEVELS.has(level)) {
    throw new AirlockError(
      ErrorCode.ConfigInvalid,
      `AIRLOCK_LOG_LEVEL: "${level}" is not a log level; use one of ${[...LEVELS].join(', ')}`,
    );
  }
  const prettyWord = env.AIRLOCK_LOG_PRETTY?.trim().toLowerCase();
  if (prettyWord !== undefined && prettyWord !== '' && !['1', '0', 'true', 'false'].includes(prettyWord)) {
    throw new AirlockError(ErrorCode.ConfigInvalid, `AIRLOCK_LOG_PRETTY: "${prettyWord}" is neither 1/true nor 0/false`);
  }
  return {
    ...((level || config.level) && { level: level || config.level }),
    pretty: prettyWord === undefined || prettyWord === '' ? config.pretty === true : prettyWord === '1' || prettyWord === 'true',
  };
}

/**
 * pino JSON lines on stdout, or on stderr in stdio mode, where stdout carries
 * the protocol; `pretty` writes the same lines for a person instead. Never
 * log secrets or whole arguments (log their digest).
 */
export function createLogger(options: LogSettings & { fd?: 1 | 2 } = {}): Logger {
  const fd = options.fd ?? 1;
  const settings = {
    level: options.level ?? 'info',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { log: capLogFields },
  };
  if (options.pretty)
    return pino(
      settings,
      pretty({
        destination: fd,
        sync: false,
        colorize: (fd === 1 ? process.stdout : process.stderr).isTTY === true,
        translateTime: 'SYS:HH:MM:ss.l',
      }),
    );
  return pino(settings, pino.destination({ fd, sync: false }));
}

/**
 * Log lines carry names and texts an agent or an upstream chose (a tool
 * name, a client name, an error message): each string field is cut to
 * MAX_TEXT_CHARS with a marker, so one oversized request cannot make every
 * line about it as large. The object is returned as is when nothing is long.
 */
export function capLogFields(fields: Record<string, unknown>): Record<string, unknown> {
  let capped: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(fields)) {
    const cut = capValue(value);
    if (cut !== value) (capped ??= { ...fields })[key] = cut;
  }
  return capped ?? fields;
}

function capValue(value: unknown): unknown {
  if (typeof value === 'string') return value.length > MAX_TEXT_CHARS ? capText(value, MAX_TEXT_CHARS) : value;
  if (Array.isArray(value) && value.some((v) => typeof v === 'string' && v.length > MAX_TEXT_CHARS)) return value.map(capValue);
  return value;
}
