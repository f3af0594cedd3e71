import { z } from 'zod';
import type { ApprovalStatus } from '../approvals/index.js';

const RefsSchema = z.record(z.string(), z.string());

/**
 * The handles of every channel that showed a request, by channel name, as
 * the one string a request keeps (`channel_ref`); undefined when no channel
 * keeps one (the console).
 */
export function formatChannelRefs(refs: ReadonlyMap<string, string>): string | undefined {
  return refs.size === 0 ? undefined : JSON.stringify(Object.fromEntries(refs));
}

/** The handle channel `name` kept for its message of this request, if it kept one. */
export function channelRefOf(status: Pick<ApprovalStatus, 'channel_ref'>, name: string): string | undefined {
  const stored = status.channel_ref;
  if (stored === undefined) return undefined;
  const refs = RefsSchema.safeParse(parseJson(stored));
  // A gateway from before channels kept a handle each stored its one channel's handle bare.
  if (!refs.success) return stored;
  return refs.data[name];
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
