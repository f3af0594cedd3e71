import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import type { HttpSession } from './local-session.js';
import type { SessionStore, Touch } from './session-store.js';

export interface SweepOptions {
  sessions: Iterable<HttpSession>;
  /** The 2026 listen streams open here: member → grant. */
  listens: ReadonlyMap<string, string | undefined>;
  store: SessionStore;
  idleTimeoutMs: number;
  logger: Logger;
}

/**
 * One round of the idle sweep, run every quarter of the idle timeout (at
 * most a minute). It is also how Redis hears that a session is in use: the
 * request path never waits on Redis for that; each round tells Redis, in one
 * round of commands, about the sessions used here since the last (and the
 * listen streams open here), so a record's `active` lags by at most a round.
 *
 * A session idle here for the idle timeout is ended only if no instance has
 * used it for as long (its record says); else only this copy is closed, and
 * the session lives on where it is in use.
 */
export async function sweepSessions(options: SweepOptions): Promise<void> {
  const { store, idleTimeoutMs, logger } = options;
  const now = Date.now();
  const touched: HttpSession[] = [];
  const touches: Touch[] = [];
  for (const session of options.sessions) {
    if (session.retiring) continue;
    const idleMs = session.open > 0 ? 0 : now - session.lastActive;
    if (idleMs >= idleTimeoutMs) {
      void retire(session, options);
      continue;
    }
    if (session.open === 0 && session.lastActive <= session.touchedAt) continue;
    touched.push(session);
    touches.push({ grant: session.grant, member: session.id, idleMs, session: true });
  }
  for (const [member, grant] of options.listens) touches.push({ grant, member, idleMs: 0, session: false });
  if (touches.length === 0) return;
  let outcomes: Awaited<ReturnType<SessionStore['touch']>>;
  try {
    outcomes = await store.touch(touches);
  } catch (err) {
    // The local copies go on serving; Redis hears of them in a later round, within the records' own lifetime of 2 idle timeouts.
    logger.debug({ err: errorMessage(err) }, 'the sweep could not tell Redis which sessions are in use');
    return;
  }
  for (const [i, session] of touched.entries()) {
    session.touchedAt = now;
    const outcome = outcomes[i];
    if (outcome === 'ended') {
      logger.info({ session: session.id }, 'session ended on another instance');
      void session.close();
    } else if (outcome === 'missing') {
      // Redis lost its data (a restart without persistence): the session is alive here, so its record is written again.
      logger.warn({ session: session.id }, 'the record of a session in use was missing from Redis: writing it again');
      void store
        .open(
          {
            id: session.id,
            grant: session.grant,
            path: session.path,
            scope: session.scope,
            initialize: session.initialize,
            state: stateOf(session),
          },
          0,
        )
        .catch((err: unknown) => logger.debug({ session: session.id, err: errorMessage(err) }, 'restoring a session record failed'));
    }
  }
}

async function retire(session: HttpSession, { store, idleTimeoutMs, logger }: SweepOptions): Promise<void> {
  session.retiring = true;
  const idleMs = Date.now() - session.lastActive;
  const outcome = await store.end(session.grant, session.id, true).catch((err: unknown) => {
    logger.debug({ session: session.id, err: errorMessage(err) }, 'Redis did not answer whether an idle session is in use elsewhere');
    return 'unknown' as const;
  });
  if (outcome === 'active') {
    // Served elsewhere within the idle timeout: only this copy goes, and a request that lands here later rebuilds it.
    logger.info({ session: session.id, idle_ms: idleMs }, 'closing the idle local copy of a session in use on another instance');
  } else {
    logger.info({ session: session.id, idle_ms: idleMs, idle_timeout_ms: idleTimeoutMs }, 'closing an idle session');
  }
  await session.close();
}

function stateOf(session: HttpSession): { subscriptions: string[]; logLevel?: string } {
  const { subscriptions, logLevel } = session.identity;
  return { subscriptions: [...subscriptions], ...(logLevel !== undefined && { logLevel }) };
}
