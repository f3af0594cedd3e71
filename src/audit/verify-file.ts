import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { ChainCheck, EMPTY_HEAD, type ChainHead, type ChainReport } from './chain.js';
import { CheckpointCheck, endOfTrail, type CheckpointReport, type VerifyOptions } from './checkpoint-check.js';

export interface FileReport extends ChainReport {
  /** The seq the file starts after, when it does not start at the first event. */
  startsAfter?: number;
  checkpoints: CheckpointReport;
}

/**
 * Walks the JSON-lines mirror or an export. A file that starts later than
 * the first event (mirroring was turned on later, retention had trimmed,
 * an export of a time range) is checked from its first line on; so are the
 * checkpoints in it, and its end as the trail's end.
 */
export async function verifyAuditFile(file: string, options: VerifyOptions = {}): Promise<FileReport> {
  let check: ChainCheck | undefined;
  let checkpoints: CheckpointCheck | undefined;
  let start = EMPTY_HEAD;
  let startsAfter: number | undefined;
  let line = 0;
  for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    line += 1;
    if (text.trim() === '') continue;
    if (!check) {
      start = startOf(text);
      const observer = new CheckpointCheck(options.checkpoints, start);
      checkpoints = observer;
      check = new ChainCheck(start, (event) => observer.observe(event));
      if (start.seq > 0) startsAfter = start.seq;
    }
    if (!check.add({ where: `${file} line ${line}`, raw: text })) break;
  }
  const report = check?.report() ?? { checked: 0 };
  return {
    ...endOfTrail(
      report,
      checkpoints ?? new CheckpointCheck(options.checkpoints, start),
      report.last ?? start.seq,
      options.asOf ?? { ms: Date.now(), now: true },
    ),
    ...(startsAfter !== undefined && { startsAfter }),
  };
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
