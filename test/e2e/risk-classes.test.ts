import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { FILESYSTEM_SERVER } from '../support/mcp-servers.js';
import { assertRefusal, firstText } from '../support/refusal.js';

// No tool is listed: every call follows the risk class the inventory gives the server's own definition.
const POLICY = { version: '1', default: 'deny', risk: { read: 'allow', write: 'deny' } };

let gateway: RunningGateway;
let client: Client;

before(async () => {
  gateway = await startGateway({
    config: `servers:\n  filesystem:\n    command: ${process.execPath}\n    args: [${FILESYSTEM_SERVER}, ./sandbox]\n    policy: policy.json\n`,
    files: { 'policy.json': JSON.stringify(POLICY), 'sandbox/hello.txt': 'hello' },
  });
  client = await gateway.connect('/mcp/filesystem');
});
after(() => gateway?.stop());

test('a read tool the policy does not list follows risk.read at run time', async () => {
  const result = await client.callTool({ name: 'read_text_file', arguments: { path: `${gateway.dir}/sandbox/hello.txt` } });
  assert.notEqual(result.isError, true, firstText(result));
  assert.equal(firstText(result), 'hello');
});

test('a write tool the policy does not list follows risk.write, and the refusal names the class', async () => {
  const { meta } = assertRefusal(
    await client.callTool({ name: 'write_file', arguments: { path: `${gateway.dir}/sandbox/x.txt`, content: 'x' } }),
    'POLICY DENIED',
    { decision: 'deny', rule: 'risk.write' },
  );
  assert.match(String(meta.reason), /risk class is write/);
});
