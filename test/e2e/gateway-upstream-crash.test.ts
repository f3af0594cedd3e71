import assert from 'node:assert/strict';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { FIXTURE_SERVER, TSX_LOADER } from '../support/mcp-servers.js';
import { until, within } from '../support/poll.js';
import { only, openSession, read, send, toolCall } from '../support/raw-mcp.js';
import { assertRefusal, firstText } from '../support/refusal.js';

// The upstream runs the fixture server through a one-line script in the gateway's folder, so a test can make
// a respawn fail (by moving the script away) and so hold the upstream down for as long as it needs.
const ENTRY = 'upstream.mjs';
const ADMIN = 'alice-admin-token-0123456789';
const CONFIG = `servers:\n  fixture:\n    command: ${process.execPath}\n    args: [--import, ${TSX_LOADER}, ./${ENTRY}]\n    policy: fixture.yaml\nadmins:\n  - { name: alice, token: ${ADMIN} }\n`;
const POLICY = 'version: "1"\ndefault: deny\ntools:\n  echo: {}\n  sleep: {}\n  pid: {}\n';

let gateway: RunningGateway;
let client: Client;

before(async () => {
  gateway = await startGateway({
    config: CONFIG,
    files: { 'fixture.yaml': POLICY, [ENTRY]: `await import(${JSON.stringify(pathToFileURL(FIXTURE_SERVER).href)});\n` },
  });
  client = await gateway.connect('/mcp/fixture');
});
after(() => gateway?.stop());

async function upstreamPid(): Promise<number> {
  const result = await client.callTool({ name: 'pid', arguments: {} });
  assert.notEqual(result.isError, true, JSON.stringify(result));
  return Number(firstText(result));
}

/** `/readyz` as an admin sees it, with each check. */
async function readyz(): Promise<{ status: number; body: { ready: boolean; checks: { name: string; ok: boolean; detail?: string }[] } }> {
  const response = await fetch(new URL('/readyz', gateway.url), { headers: { Authorization: `Bearer ${ADMIN}` } });
  return { status: response.status, body: (await response.json()) as never };
}

let killed: number;

test('a call in flight when the upstream dies comes back [UNAVAILABLE] at once, saying it may have run', async () => {
  const pid = await upstreamPid();
  const endpoint = new URL('/mcp/fixture', gateway.url).href;
  const session = { 'mcp-session-id': await openSession(endpoint) };

  // The response headers come once the gateway has taken the call, and it writes the call to the server's stdin
  // before it reads another request; the server reads stdin in order. So once the next call is answered, the
  // server is inside the 10 s sleep.
  const response = await send(endpoint, toolCall(1, 'sleep', { ms: 10_000 }), session);
  assert.equal(response.status, 200);
  assert.equal(await upstreamPid(), pid);

  process.kill(pid, 'SIGKILL');
  killed = pid;
  // Answered because the gateway saw the crash: the dead server will never answer it.
  const answer = only(await within(30_000, 'the call cut off by the crash', read(response)));
  const { text } = assertRefusal(answer.result, 'UNAVAILABLE', { decision: 'unavailable', server: 'fixture', tool: 'sleep' });
  assert.match(text, /may or may not have run/);
});

test('Airlock respawns the dead upstream: /readyz is ready again and calls reach the new process', async () => {
  assert.ok(killed, 'runs after the crash test');
  await until('/readyz to answer 200 again', async () => (await readyz()).status === 200);
  const { body } = await readyz();
  assert.deepEqual(
    body.checks.filter((c) => c.name === 'upstream:fixture').map((c) => c.ok),
    [true],
  );

  const pid = await upstreamPid();
  assert.notEqual(pid, killed);
  assert.deepEqual(await client.callTool({ name: 'echo', arguments: { text: 'back again' } }), {
    content: [{ type: 'text', text: 'back again' }],
  });
  assert.ok(gateway.logs.some((l) => l.msg === 'upstream disconnected; reconnecting' && l.upstream === 'fixture'));
});

test('while the upstream cannot be restarted, calls answer [UNAVAILABLE] at once and /readyz says why', async () => {
  const pid = await upstreamPid();
  const entry = join(gateway.dir, ENTRY);
  renameSync(entry, `${entry}.away`);
  try {
    process.kill(pid, 'SIGKILL');
    await until('/readyz to answer 503', async () => (await readyz()).status === 503, 30_000);
    const check = (await readyz()).body.checks.find((c) => c.name === 'upstream:fixture');
    assert.equal(check?.ok, false);

    // At once: refused while the server still cannot start, not held until it can.
    const result = await within(
      30_000,
      'a call to the down upstream',
      client.callTool({ name: 'echo', arguments: { text: 'anyone there?' } }),
    );
    const { text } = assertRefusal(result, 'UNAVAILABLE', { decision: 'unavailable', server: 'fixture', tool: 'echo' });
    assert.match(text, /^\[UNAVAILABLE\] upstream fixture is not connected/);
    assert.match(text, /The call was not sent; retry later\.$/);
  } finally {
    renameSync(`${entry}.away`, entry);
  }

  await until('/readyz to answer 200 once the server can start', async () => (await readyz()).status === 200);
  assert.notEqual(await upstreamPid(), pid);
  assert.deepEqual(await client.callTool({ name: 'echo', arguments: { text: 'recovered' } }), {
    content: [{ type: 'text', text: 'recovered' }],
  });
});
