import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { TSX_LOADER } from './mcp-servers.js';
import { PROJECT_ROOT } from './run-cli.js';

const run = promisify(execFile);

/** The two official suites the gateway is held to, each with the fixture it runs against and what that fixture must pass directly. */
export const SUITES = {
  '0.1.16': {
    runner: join(PROJECT_ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js'),
    args: [],
    fixture: join(PROJECT_ROOT, 'test/fixtures/conformance-v1-server.ts'),
  },
  '0.2.0-alpha': {
    runner: join(PROJECT_ROOT, 'node_modules/conformance-next/dist/index.js'),
    args: ['--suite', 'all'],
    fixture: join(PROJECT_ROOT, 'test/fixtures/conformance-v2-server.ts'),
  },
} as const;
export type SuiteName = keyof typeof SUITES;

export const EXPECTED_FAILURES_FILE = join(PROJECT_ROOT, 'test/fixtures/conformance-expected-failures.yaml');

/** Checks passed and failed in one scenario (warnings and skips count as neither, as in the runner's summary). */
export interface ScenarioScore {
  passed: number;
  failed: number;
}
export type SuiteRun = Map<string, ScenarioScore>;

/**
 * The runner's summary, `✓ name: N passed, M failed` per scenario: it lists
 * every scenario it ran, one that crashed included (as a failed check), which
 * the `-o` folder does not.
 */
export function parseSummary(stdout: string): SuiteRun {
  const at = stdout.lastIndexOf('=== SUMMARY ===');
  if (at < 0) throw new Error(`no summary in the conformance runner's output:\n${stdout.slice(-4000)}`);
  const scores: SuiteRun = new Map();
  for (const match of stdout.slice(at).matchAll(/^[✓✗] (\S+): (\d+) passed, (\d+) failed$/gmu)) {
    scores.set(match[1]!, { passed: Number(match[2]), failed: Number(match[3]) });
  }
  if (scores.size === 0) throw new Error(`the summary names no scenario:\n${stdout.slice(at)}`);
  return scores;
}

let node22: Promise<string> | undefined;
/** The suites' runner needs Node 22 (it imports fs.globSync); scripts/node22.mjs finds or fetches one. Airlock itself runs on this Node. */
function node22Binary(): Promise<string> {
  node22 ??= run(process.execPath, [join(PROJECT_ROOT, 'scripts/node22.mjs')], { encoding: 'utf8' }).then((r) => r.stdout.trim());
  return node22;
}

/** One whole run of `suite` against `url`. The runner exits non-zero when any check fails, which is not an error here. */
export async function runSuite(suite: SuiteName, url: string): Promise<SuiteRun> {
  return parseSummary(await runnerOutput(suite, url, SUITES[suite].args));
}

async function runnerOutput(suite: SuiteName, url: string, args: readonly string[]): Promise<string> {
  const { runner } = SUITES[suite];
  return run(await node22Binary(), [runner, 'server', '--url', url, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    maxBuffer: 64 * 1024 * 1024,
  }).then(
    (r) => r.stdout,
    (err: { stdout?: string; stderr?: string; code?: number }) => {
      if (err.stdout?.includes('=== SUMMARY ===') || err.stdout?.includes('Test Results:')) return err.stdout;
      throw new Error(`the ${suite} conformance runner exited ${err.code} with no summary:\n${err.stderr}`);
    },
  );
}

export interface RunningFixture {
  /** The fixture's Streamable HTTP endpoint, `http://127.0.0.1:PORT/mcp`. */
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** A conformance fixture as a child process on a free port (or `env.PORT`); it prints its URL as its first line. */
export async function startFixture(file: string, env: NodeJS.ProcessEnv = {}): Promise<RunningFixture> {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, file], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n');
      if (line.length > 1) resolve(line[0]!);
    });
    void exited.then(() => reject(new Error(`${file} exited before it listened:\n${stderr}`)));
  });
  return {
    url,
    process: child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The scenarios a suite may lose through Airlock, each with its reason (conformance-expected-failures.yaml). */
export function expectedFailures(suite: SuiteName, file = EXPECTED_FAILURES_FILE): Map<string, string> {
  const document = (parse(readFileSync(file, 'utf8')) ?? {}) as Record<string, Record<string, string> | null>;
  return new Map(Object.entries(document[suite] ?? {}));
}
