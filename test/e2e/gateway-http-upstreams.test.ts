import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, test } from 'node:test';
import { freePort } from '../../src/redis/index.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { EVERYTHING_SERVER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';

const ADMIN = 'alice-admin-token-0123456789';
const children: ChildProcess[] = [];
let gateway: RunningGateway;

/** server-everything over HTTP on a free port, answering once it listens. */
async function everythingOverHttp(mode: 'streamableHttp' | 'sse'): Promise<number> {
  const port = await freePort();
  const child = spawn(process.execPath, [EVERYTHING_SERVER, mode], { env: { ...process.env, PORT: String(port) }, stdio: 'ignore' });
  children.push(child);
  await until(`server-everything (${mode}) to listen`, () =>
    fetch(`http://127.0.0.1:${port}/`).then(
      () => true,
      () => false,
    ),
  );
  return port;
}

before(async () => {
  const [streamable, sse] = await Promise.all([everythingOverHttp('streamableHttp'), everythingOverHttp('sse')]);
  gateway = await startGateway({
    config: [
      'servers:',
      '  modern:',
      `    url: http://127.0.0.1:${streamable}/mcp`,
      '    headers: { X-Tenant: airlock-test }',
      '    policy: policy.yaml',
      '  legacy:',
      `    url: http://127.0.0.1:${sse}/sse`,
      '    policy: policy.yaml',
      'admins:',
      `  - { name: alice, token: ${ADMIN} }`,
      '',
    ].join('\n'),
    files: { 'policy.yaml': 'version: "1"\ndefault: deny\ntools:\n  echo: {}\n' },
  });
});

after(async () => {
  await gateway?.stop();
  for (const child of children) child.kill();
});

test('a Streamable HTTP upstream is proxied: allowed calls answer, unlisted ones are denied', async () => {
  const client = await gateway.connect('/mcp/modern');
  assert.deepEqual(await client.callTool({ name: 'echo', arguments: { message: 'over streamable http' } }), {
    content: [{ type: 'text', text: 'Echo: over streamable http' }],
  });
  const denied = await client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } });
  assert.equal(denied.isError, true);
});

test('an SSE-only upstream (protocol 2024-11-05) is reached through the fallback', async () => {
  const client = await gateway.connect('/mcp/legacy');
  assert.ok((await client.listTools()).tools.some((t) => t.name === 'echo'));
  assert.deepEqual(await client.callTool({ name: 'echo', arguments: { message: 'over sse' } }), {
    content: [{ type: 'text', text: 'Echo: over sse' }],
  });
});

test('readiness reports both HTTP upstreams connected, to an admin', async () => {
  const ready = (await (await fetch(`${gateway.url}/readyz`, { headers: { Authorization: `Bearer ${ADMIN}` } })).json()) as {
    ready: boolean;
    checks: { name: string; ok: boolean }[];
  };
  assert.equal(ready.ready, true);
  assert.deepEqual(
    ready.checks.map((c) => [c.name, c.ok]),
    [
      ['redis', true],
      ['upstream:modern', true],
      ['upstream:legacy', true],
    ],
  );
});
