import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { FIXTURE_SERVER, TSX_LOADER } from '../support/mcp-servers.js';

let gateway: RunningGateway;
before(async () => {
  gateway = await startGateway({
    config: `servers:\n  fixture:\n    command: ${process.execPath}\n    args: [--import, ${TSX_LOADER}, ${FIXTURE_SERVER}]\n    policy: fixture.yaml\n`,
    files: { 'fixture.yaml': 'version: "1"\ndefault: deny\ntools:\n  echo: {}\n' },
  });
});
after(() => gateway.stop());

test('an allowed call reaches the server and a default-denied one does not', async () => {
  const client = await gateway.connect('/mcp/fixture');
  assert.deepEqual(await client.callTool({ name: 'echo', arguments: { text: 'hi' } }), { content: [{ type: 'text', text: 'hi' }] });
  const denied = await client.callTool({ name: 'pid', arguments: {} });
  assert.equal(denied.isError, true);
  assert.match((denied.content as { text: string }[])[0]!.text, /^\[POLICY DENIED\] pid is not listed in the policy and the default is deny$/);
});

test('SIGTERM stops the gateway with exit code 0', async () => {
  const other = await startGateway({ config: 'servers:\n  fixture:\n    command: node\n    args: [--version]\n    policy: p.yaml\n', files: { 'p.yaml': 'version: "1"\ndefault: deny\n' } });
  assert.equal(await other.stop(), 0);
});
