import { startGateway, type RunningGateway } from './gateway.js';
import { FIXTURE_SERVER, TSX_LOADER } from './mcp-servers.js';
import type { TestRedis } from './redis.js';

export const FIXTURE_AGENT = 'agent-token-0123456789';
export const FIXTURE_ADMIN = 'alice-admin-token-0123456789';

/**
 * `airlock start` in front of the fixture server (`echo`, `sleep`, `pid`,
 * `start_dicom_export_job`) as server `fx` under `policy` (its file is
 * `fx.json`), with one grant (FIXTURE_AGENT), one admin, alice
 * (FIXTURE_ADMIN), and the console approval channel. `extra` is more YAML;
 * with `redis`, the gateway uses it and leaves it running when it stops.
 */
export function startFixtureGateway(policy: object, extra = '', redis?: TestRedis): Promise<RunningGateway> {
  return startGateway({
    config: [
      'servers:',
      '  fx:',
      `    command: ${process.execPath}`,
      `    args: [--import, ${TSX_LOADER}, ${FIXTURE_SERVER}]`,
      '    policy: fx.json',
      `grants:\n  - { name: agent, token: ${FIXTURE_AGENT} }`,
      `admins:\n  - { name: alice, token: ${FIXTURE_ADMIN} }`,
      'approvals: { channel: console }',
      extra,
      '',
    ].join('\n'),
    files: { 'fx.json': JSON.stringify(policy) },
    ...(redis && { redis }),
  });
}
