import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { RECORDING_ENTRY, RECORDING_SOURCE, recordingServer } from '../support/recording-upstream.js';

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

let gateway: RunningGateway;
before(async () => {
  gateway = await startGateway({
    config: `servers:\n${recordingServer('fixture', 'fixture.yaml')}`,
    files: { [RECORDING_ENTRY]: RECORDING_SOURCE, 'fixture.yaml': 'version: "1"\ndefault: deny\ntools:\n  echo: {}\n' },
  });
});
after(() => gateway.stop());

test('an allowed call reaches the server and a default-denied one does not', async () => {
  const client = await gateway.connect('/mcp/fixture');
  assert.deepEqual(await client.callTool({ name: 'echo', arguments: { text: 'hi' } }), { content: [{ type: 'text', text: 'hi' }] });
  const denied = await client.callTool({ name: 'pid', arguments: {} });
  assert.equal(denied.isError, true);
  assert.match(
    (denied.content as { text: string }[])[0]!.text,
    /^\[POLICY DENIED\] pid is not listed in the policy and the default is deny$/,
  );
});

test("the gateway gives the package's version to the agent and to the upstream", async () => {
  const client = await gateway.connect('/mcp/fixture');
  assert.deepEqual(client.getServerVersion(), { name: 'airlock/fixture', version: PACKAGE_VERSION });
  // A call answered means the upstream's initialize, sent before it, has been recorded.
  await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
  const initialize = readFileSync(join(gateway.dir, 'fixture-calls.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.includes('"initialize"'))
    .map((line) => JSON.parse(line) as { method?: string; params?: { clientInfo?: unknown } })
    .find((m) => m.method === 'initialize');
  assert.deepEqual(initialize?.params?.clientInfo, { name: 'airlock', version: PACKAGE_VERSION });
});

test('SIGTERM stops the gateway with exit code 0', async () => {
  const other = await startGateway({
    config: 'servers:\n  fixture:\n    command: node\n    args: [--version]\n    policy: p.yaml\n',
    files: { 'p.yaml': 'version: "1"\ndefault: deny\n' },
  });
  assert.equal(await other.stop(), 0);
});
