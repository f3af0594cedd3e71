import { closeSync, fstatSync, ftruncateSync, openSync, readSync } from 'node:fs';
import { appendFile, open, readFile, rm, writeFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AirlockError, ErrorCode, errorMessage } from '../errors.js';
import { isAlive } from '../redis/index.js';
import { jsonLine } from './format.js';
import { auditKeys } from './keys.js';

export interface AuditMirrorOptions {
  file: string;
  /** Any client: the mirror makes its own blocking connection from it. */
  redis: Redis;
  prefix: string;
  logger: Logger;
}

const BLOCK_MS = 2_000;
const READ = 500;
/** How often an instance that found the file taken checks whether its writer is still alive. */
const TAKEOVER_MS = 5_000;

/**
 * The JSON-lines mirror for log shippers: the whole stream, in chain order,
 * one event per line with its stream id first (`{"id":"…","seq":…}`), so
 * the file verifies on its own. One process writes it (a lock file beside
 * it names that process); after a restart the writer goes on after the
 * file's last line, so nothing still in Redis is skipped or written twice.
 */
export class AuditMirror {
  readonly #options: AuditMirrorOptions;
  readonly #reader: Redis;
  readonly #lock: string;
  #stopped = false;
  #loop: Promise<void> | undefined;
  /** The stream id of the last event in the file. */
  #after = '0';
  #takeover: NodeJS.Timeout | undefined;

  private constructor(options: AuditMirrorOptions) {
    this.#options = options;
    this.#lock = `${options.file}.lock`;
    this.#reader = options.redis.duplicate({
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      commandTimeout: undefined,
      autoResendUnfulfilledCommands: true,
    });
    this.#reader.on('error', () => undefined); // the request-path client logs Redis outages once
  }

  /** Checks the file can be appended to (startup fails naming it otherwise) and starts mirroring. */
  static async start(options: AuditMirrorOptions): Promise<AuditMirror> {
    try {
      await (await open(options.file, 'a')).close();
    } catch (err) {
      throw new AirlockError(
        ErrorCode.ConfigInvalid,
        `audit.file: ${options.file} cannot be written (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}); fix its folder or permissions, or remove audit.file`,
      );
    }
    const mirror = new AuditMirror(options);
    await mirror.#tryToWrite();
    return mirror;
  }

  /** Stops after writing what the stream holds now (this process's last events included). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#takeover);
    this.#reader.disconnect();
    if (!this.#loop) return;
    await this.#loop.catch(() => undefined);
    const stream = auditKeys(this.#options.prefix).stream;
    for (;;) {
      const entries = await this.#options.redis.xrange(stream, `(${this.#after}`, '+', 'COUNT', READ).catch(() => []);
      if (entries.length === 0) break;
      await this.#write(entries);
    }
    await rm(this.#lock, { force: true });
  }

  async #tryToWrite(): Promise<void> {
    if (await this.#takeLock()) {
      clearInterval(this.#takeover);
      this.#loop = this.#run();
      return;
    }
    if (!this.#takeover) {
      this.#options.logger.info(
        { file: this.#options.file, lock: this.#lock },
        'another Airlock process writes the audit file; this one takes over if it stops',
      );
      this.#takeover = setInterval(() => void this.#tryToWrite(), TAKEOVER_MS);
      this.#takeover.unref();
    }
  }

  /** The lock holds the writer's pid; a lock whose process is gone is taken over. */
  async #takeLock(): Promise<boolean> {
    try {
      await writeFile(this.#lock, String(process.pid), { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number((await readFile(this.#lock, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) return false;
    await rm(this.#lock, { force: true });
    return this.#takeLock();
  }

  async #run(): Promise<void> {
    const { file, logger, prefix } = this.#options;
    const stream = auditKeys(prefix).stream;
    this.#after = lastId(file) ?? '0';
    while (!this.#stopped) {
      try {
        const reply = await this.#reader.xread('COUNT', READ, 'BLOCK', BLOCK_MS, 'STREAMS', stream, this.#after);
        await this.#write(reply?.[0]?.[1] ?? []);
      } catch (err) {
        if (this.#stopped) return;
        logger.warn({ file, err: errorMessage(err) }, 'audit file mirror paused');
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  }

  async #write(entries: [id: string, fields: string[]][]): Promise<void> {
    if (entries.length === 0) return;
    const lines = entries.map(([id, fields]) => `${jsonLine(id, fields[fields.indexOf('e') + 1] ?? '{}')}\n`);
    await appendFile(this.#options.file, lines.join(''));
    this.#after = entries.at(-1)?.[0] ?? this.#after;
  }
}

/**
 * The stream id on the file's last line: mirroring goes on after it. A last
 * line cut short (the writer died mid-write) is removed first, to be
 * written again whole.
 */
function lastId(file: string): string | undefined {
  const fd = openSync(file, 'r+');
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, 1 << 20);
    const tail = Buffer.alloc(length);
    readSync(fd, tail, 0, length, size - length);
    let text = tail.toString('utf8');
    if (text !== '' && !text.endsWith('\n')) {
      const cut = text.lastIndexOf('\n') + 1;
      ftruncateSync(fd, size - length + Buffer.byteLength(text.slice(0, cut)));
      text = text.slice(0, cut);
    }
    const lines = text.split('\n').filter((line) => line.trim() !== '');
    return /^\{"id":"(\d+-\d+)"/.exec(lines.at(-1) ?? '')?.[1];
  } finally {
    closeSync(fd);
  }
}
