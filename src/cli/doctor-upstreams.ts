import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { LoadedConfig, LoadedServer } from '../config/index.js';
import type { Check } from './doctor-check.js';

/** How long one upstream may take to start and list its tools. */
export const UPSTREAM_TIMEOUT_MS = 30_000;
/** Beyond the timeout, for the probe to load (tsx) and to close what it started before it is killed. */
const GRACE_MS = 10_000;

/** What the probe (`probe-upstreams.ts`) writes on stdout, one JSON line per server. */
export const UpstreamProbeSchema = z.discriminatedUnion('outcome', [
  z.object({
    server: z.string(),
    outcome: z.literal('connected'),
    tools: z.int().nonnegative(),
    /** The protocol revision the server spoke (absent from a probe of an older Airlock). */
    protocol: z.string().optional(),
    ms: z.number(),
  }),
  z.object({
    server: z.string(),
    outcome: z.literal('failed'),
    error: z.string(),
    /** For an HTTP server that could not be reached: why the connection failed (`ECONNREFUSED`, `ENOTFOUND`…). */
    cause: z.string().optional(),
    stderr: z.array(z.string()),
    ms: z.number(),
  }),
  z.object({ server: z.string(), outcome: z.literal('timeout'), stderr: z.array(z.string()), ms: z.number() }),
]);
export type UpstreamProbe = z.infer<typeof UpstreamProbeSchema>;

// Beside this module: compiled JavaScript in dist/, or TypeScript that needs tsx.
const PROBE = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './probe-upstreams.ts' : './probe-upstreams.js', import.meta.url));
const LOADER = PROBE.endsWith('.ts') ? ['--import', import.meta.resolve('tsx/esm')] : [];

/**
 * Starts every upstream as the gateway would and lists its tools, all at
 * once, each within `timeoutMs`. They run in a child process of their own
 * (the probe) that leads its own process group: the gateway's `Upstream`
 * cannot abandon a connection attempt half way, so a server that hangs,
 * and anything it started in turn, is only reliably gone when that whole
 * group is killed, which happens here once the probe is done or late.
 */
export async function upstreamChecks(config: LoadedConfig, env: NodeJS.ProcessEnv, options: { timeoutMs?: number } = {}): Promise<Check[]> {
  const timeoutMs = options.timeoutMs ?? UPSTREAM_TIMEOUT_MS;
  const names = Object.keys(config.servers);
  if (names.length === 0) return [];
  const { results, failure } = await runProbe(config.file, env, timeoutMs);
  return names.map((name) => {
    const server = config.servers[name]!;
    const result = results.get(name);
    const what = `upstream ${name}`;
    if (result) return { what, ...describeResult(name, server, result, timeoutMs) };
    return { what, level: 'error', detail: failure ?? `no answer within ${seconds(timeoutMs + GRACE_MS)} s` };
  });
}

function runProbe(
  file: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ results: Map<string, UpstreamProbe>; failure?: string }> {
  return new Promise((resolve) => {
    const results = new Map<string, UpstreamProbe>();
    let stderr = '';
    let spawnError: Error | undefined;
    const child = spawn(process.execPath, [...LOADER, PROBE, file, String(timeoutMs)], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    // The probe ends its group when this pipe closes, i.e. when this process dies before it could.
    child.stdin.on('error', () => undefined);
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const parsed = UpstreamProbeSchema.safeParse(parseJson(line));
      if (parsed.success) results.set(parsed.data.server, parsed.data);
    });
    let late = false;
    const deadline = setTimeout(() => {
      late = true;
      killGroup(child);
    }, timeoutMs + GRACE_MS);
    child.on('error', (err) => (spawnError = err));
    // Whatever the probe left running (a server that ignored its stdin closing, a grandchild of npx) goes with the group.
    child.on('exit', () => killGroup(child));
    child.on('close', (code, signal) => {
      clearTimeout(deadline);
      const lastLine = stderr.trim().split('\n').at(-1);
      const why = spawnError?.message ?? lastLine ?? (signal ? `killed by ${signal}` : `exit code ${code}`);
      // Killed for being late: the servers it had not reported on get "no answer" from upstreamChecks.
      resolve({ results, ...(code !== 0 && !late && { failure: `the upstream check could not run: ${why}` }) });
    });
  });
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // The group is already gone (ESRCH), or there are no process groups (Windows).
    child.kill('SIGKILL');
  }
}

function parseJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

function describeResult(name: string, server: LoadedServer, result: UpstreamProbe, timeoutMs: number): Omit<Check, 'what'> {
  if (result.outcome === 'connected') {
    const spoke = result.protocol === undefined ? '' : `, MCP ${result.protocol}`;
    return {
      level: 'ok',
      detail: `${result.tools} tool${result.tools === 1 ? '' : 's'} (${server.transport}${spoke}, ${seconds(result.ms)} s)`,
    };
  }
  const said = stderrNote(result.stderr);
  if (result.outcome === 'timeout') {
    const who = server.transport === 'stdio' ? `"${server.command}" started but` : shownUrl(server.url);
    return { level: 'error', detail: `${who} did not answer initialize and tools/list within ${seconds(timeoutMs)} s${said}` };
  }
  if (server.transport === 'http') {
    const detail =
      result.cause !== undefined
        ? `cannot connect to ${shownUrl(server.url)}: ${describeCause(result.cause)}`
        : `${shownUrl(server.url)}: ${result.error}`;
    return { level: 'error', detail };
  }
  if (/\bENOENT\b/.test(result.error)) {
    if (server.cwd !== undefined && !existsSync(server.cwd))
      return { level: 'error', detail: `its folder ${server.cwd} does not exist (servers.${name}.cwd)` };
    return {
      level: 'error',
      detail: `command not found: "${server.command}" (${result.error}); install it, or give its full path in servers.${name}.command`,
    };
  }
  if (/\bEACCES\b/.test(result.error))
    return { level: 'error', detail: `cannot run "${server.command}": permission denied (${result.error})` };
  if (/Connection closed/i.test(result.error)) {
    return { level: 'error', detail: `"${server.command}" exited before answering initialize and tools/list (${result.error})${said}` };
  }
  return { level: 'error', detail: `${result.error}${said}` };
}

function stderrNote(lines: string[]): string {
  if (lines.length === 0) return '';
  return `; its stderr ended: ${lines.map((line) => JSON.stringify(line.length > 200 ? `${line.slice(0, 200)}…` : line)).join(' / ')}`;
}

const CAUSES: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is the server running, on that port?)',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  ECONNRESET: 'connection reset',
};

function describeCause(cause: string): string {
  const known = CAUSES[cause];
  return known === undefined ? cause : `${known} (${cause})`;
}

/** The URL without any user name or password in it. */
function shownUrl(url: string): string {
  const shown = new URL(url);
  shown.username = '';
  shown.password = '';
  return shown.href;
}

function seconds(ms: number): string {
  return (ms / 1_000).toFixed(ms < 10_000 ? 1 : 0);
}
