import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import { capText, MAX_TEXT_CHARS } from './cap-text.js';
import { AirlockError, ErrorCode } from './errors.js';
import { escapeInvisible, escapeInvisibleInJson } from './invisible-characters.js';

export interface LogSettings {
  level?: string;
  /** `auto`: lines for a person when the log's destination is a terminal, JSON lines otherwise. */
  pretty?: boolean | 'auto';
  /** NO_COLOR is set: lines for a person stay uncoloured even on a terminal. */
  noColor?: boolean;
}

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
const PRETTY_WORDS: Record<string, boolean | 'auto'> = { '1': true, true: true, '0': false, false: false, auto: 'auto' };

/**
 * The config's `log` section with the environment's word over it:
 * AIRLOCK_LOG_LEVEL and AIRLOCK_LOG_PRETTY (1/true, 0/false or auto), so an
 * operator can turn on debug, or JSON on a terminal, for one run without
 * editing the config. NO_COLOR (https://no-color.org) is honoured too.
 */
export function logSettings(config: LogSettings, env: NodeJS.ProcessEnv): LogSettings {
  const level = env.AIRLOCK_LOG_LEVEL?.trim().toLowerCase();
  if (level !== undefined && level !== '' && !LEVELS.has(level)) {
    throw new AirlockError(
      ErrorCode.ConfigInvalid,
      `AIRLOCK_LOG_LEVEL: "${level}" is not a log level; use one of ${[...LEVELS].join(', ')}`,
    );
  }
  const prettyWord = env.AIRLOCK_LOG_PRETTY?.trim().toLowerCase() ?? '';
  if (prettyWord !== '' && !Object.hasOwn(PRETTY_WORDS, prettyWord)) {
    throw new AirlockError(ErrorCode.ConfigInvalid, `AIRLOCK_LOG_PRETTY: "${prettyWord}" is none of 1/true, 0/false and auto`);
  }
  return {
    ...((level || config.level) && { level: level || config.level }),
    pretty: prettyWord === '' ? (config.pretty ?? 'auto') : PRETTY_WORDS[prettyWord]!,
    ...(env.NO_COLOR !== undefined && env.NO_COLOR !== '' && { noColor: true }),
  };
}

/**
 * pino JSON lines on stdout, or on stderr in stdio mode, where stdout carries
 * the protocol; `pretty` writes the same lines for a person instead, by
 * default when that stream is a terminal (`isTty` says so in tests). Never
 * log secrets or whole arguments (log their digest).
 */
export function createLogger(options: LogSettings & { fd?: 1 | 2; isTty?: boolean } = {}): Logger {
  const fd = options.fd ?? 1;
  const settings = {
    level: options.level ?? 'info',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { log: capLogFields },
  };
  const isTty = options.isTty ?? (fd === 1 ? process.stdout : process.stderr).isTTY === true;
  if (options.pretty === true || ((options.pretty ?? 'auto') === 'auto' && isTty))
    return pino(
      settings,
      pretty({
        destination: fd,
        sync: false,
        colorize: isTty && !options.noColor,
        translateTime: 'SYS:HH:MM:ss.l',
        // Every field on the line, written by prettyMessage, instead of one per line below it.
        hideObject: true,
        messageFormat: (log) => prettyMessage(log),
      }),
    );
  return pino(settings, pino.destination({ fd, sync: false }));
}

const NOT_FIELDS = new Set(['level', 'time', 'msg']);
const BARE_VALUE = /^[\w.:/@+-]+$/;

/**
 * One log line for a person: the message, then every field as `key=value`,
 * in the order logged (strings bare when they hold nothing a reader could
 * misread, else JSON). Names and texts an agent or an upstream chose reach
 * the message (a tool name) and the fields, and a terminal obeys what it is
 * sent: invisible and direction-changing characters are shown as `\u202E`,
 * and each line break of the message is indented, so no text can pass for a
 * line of its own, move the cursor or reorder what is shown.
 */
export function prettyMessage(log: Record<string, unknown>): string {
  const message = escapeInvisible(String(log.msg ?? '')).replaceAll('\n', '\n    ');
  const fields = Object.entries(log)
    .filter(([key, value]) => !NOT_FIELDS.has(key) && value !== undefined)
    .map(([key, value]) => `${escapeInvisible(key)}=${prettyValue(value)}`);
  return fields.length === 0 ? message : `${message}  ${fields.join(' ')}`;
}

function prettyValue(value: unknown): string {
  if (typeof value === 'string' && BARE_VALUE.test(value)) return value;
  return escapeInvisibleInJson(JSON.stringify(value) ?? String(value));
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
