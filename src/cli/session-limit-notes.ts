import { problemAt, type SourceDocument } from '../config/index.js';
import type { Problem } from '../errors.js';
import type { PolicyDocument } from '../policy/index.js';

const RESETS = 'an agent that reconnects gets a new session and so a new count, so it does not bound what one grant can do';

/**
 * Limits that count per session: legitimate (the `rate_limit` shorthand
 * means this in PolicyLayer's format), but a reconnect starts them afresh,
 * which is rarely what a limit on an agent was written for. Said by
 * `policy check`, never refused.
 */
export function sessionLimitNotes(document: PolicyDocument, source: SourceDocument): Problem[] {
  const notes: Problem[] = [];
  const explicit = (limits: readonly { counter: string; scope: string }[] | undefined, path: PropertyKey[]) =>
    (limits ?? []).forEach((limit, i) => {
      if (limit.scope === 'session')
        notes.push(
          problemAt(
            source,
            [...path, i, 'scope'],
            `counter "${limit.counter}" counts per session: ${RESETS}; scope: grant counts across its sessions`,
          ),
        );
    });
  explicit(document.all_tools?.limits, ['all_tools', 'limits']);
  for (const [key, rule] of Object.entries(document.tools ?? {})) {
    explicit(rule.limits, ['tools', key, 'limits']);
    if (rule.rate_limit) {
      notes.push(
        problemAt(
          source,
          ['tools', key, 'rate_limit'],
          `the rate_limit shorthand counts per session (as in PolicyLayer's format): ${RESETS}; limits with scope: grant count across its sessions`,
        ),
      );
    }
  }
  return notes;
}
