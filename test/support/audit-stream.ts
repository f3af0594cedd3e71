import { Redis } from 'ioredis';
import { contentHash, linkHash } from '../../src/audit/chain.js';
import { until } from './poll.js';

/** The audit trail's keys under the default prefix (`redis.prefix: "{airlock}:"`). */
export const AUDIT_STREAM = '{airlock}:audit';
export const AUDIT_HEAD = '{airlock}:audit:head';

/** One stream entry as Redis holds it: its id and the event's JSON (field `e`), byte for byte. */
export interface StreamEntry {
  id: string;
  raw: string;
}

export interface AuditApprover {
  id: string;
  name?: string;
  person?: string;
  via: string;
  verdict?: string;
  at?: number;
}

/** A stored audit event as a reader of the trail sees it, with its stream id. Declared here, not imported: tests read the trail as outsiders. */
export interface AuditRecord {
  id: string;
  seq: number;
  time: string;
  event: string;
  instance: string;
  request_id?: string;
  approval_id?: string;
  grant?: string | null;
  session?: string | null;
  client?: string | null;
  server?: string;
  tool?: string;
  method?: string;
  resource?: string;
  prompt?: string;
  digest?: string;
  arguments?: unknown;
  arguments_truncated?: boolean;
  decision?: string;
  rule?: string;
  reason?: string;
  approvers?: AuditApprover[];
  channel?: string;
  result?: string;
  duration_ms?: number;
  detail?: string;
  admin?: string;
  checkpoint?: { seq: number; hash: string; previous: number; reached?: number; mac: string };
  prev: string;
  hash: string;
}

/** A short-lived plain client on `url` for reading or tampering with the trail. */
export async function withRedis<T>(url: string, work: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    return await work(redis);
  } finally {
    redis.disconnect();
  }
}

export function streamEntries(url: string): Promise<StreamEntry[]> {
  return withRedis(url, async (redis) =>
    (await redis.xrange(AUDIT_STREAM, '-', '+')).map(([id, fields]) => ({ id, raw: fields[fields.indexOf('e') + 1] ?? '' })),
  );
}

export async function streamEvents(url: string): Promise<AuditRecord[]> {
  return (await streamEntries(url)).map(({ id, raw }) => ({ id, ...(JSON.parse(raw) as Omit<AuditRecord, 'id'>) }));
}

/** Waits until the trail holds events for which `check` is true, and returns them all. */
export async function waitForEvents(
  url: string,
  what: string,
  check: (events: AuditRecord[]) => boolean,
  timeoutMs = 30_000,
): Promise<AuditRecord[]> {
  let events: AuditRecord[] = [];
  await until(
    what,
    async () => {
      events = await streamEvents(url);
      return check(events);
    },
    timeoutMs,
    50,
  );
  return events;
}

/**
 * Streams only grow at the end, so tampering in the middle means writing the
 * stream again (read it all, DEL, XADD each entry with its original id):
 * what someone with write access to Redis would do.
 */
export async function rewriteStream(url: string, change: (entries: StreamEntry[]) => StreamEntry[]): Promise<void> {
  await withRedis(url, async (redis) => {
    const entries = change(
      (await redis.xrange(AUDIT_STREAM, '-', '+')).map(([id, fields]) => ({ id, raw: fields[fields.indexOf('e') + 1] ?? '' })),
    );
    await redis.del(AUDIT_STREAM);
    for (const entry of entries) await redis.xadd(AUDIT_STREAM, entry.id, 'e', entry.raw);
  });
}

/** The events of one call (one `request_id`), in chain order, by name. */
export function stepsOf(events: AuditRecord[], requestId: string): string[] {
  return events.filter((e) => e.request_id === requestId).map((e) => e.event);
}

/**
 * The stream written again from `change(events)` with every event's seq,
 * prev and hash recomputed from the first on, and the head set to match:
 * what someone with write access to Redis who knows how the chain is made
 * would do, so that the hash chain alone shows nothing.
 */
export async function rewriteChained(url: string, change: (events: AuditRecord[]) => AuditRecord[]): Promise<void> {
  const events = change(await streamEvents(url));
  await withRedis(url, async (redis) => {
    let prev = '0'.repeat(64);
    await redis.del(AUDIT_STREAM);
    for (const [i, { id: _id, ...original }] of events.entries()) {
      const event: Omit<AuditRecord, 'id'> = { ...original, seq: i + 1, prev };
      event.hash = linkHash(event.seq, prev, contentHash(event));
      prev = event.hash;
      await redis.xadd(AUDIT_STREAM, '*', 'e', JSON.stringify(event));
    }
    await redis.set(AUDIT_HEAD, `${events.length} ${prev}`);
  });
}

/**
 * Every event after seq `keep` deleted and the head set back to the last
 * kept, in one script, so a gateway writing meanwhile sees the whole cut or
 * none of it: what someone hiding the latest calls would do.
 */
export async function cutTrail(url: string, keep: number): Promise<void> {
  const cut = `
    local head = '0 ' .. string.rep('0', 64)
    for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
      local event = cjson.decode(entry[2][2])
      if event.seq > tonumber(ARGV[1]) then redis.call('XDEL', KEYS[1], entry[1]) else head = string.format('%d', event.seq) .. ' ' .. event.hash end
    end
    redis.call('SET', KEYS[2], head)`;
  await withRedis(url, (redis) => redis.eval(cut, 2, AUDIT_STREAM, AUDIT_HEAD, String(keep)));
}
