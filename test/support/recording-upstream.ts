import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startGateway, type RunningGateway } from './gateway.js';
import { FIXTURE_SERVER, TSX_LOADER } from './mcp-servers.js';
import type { TestRedis } from './redis.js';

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

export interface RecordingGatewayOptions {
  /** The policy of server `fixture` (its file: `policy.json`). */
  policy: object;
  /** The token of the one grant, `agent`. */
  agent: string;
  /** Admin names and their tokens. */
  admins: Record<string, string>;
  /** Runs the fixture with FIXTURE_RUG_PULL=1 (it then also has `write_file` and `rug_pull`). */
  rugPull?: boolean;
  /** Runs the fixture with FIXTURE_PARAM_HEADERS=1 (it then also has `route_query`, with an `x-mcp-header`). */
  paramHeaders?: boolean;
  /** More config lines (`approvals: …`, `audit: …`, `redis: …`). */
  config?: string[];
  redis?: TestRedis;
  /** More environment for `airlock start` (what `${VAR}` in the config reads). */
  env?: NodeJS.ProcessEnv;
}

/** `airlock start` (see `startGateway`) with the recording fixture upstream as server `fixture`, one grant and the given admins. */
export function startRecordingGateway(options: RecordingGatewayOptions): Promise<RunningGateway> {
  const env = [options.rugPull && 'FIXTURE_RUG_PULL: "1"', options.paramHeaders && 'FIXTURE_PARAM_HEADERS: "1"'].filter(Boolean);
  const server = recordingServer('fixture', 'policy.json') + (env.length > 0 ? `    env: { ${env.join(', ')} }\n` : '');
  return startGateway({
    config: [
      `servers:\n${server.trimEnd()}`,
      'grants:',
      `  - { name: agent, token: ${options.agent} }`,
      'admins:',
      ...Object.entries(options.admins).map(([name, token]) => `  - { name: ${name}, token: ${token} }`),
      ...(options.config ?? []),
      '',
    ].join('\n'),
    files: { [RECORDING_ENTRY]: RECORDING_SOURCE, 'policy.json': JSON.stringify(options.policy) },
    ...(options.redis && { redis: options.redis }),
    ...(options.env && { env: options.env }),
  });
}
