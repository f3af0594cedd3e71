import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import type { Logger } from 'pino';
import { parseSourceText, readSourceText } from '../config/index.js';
import { ErrorCode } from '../errors.js';
import type { CompiledPolicy } from './compile.js';
import { compileSource } from './load-policy.js';

/** How often a policy file is checked for edits unless told otherwise: the longest a 2026 client may cache a list (see CACHE_TTL_MS). */
export const POLICY_POLL_MS = 250;

export type ReloadOutcome = { ok: true; policy: CompiledPolicy; digest: string } | { ok: false; error: Error };

export interface PolicyWatcherOptions {
  file: string;
  logger: Pick<Logger, 'info' | 'error'>;
  /** How often the file is checked; polling also works on bind mounts and network file systems where inotify does not. */
  intervalMs?: number;
  onReload?: (outcome: ReloadOutcome) => void;
}

/**
 * Keeps a policy file's compiled form current. A broken edit is logged in
 * full and the last good policy stays in force: a typo must never turn a
 * gateway into an open door.
 */
export class PolicyWatcher {
  #policy: CompiledPolicy;
  #seen: FileState;
  #timer: NodeJS.Timeout | undefined;
  readonly #options: PolicyWatcherOptions;

  private constructor(policy: CompiledPolicy, seen: FileState, options: PolicyWatcherOptions) {
    this.#policy = policy;
    this.#seen = seen;
    this.#options = options;
  }

  /** Loads the policy (throwing DocumentError if it is invalid now) and starts watching it. */
  static open(options: PolicyWatcherOptions): PolicyWatcher {
    // The file's state is taken before it is read, so an edit landing between the two is seen as a change.
    const seen = { ...statOf(options.file), digest: '' };
    const { text, digest } = read(options.file);
    const watcher = new PolicyWatcher(compile(text, options.file), { ...seen, digest }, options);
    watcher.#timer = setInterval(() => watcher.#poll(), options.intervalMs ?? POLICY_POLL_MS).unref();
    return watcher;
  }

  get current(): CompiledPolicy {
    return this.#policy;
  }

  close(): void {
    clearInterval(this.#timer);
  }

  #poll(): void {
    const now = statOf(this.#options.file);
    const before = this.#seen;
    if (now.mtimeMs === before.mtimeMs && now.size === before.size && now.ino === before.ino) return;
    const { file, logger, onReload } = this.#options;
    let outcome: ReloadOutcome;
    try {
      const { text, digest } = read(file);
      this.#seen = { ...now, digest };
      if (digest === before.digest) return;
      this.#policy = compile(text, file);
      logger.info({ policy_file: file, digest }, 'policy reloaded');
      outcome = { ok: true, policy: this.#policy, digest };
    } catch (err) {
      this.#seen = { ...now, digest: before.digest };
      const error = err as Error;
      logger.error(
        { policy_file: file, err: error.message },
        `policy reload failed; the last good policy stays in force:\n${error.message}`,
      );
      outcome = { ok: false, error };
    }
    onReload?.(outcome);
  }
}

interface FileState {
  mtimeMs: number;
  size: number;
  ino: number;
  digest: string;
}

function statOf(file: string): Omit<FileState, 'digest'> {
  const stats = statSync(file, { throwIfNoEntry: false });
  return stats ? { mtimeMs: stats.mtimeMs, size: stats.size, ino: stats.ino } : { mtimeMs: 0, size: -1, ino: 0 };
}

function read(file: string): { text: string; digest: string } {
  const text = readSourceText(file, ErrorCode.PolicyInvalid);
  return { text, digest: createHash('sha256').update(text).digest('hex') };
}

function compile(text: string, file: string): CompiledPolicy {
  return compileSource(parseSourceText(text, file, ErrorCode.PolicyInvalid));
}
