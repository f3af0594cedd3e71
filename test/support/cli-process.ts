import { spawn, type ChildProcess } from 'node:child_process';
import { errorMessage } from '../../src/errors.js';
import { findExecutable } from '../../src/redis/index.js';
import { until } from './poll.js';
import { AIRLOCK_BIN, PROJECT_ROOT } from './run-cli.js';

/** An `airlock` command left running (`approvals watch`, a prompt), read while it runs. */
export interface RunningCli {
  process: ChildProcess;
  /** Everything written so far (under a terminal, stdout and stderr are one stream, with \r\n line ends). */
  readonly stdout: string;
  readonly stderr: string;
  /** Types into its stdin. */
  write(text: string): void;
  /** Waits until stdout (or `stream`) matches, and returns the match. */
  waitFor(what: string, pattern: RegExp, stream?: 'stdout' | 'stderr'): Promise<RegExpMatchArray>;
  /** Resolves with the exit code once it has exited. */
  exited: Promise<number>;
}

/** Tests never touch the machine's shared Redis on 6379 (see run-cli.ts). */
const NO_SHARED_REDIS = { REDIS_URL: 'redis://127.0.0.1:1' };

/** `airlock <argv>` as a child process with pipes: no terminal. */
export function startCli(argv: string[], options: { cwd?: string; env: NodeJS.ProcessEnv }): RunningCli {
  return running(
    spawn(process.execPath, [AIRLOCK_BIN, ...argv], {
      cwd: options.cwd ?? PROJECT_ROOT,
      env: { ...process.env, ...NO_SHARED_REDIS, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
}

/**
 * `airlock <argv>` under a real pseudo-terminal, so its stdin and stdout
 * are TTYs, driven by writing to `write`: util-linux `script`, else
 * python3's pty module.
 */
export function startCliInTerminal(argv: string[], options: { cwd?: string; env: NodeJS.ProcessEnv }): RunningCli {
  const words = [process.execPath, AIRLOCK_BIN, ...argv];
  const env = { ...process.env, ...NO_SHARED_REDIS, ...options.env, SHELL: '/bin/sh' };
  const cwd = options.cwd ?? PROJECT_ROOT;
  const child = findExecutable('script', process.env.PATH)
    ? spawn('script', ['-qfec', words.map(shellWord).join(' '), '/dev/null'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn('python3', ['-c', 'import pty, sys; sys.exit(pty.spawn(sys.argv[1:]) >> 8)', ...words], {
        cwd,
        env,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
  return running(child);
}

function running(child: ChildProcess): RunningCli {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : -1))));
  return {
    process: child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    write: (text) => void child.stdin?.write(text),
    async waitFor(what, pattern, stream = 'stdout') {
      let match: RegExpMatchArray | null = null;
      try {
        await until(what, () => (match = (stream === 'stdout' ? stdout : stderr).match(pattern)) !== null);
      } catch (err) {
        throw new Error(`${errorMessage(err)}\nstdout: ${JSON.stringify(stdout)}\nstderr: ${JSON.stringify(stderr)}`, { cause: err });
      }
      return match!;
    },
    exited,
  };
}

function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
