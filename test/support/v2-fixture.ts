import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { TSX_LOADER, V2_FIXTURE_SERVER } from './mcp-servers.js';

export interface RunningV2Fixture {
  /** `http://127.0.0.1:PORT/mcp` */
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** The v2 fixture server (see v2-fixture-server.ts) over Streamable HTTP on a free port, with more environment. */
export async function startV2HttpFixture(env: Record<string, string> = {}): Promise<RunningV2Fixture> {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, V2_FIXTURE_SERVER], {
    env: { ...process.env, FIXTURE_TRANSPORT: 'http', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const found = /listening (\d+)/.exec(out);
      if (found) resolve(Number(found[1]));
    });
    void exited.then(() => reject(new Error(`the v2 fixture exited before listening: ${out}`)));
  });
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill();
      await exited;
    },
  };
}

/**
 * What reached a v2 fixture server started with `FIXTURE_REQUEST_LOG`:
 * every JSON-RPC message it received, in order.
 */
export interface FixtureMessage {
  method?: string;
  id?: string | number;
  params?: Record<string, unknown>;
  /** The id of a `subscriptions/listen` whose stream ended (HTTP only). */
  listen_closed?: string | number;
}

export function fixtureMessages(log: string): FixtureMessage[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as FixtureMessage);
}

/** The arguments of every `tools/call` of `tool` that reached the server. */
export function fixtureCalls(log: string, tool: string): Record<string, unknown>[] {
  return fixtureMessages(log)
    .filter((m) => m.method === 'tools/call' && m.params?.name === tool)
    .map((m) => (m.params?.arguments ?? {}) as Record<string, unknown>);
}

/** How many `method` requests (`resources/subscribe`, `resources/unsubscribe`) for `uri` reached the server. */
export function fixtureRequestsFor(log: string, method: string, uri: string): number {
  return fixtureMessages(log).filter((m) => m.method === method && m.params?.uri === uri).length;
}

/** Replays the log's `subscriptions/listen` opens and closes, calling `step` with the filters still open after each line. */
function replayListens(log: string, step: (open: string[][]) => void): void {
  const open = new Map<string | number, string[]>();
  for (const m of fixtureMessages(log)) {
    if (m.method === 'subscriptions/listen' && m.id !== undefined) {
      const notifications = m.params?.notifications as { resourceSubscriptions?: string[] } | undefined;
      open.set(m.id, notifications?.resourceSubscriptions ?? []);
    } else if (m.listen_closed !== undefined) open.delete(m.listen_closed);
    step([...open.values()]);
  }
}

/** The resources each of the server's open `subscriptions/listen` streams asks about (HTTP), in the order they opened. */
export function openListenFilters(log: string): string[][] {
  let last: string[][] = [];
  replayListens(log, (open) => (last = open));
  return last;
}

/** How often the server's open listen streams went from asking about `uri` to none asking about it: each is one "stop". */
export function listenDrops(log: string, uri: string): number {
  let drops = 0;
  let held = false;
  replayListens(log, (open) => {
    const now = open.some((uris) => uris.includes(uri));
    if (held && !now) drops++;
    held = now;
  });
  return drops;
}
