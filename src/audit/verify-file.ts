import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { ChainCheck, EMPTY_HEAD, type ChainHead, type ChainReport } from './chain.js';

export interface FileReport extends ChainReport {
  /** The seq the file starts after, when it does not start at the first event. */
  startsAfter?: number;
}

/**
 * Walks the JSON-lines mirror. A file that starts later than the first
 * event (mirroring was turned on later, or retention had trimmed) is
 * checked from its first line on.
 */
export async function verifyAuditFile(file: string): Promise<FileReport> {
  let check: ChainCheck | undefined;
  let startsAfter: number | undefined;
  let line = 0;
  for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    line += 1;
    if (text.trim() === '') continue;
    if (!check) {
      const start = startOf(text);
      check = new ChainCheck(start);
      if (start.seq > 0) startsAfter = start.seq;
    }
    if (!check.add({ where: `${file} line ${line}`, raw: text })) break;
  }
  return { ...(check?.report() ?? { checked: 0 }), ...(startsAfter !== undefined && { startsAfter }) };
}

/** Where the first line says the chain stood before it (a line that does not parse fails in the check itself). */
function startOf(text: string): ChainHead {
  try {
    const first = JSON.parse(text) as { seq?: unknown; prev?: unknown };
    if (typeof first.seq === 'number' && typeof first.prev === 'string') return { seq: first.seq - 1, hash: first.prev };
  } catch {
    // reported by the check
  }
  return EMPTY_HEAD;
}
