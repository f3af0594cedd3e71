import type { RequestQueue } from './queue.js';
import type { ApprovalRecord, ApprovalRequest } from './request.js';
import type { ApprovalStore, PendingEntry } from './store.js';

export interface PendingFilter {
  server?: string;
  tool?: string;
  grant?: string;
}

/** How many index entries one round trip reads at least, and at most. */
const PAGE_MIN = 100;
const PAGE_MAX = 1_000;
/** How many requests one indexing step looks at (each its own script call, under one deadline). */
const REINDEX_CHUNK = 500;

/**
 * Pending requests, newest first, at most `limit`, read from the index the
 * scripts keep (see ApprovalKeys.pending) rather than from every queued job:
 * a page of ids, then their records and requests in one round trip each.
 * The record decides, not the index: an entry whose record is gone (expired,
 * evicted) or no longer pending (ended by an Airlock that did not keep the
 * index) is skipped and removed. One whose request is not queued yet (it is
 * indexed a moment before, see Approvals.hold) is skipped and kept.
 */
export async function listPending(
  source: { store: ApprovalStore; queue: RequestQueue },
  filter: PendingFilter,
  limit: number,
): Promise<ApprovalRecord[]> {
  const records: ApprovalRecord[] = [];
  const page = Math.min(PAGE_MAX, Math.max(PAGE_MIN, limit));
  let after: PendingEntry | undefined;
  while (records.length < limit) {
    const entries = await source.store.pendingPage(after, page);
    after = entries.at(-1);
    const ids = entries.map((e) => e.id);
    const [statuses, requests] = await Promise.all([source.store.statuses(ids), source.queue.requests(ids)]);
    const stale: string[] = [];
    ids.forEach((id, i) => {
      const status = statuses[i];
      const request = requests[i];
      if (status?.state !== 'pending') stale.push(id);
      else if (request && matches(request, filter)) records.push({ request, status });
    });
    if (stale.length > 0) await source.store.reindex(stale);
    if (entries.length < page) break;
  }
  return records.slice(0, limit);
}

/**
 * Indexes the requests pending now that the index may lack: those opened
 * by an Airlock that did not keep it (an instance upgraded, or still
 * running the earlier version, while they wait). Every pending request has
 * a queued job, so the jobs name them all; the script indexes each one that
 * is still pending, atomically, so a decision meanwhile is not undone.
 * Resolves with how many are pending.
 */
export async function indexPendingRequests(source: { store: ApprovalStore; queue: RequestQueue }): Promise<number> {
  const ids = await source.queue.ids(['delayed', 'waiting', 'active']);
  let pending = 0;
  for (let i = 0; i < ids.length; i += REINDEX_CHUNK) {
    const indexed = await source.store.reindex(ids.slice(i, i + REINDEX_CHUNK));
    pending += indexed.filter(Boolean).length;
  }
  return pending;
}

function matches(request: ApprovalRequest, filter: PendingFilter): boolean {
  return (
    (filter.server === undefined || request.server === filter.server) &&
    (filter.tool === undefined || request.tool === filter.tool) &&
    (filter.grant === undefined || request.grant === filter.grant)
  );
}
