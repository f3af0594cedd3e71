import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RunningGateway } from './gateway.js';
import { FIXTURE_SERVER, TSX_LOADER } from './mcp-servers.js';

/**
 * The fixture server behind a small script that appends whatever the gateway
 * writes to its stdin to `<name>-calls.jsonl` in the gateway's folder, so a
 * test sees every call that really reached the upstream.
 */
export const RECORDING_ENTRY = 'upstream.mjs';
export const RECORDING_SOURCE = [
  "import { appendFileSync } from 'node:fs';",
  `await import(${JSON.stringify(pathToFileURL(FIXTURE_SERVER).href)});`,
  "process.stdin.on('data', (chunk) => appendFileSync(process.argv[2], chunk));",
  '',
].join('\n');

/** The YAML lines of one recording fixture upstream under `servers:`. */
export function recordingServer(name: string, policy: string): string {
  return `  ${name}:\n    command: ${process.execPath}\n    args: [--import, ${TSX_LOADER}, ./${RECORDING_ENTRY}, ${name}-calls.jsonl]\n    policy: ${policy}\n`;
}

/** The arguments of every `tools/call` of `tool` that reached the upstream `name`. */
export function upstreamCalls(gateway: RunningGateway, name: string, tool: string): Record<string, unknown>[] {
  const file = join(gateway.dir, `${name}-calls.jsonl`);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.includes('"tools/call"'))
    .map((line) => JSON.parse(line) as { method?: string; params?: { name?: string; arguments?: Record<string, unknown> } })
    .filter((m) => m.method === 'tools/call' && m.params?.name === tool)
    .map((m) => m.params?.arguments ?? {});
}
