import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/main.js';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const AIRLOCK_BIN = fileURLToPath(new URL('../../bin/airlock.js', import.meta.url));

/**
 * Tests never touch the machine's shared Redis on 6379: unless a test passes
 * its own REDIS_URL, commands get one where nothing listens (port 1).
 */
const NO_SHARED_REDIS = { REDIS_URL: 'redis://127.0.0.1:1' };

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in this process, as `airlock <argv>` would from `cwd`. */
export async function cli(argv: string[], cwd = PROJECT_ROOT, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (s) => out.push(s), err: (s) => err.push(s), cwd, env: { ...NO_SHARED_REDIS, ...env } });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

/** What a child process wrote on stdout and stderr, and its exit code (null when a signal ended it), once it has closed. */
export function outputOf(
  child: ChildProcessByStdio<Writable | null, Readable, Readable>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs the real `airlock` command as a child process. */
export async function airlock(argv: string[], cwd = PROJECT_ROOT, env: NodeJS.ProcessEnv = process.env): Promise<CliResult> {
  const child = spawn(process.execPath, [AIRLOCK_BIN, ...argv], {
    cwd,
    env: { ...NO_SHARED_REDIS, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { code, stdout, stderr } = await outputOf(child);
  return { code: code ?? -1, stdout, stderr };
}
