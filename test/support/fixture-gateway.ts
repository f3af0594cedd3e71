import { startGateway, type RunningGateway } from './gateway.js';
import { FIXTURE_SERVER, TSX_LOADER } from './mcp-servers.js';

export const FIXTURE_AGENT = 'agent-token-0123456789';
export const FIXTURE_ADMIN = 'alice-admin-token-0123456789';

/**
 * `airlock start` in front of the fixture server (`echo`, `sleep`, `pid`,
 * `start_dicom_export_job`) as server `fx` under `policy` (its file is
 * `fx.json`), with one grant (FIXTURE_AGENT), one admin, alice
 * (FIXTURE_ADMIN), and the console approval channel. `extra` is more YAML.
 */
export function startFixtureGateway(policy: object, extra = ''): Promise<RunningGateway> {
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
  });
}
