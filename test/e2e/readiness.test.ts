import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { FIXTURE_SERVER, TSX_LOADER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';

const ADMIN = 'alice-admin-token-0123456789';
const AGENT = 'agent-token-0123456789';

let gateway: RunningGateway;

before(async () => {
  // `fx` connects; `ghost` cannot start, so the gateway is not ready and its check carries an error text.
  gateway = await startGateway({
    config: [
      'servers:',
      '  fx:',
      `    command: ${process.execPath}`,
      `    args: [--import, ${TSX_LOADER}, ${FIXTURE_SERVER}]`,
      '    policy: policy.json',
      '  ghost:',
      '    command: airlock-no-such-command',
      '    policy: policy.json',
      `grants:\n  - { name: agent, token: ${AGENT} }`,
      `admins:\n  - { name: alice, token: ${ADMIN} }`,
      '',
    ].join('\n'),
    files: { 'policy.json': JSON.stringify({ version: '1', default: 'allow' }) },
  });
});
after(() => gateway?.stop());

async function readyz(token?: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${gateway.url}/readyz`, { headers: token === undefined ? {} : { Authorization: `Bearer ${token}` } });
  return { status: response.status, text: await response.text() };
}

test('/readyz with the admin token names each check: servers, tool counts, the upstream error', async () => {
  let answer = await readyz(ADMIN);
  await until('fx to connect', async () => {
    answer = await readyz(ADMIN);
    return answer.text.includes('"upstream:fx","ok":true');
  });
  assert.equal(answer.status, 503);
  const body = JSON.parse(answer.text) as { ready: boolean; checks: { name: string; ok: boolean; detail?: string }[] };
  assert.equal(body.ready, false);
  assert.deepEqual(
    body.checks.map((c) => c.name),
    ['redis', 'upstream:fx', 'upstream:ghost'],
  );
  assert.equal(body.checks[1]?.detail, '4 tools');
  assert.equal(body.checks[2]?.detail, 'disconnected: spawn airlock-no-such-command ENOENT');
});

test('/readyz without the admin token (none, a wrong one, an agent token) says only whether it is ready, with the same status, never 401', async () => {
  for (const token of [undefined, 'nonsense', AGENT, `${ADMIN}x`]) {
    const { status, text } = await readyz(token);
    assert.equal(status, 503, `token ${token ?? '(none)'}`);
    assert.deepEqual(JSON.parse(text), { ready: false }, `token ${token ?? '(none)'}`);
    for (const secret of ['fx', 'ghost', 'tools', 'ENOENT', 'redis', 'PING'])
      assert.ok(!text.includes(secret), `token ${token ?? '(none)'}: ${text} shows ${secret}`);
  }
});
