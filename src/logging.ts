import pino, { type Logger } from 'pino';

/**
 * pino JSON lines on stdout, or on stderr in stdio mode, where stdout carries
 * the protocol. Never log secrets or whole arguments (log their digest).
 */
export function createLogger(options: { level?: string; fd?: 1 | 2 } = {}): Logger {
  return pino({ level: options.level ?? 'info', base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: options.fd ?? 1, sync: false }));
}
