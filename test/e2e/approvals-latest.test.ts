import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { api } from '../support/approvals-api.js';
import { startCliInTerminal, type RunningCli } from '../support/cli-process.js';
import type { RunningGateway } from '../support/gateway.js';
import { approvalOf, track, type Tracked } from '../support/held-call.js';
import { until } from '../support/poll.js';
import { startRecordingGateway, upstreamCalls } from '../support/recording-upstream.js';
import { firstText } from '../support/refusal.js';
import { airlock } from '../support/run-cli.js';

const AGENT = 'agent-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';

const POLICY = {
  version: '1',
  default: 'deny',
  tools: { echo: { action: 'require_approval', reason: 'Echoes need a person' } },
};

let gateway: RunningGateway;
let client: Client;
let config: string;
let env: NodeJS.ProcessEnv;
const terminals: RunningCli[] = [];

before(async () => {
  gateway = await startRecordingGateway({
    policy: POLICY,
    agent: AGENT,
    admins: { alice: ALICE },
    config: ['approvals: { channel: console, timeout: 10m }'],
  });
  client = await gateway.connect('/mcp/fixture', AGENT);
  config = join(gateway.dir, 'airlock.yaml');
  env = { ...process.env, REDIS_URL: gateway.redis.url, AIRLOCK_ADMIN_TOKEN: ALICE };
});
after(async () => {
  for (const terminal of terminals) if (terminal.process.exitCode === null) terminal.process.kill('SIGKILL');
  await gateway?.stop();
});

/** `airlock approvals <verb> --latest` under a pseudo-terminal, once it asks for the id; returns it and the id it shows. */
async function latest(verb: 'approve' | 'reject', more: string[] = []): Promise<{ terminal: RunningCli; shown: string }> {
  const terminal = startCliInTerminal(['approvals', verb, '--latest', '-c', config, ...more], { cwd: gateway.dir, env });
  terminals.push(terminal);
  const [, shown] = await terminal.waitFor('the question', new RegExp(`Type (apr_[\\w-]{22}) to ${verb} it \\(anything else cancels\\): `));
  return { terminal, shown: shown! };
}

/** Holds an echo call and returns it with its approval id. */
async function hold(text: string): Promise<{ id: string; call: Tracked<unknown> }> {
  const ids = async () => ((await api(gateway.url, '/api/approvals?state=all', ALICE)).body.approvals ?? []).map((a) => String(a.id));
  const known = new Set(await ids());
  const call = track(client.callTool({ name: 'echo', arguments: { text } }));
  let id: string | undefined;
  await until(`the held call "${text}"`, async () => (id = (await ids()).find((i) => !known.has(i))) !== undefined);
  return { id: id!, call };
}

const state = async (id: string) => (await approvalOf(gateway, ALICE, id)).state;

test('approve --latest shows the newest request, waits for its id, and approves that one even when a newer request arrives meanwhile', async () => {
  const older = await hold('older');
  const shownOne = await hold('the one shown');
  const { terminal, shown } = await latest('approve');
  assert.equal(shown, shownOne.id, 'the newest pending request is shown');
  assert.match(terminal.stdout, new RegExp(`id: +${shownOne.id}\\r\\n`));
  assert.match(terminal.stdout, /"text": "the one shown"/);
  assert.match(terminal.stdout, /config airlock\.yaml · redis redis:\/\/127\.0\.0\.1:\d+\/0 \(REDIS_URL\)/);
  assert.equal(await state(shownOne.id), 'pending', 'nothing is decided before the id is typed');

  // An agent slips a newer call in while the person reads: the decision is still of the request shown.
  const slipped = await hold('slipped in');
  terminal.write(`${shownOne.id}\r`);
  assert.equal(await terminal.exited, 0, terminal.stdout);
  assert.match(terminal.stdout, new RegExp(`${shownOne.id} approved: fixture/echo is released`));
  assert.match(terminal.stdout, new RegExp(`1 newer request arrived meanwhile, left pending: ${slipped.id}`));
  assert.match(firstText(await shownOne.call.promise), /the one shown/);
  assert.equal(await state(slipped.id), 'pending');
  assert.equal(await state(older.id), 'pending');
  assert.equal(upstreamCalls(gateway, 'fixture', 'echo').length, 1, 'only the approved call ran');

  for (const { id, call } of [older, slipped]) {
    await api(gateway.url, `/api/approvals/${id}/reject`, ALICE, { method: 'POST' });
    await call.promise;
  }
});

test('reject --latest decides nothing unless the exact id shown is typed: another id, nothing, or Ctrl-D cancel', async () => {
  const other = await hold('another request');
  const newest = await hold('newest');
  for (const input of [`${other.id}\r`, '\r', '\x04']) {
    const { terminal, shown } = await latest('reject', ['--reason', 'no']);
    assert.equal(shown, newest.id);
    terminal.write(input);
    assert.equal(await terminal.exited, 1, terminal.stdout);
    assert.match(terminal.stdout, /cancelled \((?:"apr_[\w-]{22}" is not its id|nothing typed|no answer)\): nothing was decided/);
  }
  assert.equal(await state(newest.id), 'pending');
  assert.equal(await state(other.id), 'pending');
  for (const { id, call } of [other, newest]) {
    await api(gateway.url, `/api/approvals/${id}/reject`, ALICE, { method: 'POST' });
    await call.promise;
  }
});

test('a request decided by someone else while the id is typed is left as it is, and said to be (exit 1)', async () => {
  const held = await hold('decided elsewhere');
  const { terminal, shown } = await latest('approve');
  assert.equal(shown, held.id);
  assert.equal(
    (await api(gateway.url, `/api/approvals/${held.id}/reject`, ALICE, { method: 'POST', body: { reason: 'not now' } })).status,
    200,
  );
  terminal.write(`${held.id}\r`);
  assert.equal(await terminal.exited, 1, terminal.stdout);
  assert.match(terminal.stdout, new RegExp(`${held.id} was not changed: it was already rejected by alice at \\S+: not now`));
  assert.equal(await state(held.id), 'rejected');
  assert.match(firstText(await held.call.promise), /\[APPROVAL REJECTED\]/);
});

test('--latest needs a terminal: without one it is refused as a usage error (exit 2), and so are an id with --latest and neither', async () => {
  const held = await hold('no terminal here');
  const cases: [string[], RegExp][] = [
    [['approve', '--latest'], /error: --latest needs a terminal \(stdin and stdout\).*airlock approvals approve <id>/],
    [['reject', '--latest'], /error: --latest needs a terminal .*airlock approvals reject <id>/],
    [['approve', held.id, '--latest'], /error: give an id or --latest, not both/],
    [['approve'], /error: missing required argument 'id' \(or give --latest, on a terminal\)/],
  ];
  for (const [argv, message] of cases) {
    const result = await airlock(['approvals', ...argv, '-c', config], gateway.dir, env);
    assert.equal(result.code, 2, `${argv.join(' ')}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr, message);
    assert.ok(!result.stdout.includes(held.id), 'nothing of the request is shown');
  }
  assert.equal(await state(held.id), 'pending');
  await api(gateway.url, `/api/approvals/${held.id}/reject`, ALICE, { method: 'POST' });
  await held.call.promise;
});

test('--latest with nothing pending says so, and which Redis it asked (exit 1)', async () => {
  const terminal = startCliInTerminal(['approvals', 'approve', '--latest', '-c', config], { cwd: gateway.dir, env });
  terminals.push(terminal);
  assert.equal(await terminal.exited, 1, terminal.stdout);
  assert.match(
    terminal.stdout,
    /no pending approval requests: nothing to approve\r\nasked redis:\/\/127\.0\.0\.1:\d+\/0, where 1 gateway holds calls/,
  );
});
