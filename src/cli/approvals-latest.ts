import { escapeInvisible } from '../invisible-characters.js';
import { decideAndSay, details } from './approvals.js';
import { holdersNote, openConsole } from './approvals-session.js';
import { ExitCode, type Io } from './output.js';
import type { Terminal } from './terminal.js';

export interface LatestOptions {
  config?: string;
  json?: boolean;
  reason?: string;
  tokenFile?: string;
}

/**
 * `airlock approvals approve|reject --latest`: shows the newest pending
 * request, and decides it only once the person at the terminal has typed
 * its id. What is decided is the request shown, by its id, never "the
 * newest" read again: an agent that holds another call meanwhile (to have
 * it approved instead) gets nothing, and a request shown that was decided
 * or expired meanwhile is left as it is, and said to be (decide.lua
 * changes nothing that is not pending). The caller has checked that
 * `terminal` is interactive.
 */
export async function approvalsLatest(io: Io, verdict: 'approve' | 'reject', options: LatestOptions, terminal: Terminal): Promise<number> {
  const session = await openConsole(io, options);
  try {
    const [newest] = await session.approvals.list({ state: 'pending', limit: 1 });
    if (!newest) {
      io.err(`no pending approval requests: nothing to ${verdict}`);
      io.err(await holdersNote(session));
      return ExitCode.Failed;
    }
    const { id } = newest.request;
    io.out(details(newest));
    const answer = await terminal.ask(`\nType ${id} to ${verdict} it (anything else cancels): `);
    if (answer?.trim() !== id) {
      const why =
        answer === undefined ? 'no answer' : answer.trim() === '' ? 'nothing typed' : `"${escapeInvisible(answer.trim())}" is not its id`;
      io.err(`cancelled (${why}): nothing was decided`);
      return ExitCode.Failed;
    }
    const code = await decideAndSay(io, session, { id, verdict, reason: options.reason ?? '', json: options.json ?? false });
    const newer = (await session.approvals.list({ state: 'pending' })).filter((r) => r.request.created_at > newest.request.created_at);
    if (newer.length > 0)
      io.err(
        `${newer.length === 1 ? '1 newer request' : `${newer.length} newer requests`} arrived meanwhile, left pending: ${newer.map((r) => r.request.id).join(', ')} (airlock approvals list)`,
      );
    return code;
  } finally {
    await session.close();
  }
}
