import { LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import type { Logger } from 'pino';

const PINO_LEVEL: Record<LogLevel, 'debug' | 'info' | 'warn' | 'error'> = {
  [LogLevel.DEBUG]: 'debug',
  [LogLevel.INFO]: 'info',
  [LogLevel.WARN]: 'warn',
  [LogLevel.ERROR]: 'error',
};

/**
 * Bolt, its WebClient and its Socket Mode client logging through Airlock's
 * pino logger: their own console logger writes plain text to stdout, which
 * would break the one-JSON-object-per-line log. Bolt's info lines are chatty
 * (every rate-limit pause, every socket reconnect), so they go out as debug
 * and warnings stay warnings.
 */
export function boltLogger(logger: Logger): BoltLogger {
  const child = logger.child({ component: 'slack' });
  const line =
    (level: 'debug' | 'warn' | 'error') =>
    (...messages: unknown[]) =>
      child[level](messages.map((m) => (typeof m === 'string' ? m : m instanceof Error ? m.message : JSON.stringify(m))).join(' '));
  return {
    debug: line('debug'),
    info: line('debug'),
    warn: line('warn'),
    error: line('error'),
    // pino's level is the gateway's own; Bolt asking for another one is ignored.
    setLevel: () => undefined,
    getLevel: () => (Object.entries(PINO_LEVEL).find(([, name]) => name === child.level)?.[0] as LogLevel | undefined) ?? LogLevel.INFO,
    setName: () => undefined,
  };
}
