import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { api, pendingFor } from '../support/approvals-api.js';
import { startCli, type RunningCli } from '../support/cli-process.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { track, type Tracked } from '../support/held-call.js';
import { until } from '../support/poll.js';
import { cli } from '../support/run-cli.js';
import { startRecordingGateway } from '../support/recording-upstream.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const AGENT = 'agent-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';
const BOB = 'bob-admin-token-0123456789';

const POLICY = {
  version: '1',
  default: 'deny',
  tools: { echo: { action: 'require_approval', reason: 'Echoes need a person', approval: { approvers: ['alice'] } } },
};

let redis: TestRedis;
let gateway: RunningGateway;
let client: Client;
let config: string;
const watches: RunningCli[] = [];

before(async () => {
  // Persistent, so a request pending across a Redis restart is still there after it (and must not be printed again).
  redis = await startRedis({ appendonly: true });
  gateway = await startRecordingGateway({
    policy: POLICY,
    agent: AGENT,
    admins: { alice: ALICE, bob: BOB },
    config: ['approvals: { channel: console, timeout: 10m }'],
    redis,
  });
  client = await gateway.connect('/mcp/fixture', AGENT);
  config = join(gateway.dir, 'airlock.yaml');
});
after(async () => {
  for (const watch of watches) if (watch.process.exitCode === null) watch.process.kill('SIGKILL');
  await gateway?.stop();
  await redis?.stop();
});

function watch(argv: string[], token: string | undefined): RunningCli {
  const env: NodeJS.ProcessEnv = { REDIS_URL: redis.url, AIRLOCK_ADMIN_TOKEN: token ?? '' };
  const running = startCli(['approvals', 'watch', '-c', config, ...argv], { cwd: gateway.dir, env });
  watches.push(running);
  return running;
}

/** Holds an echo call on `on` and returns it with its approval id, once the gateway lists it. */
async function hold(text: string, on = gateway, agent = client): Promise<{ id: string; call: Tracked<unknown> }> {
  const ids = async () => ((await api(on.url, '/api/approvals?state=all', ALICE)).body.approvals ?? []).map((a) => String(a.id));
  const known = new Set(await ids());
  const call = track(agent.callTool({ name: 'echo', arguments: { text } }));
  let id: string | undefined;
  await until(`the held call "${text}"`, async () => (id = (await ids()).find((i) => !known.has(i))) !== undefined);
  return { id: id!, call };
}

const count = (text: string, part: string) => text.split(part).length - 1;

/** After a Redis restart the gateway refuses calls until it has reconnected (it fails closed): wait for that. */
const ready = (on: RunningGateway) =>
  until('the gateway to answer /readyz 200 again', async () => (await fetch(`${on.url}/readyz`)).status === 200);

test('watch says what is already pending, prints each new request once with who decides, its expiry, a redacted preview and the commands to decide it, rings the bell, goes on after a Redis restart, and exits 0 on SIGINT', async () => {
  const early = await hold('held before the watch');
  const running = watch(['--bell'], ALICE);
  await running.waitFor('the already pending request', new RegExp(`1 request already pending:\\n${early.id}  fixture/echo`));
  await running.waitFor('the watching line', /watching for new requests \(Ctrl-C to stop\)/, 'stderr');
  assert.match(running.stderr, new RegExp(`^config airlock\\.yaml · redis redis://127\\.0\\.0\\.1:${redis.port}/0 \\(REDIS_URL\\)$`, 'm'));
  assert.match(running.stderr, /where 1 gateway holds calls; watching/);
  assert.ok(!running.stdout.includes(`\x07${early.id}`), 'a request pending before the watch began rings no bell');

  const fresh = await hold('Authorization: Bearer sk-abcdefghijklmnop0123456789');
  const block = (
    await running.waitFor(
      'the new request',
      new RegExp(`\\x07${fresh.id}  fixture/echo  grant agent  expires \\S+ \\(in \\d+ min\\)\\n(?:  .*\\n){5}`),
    )
  )[0];
  assert.match(block, /\n {2}reason: {4}Echoes need a person\n/);
  assert.match(block, /\n {2}approvers: alice \(1 needed\)\n/);
  assert.match(
    block,
    /\n {2}arguments: \{"text":"Authorization: Bearer \[redacted\]"\} {2}\(secrets redacted: airlock approvals show apr_/,
  );
  assert.ok(block.includes(`  approve:   airlock approvals approve ${fresh.id} -c ${config}\n`), block);
  assert.ok(block.includes(`  reject:    airlock approvals reject ${fresh.id} -c ${config} --reason "…"`), block);
  assert.ok(!running.stdout.includes('sk-abcdefghijklmnop'), 'the secret is never printed');

  // What an agent writes cannot drive the terminal: no escape sequence, carriage return or bell of its own reaches it.
  const hostile = await hold('\x1b[2K\r  approve: airlock approvals approve apr_X\x07');
  await running.waitFor('the hostile request', new RegExp(`${hostile.id}  fixture/echo[^\\n]*\\n(?:  .*\\n){4}  reject: .*\\n`));
  assert.ok(!running.stdout.includes('\x1b') && !running.stdout.includes('\r'), 'a raw escape or carriage return reached the terminal');
  assert.ok(running.stdout.includes(String.raw`{"text":"\u001b[2K\r  approve: airlock approvals approve apr_X\u0007"}`), running.stdout);
  assert.equal(count(running.stdout, '\x07'), 2, 'one bell for each new request, none from the agent');

  // Restarted with its data (append-only file): the watch reconnects, finds nothing new in what survived, and sees the next request.
  await redis.restart();
  await running.waitFor(
    'the reconnection',
    // (Listing may fail a moment longer, while the command's own client reconnects: it says so, and tries again.)
    /lost Redis at [^\n]*\n(?:could not list the pending requests: [^\n]*; trying again\n)*Redis at redis:\/\/127\.0\.0\.1:\d+\/0 answers again: 3 requests pending, none new since it was lost\n/,
    'stderr',
  );
  await ready(gateway);
  const later = await hold('held after the Redis restart');
  await running.waitFor('the request held after the restart', new RegExp(`\\x07${later.id}  fixture/echo`));
  for (const { id } of [early, fresh, hostile, later]) assert.equal(count(running.stdout, `${id}  fixture/echo`), 1, `${id} printed once`);

  running.process.kill('SIGINT');
  assert.equal(await running.exited, 0, running.stderr);
  for (const { id } of [early, fresh, hostile, later]) await api(gateway.url, `/api/approvals/${id}/reject`, ALICE, { method: 'POST' });
  await Promise.all([early, fresh, hostile, later].map(({ call }) => call.promise.catch(() => undefined)));
});

test('watch --json prints one JSON object per request line (stdout stays clean: the where line and the bell go to stderr), says whether this admin may decide, and exits 0 on SIGTERM', async () => {
  const running = watch(['--json', '--bell'], BOB);
  await running.waitFor('the watching line', /watching for new requests/, 'stderr');
  const { id, call } = await hold('watched as JSON');
  await running.waitFor('the JSON line', new RegExp(`"id":"${id}"`));
  await running.waitFor('the bell', new RegExp(`\\x07new approval request ${id}`), 'stderr');
  const lines = running.stdout.trimEnd().split('\n');
  const seen = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  const mine = seen.find((r) => r.id === id)!;
  assert.equal(mine.state, 'pending');
  assert.equal(mine.already_pending, false);
  assert.deepEqual(mine.arguments, { text: 'watched as JSON' });
  assert.equal(mine.arguments_redacted, false);
  assert.deepEqual(mine.approvers, ['alice']);
  assert.equal(mine.you_may_decide, false, 'bob is not among its approvers');
  assert.deepEqual(mine.commands, {
    approve: `airlock approvals approve ${id} -c ${config}`,
    reject: `airlock approvals reject ${id} -c ${config} --reason "…"`,
  });
  running.process.kill('SIGTERM');
  assert.equal(await running.exited, 0, running.stderr);
  await api(gateway.url, `/api/approvals/${id}/reject`, ALICE, { method: 'POST' });
  await call.promise.catch(() => undefined);
});

test('watch reveals arguments, so it needs an admin token: without one, or with a wrong one, it exits 1 before showing anything', async () => {
  const { id, call } = await hold('not for strangers');
  for (const token of [undefined, 'not-an-admin-token-0000']) {
    const running = watch([], token);
    assert.equal(await running.exited, 1);
    assert.match(
      running.stderr,
      token === undefined ? /airlock: no admin token given/ : /airlock: AIRLOCK_ADMIN_TOKEN: the token matches no admin/,
    );
    assert.ok(!running.stdout.includes(id) && !running.stdout.includes('not for strangers'), running.stdout);
  }
  await pendingFor(gateway.url, ALICE, 'echo');
  await api(gateway.url, `/api/approvals/${id}/reject`, ALICE, { method: 'POST' });
  await call.promise.catch(() => undefined);
});

test('a Redis restarted empty starts a new event stream: the watch reconnects and still prints the next request', async () => {
  const empty = await startRedis();
  const own = await startRecordingGateway({
    policy: POLICY,
    agent: AGENT,
    admins: { alice: ALICE },
    config: ['approvals: { channel: console, timeout: 10m }'],
    redis: empty,
  });
  try {
    const ownClient = await own.connect('/mcp/fixture', AGENT);
    const running = startCli(['approvals', 'watch', '-c', join(own.dir, 'airlock.yaml')], {
      cwd: own.dir,
      env: { REDIS_URL: empty.url, AIRLOCK_ADMIN_TOKEN: ALICE },
    });
    watches.push(running);
    await running.waitFor('the watching line', /watching for new requests/, 'stderr');
    const first = await hold('before', own, ownClient);
    await running.waitFor('the first request', new RegExp(`${first.id}  fixture/echo`));
    await empty.restart();
    await ready(own);
    // The gateway comes back to the empty Redis (its digest key and lease restored) and holds again.
    const second = await hold('after', own, ownClient);
    await running.waitFor('the request held after the restart', new RegExp(`${second.id}  fixture/echo`));
    running.process.kill('SIGINT');
    assert.equal(await running.exited, 0, running.stderr);
    await api(own.url, `/api/approvals/${second.id}/reject`, ALICE, { method: 'POST' });
    await second.call.promise.catch(() => undefined);
    void first.call.promise.catch(() => undefined);
  } finally {
    await own.stop();
    await empty.stop();
  }
});

test('a tool name with line feeds cannot add a row to watch, list or show, such as a command that decides another request', async () => {
  // The upstream never starts, so the gateway cannot tell the name is unknown, and the policy holds every call: the name reaches the request as the agent chose it.
  const down = await startGateway({
    config: [
      'servers:',
      `  down: { command: ${JSON.stringify(process.execPath)}, args: [-e, "process.exit(1)"], policy: policy.json }`,
      `grants: [{ name: agent, token: ${AGENT} }]`,
      `admins: [{ name: alice, token: ${ALICE} }]`,
      'approvals: { channel: console, timeout: 10m }',
    ].join('\n'),
    files: {
      'policy.json': JSON.stringify({
        version: '1',
        default: 'deny',
        tools: { '*': { action: 'require_approval', reason: 'needs a person' } },
      }),
    },
  });
  const agent = await down.connect('/mcp/down', AGENT);
  const downConfig = join(down.dir, 'airlock.yaml');
  const env = { REDIS_URL: down.redis.url, AIRLOCK_ADMIN_TOKEN: ALICE };
  const running = startCli(['approvals', 'watch', '-c', downConfig], { cwd: down.dir, env });
  watches.push(running);
  try {
    await running.waitFor('the watching line', /watching for new requests/, 'stderr');
    const forged = 'apr_AAAAAAAAAAAAAAAAAAAAAA';
    const name = `read_file\n  approve:   airlock approvals approve ${forged}\ncall:      down/harmless\n`;
    const call = track(agent.callTool({ name, arguments: {} }));
    await running.waitFor('the held request', /reject: +airlock approvals reject apr_\w+/);
    const id = String((await api(down.url, '/api/approvals', ALICE)).body.approvals?.[0]?.id);
    const list = await cli(['approvals', 'list', '-c', downConfig], down.dir, env);
    const show = await cli(['approvals', 'show', id, '-c', downConfig], down.dir, env);
    for (const [what, text] of [
      ['watch', running.stdout],
      ['list', list.stdout],
      ['show', show.stdout],
    ] as const) {
      assert.deepEqual(
        text.split('\n').filter((line) => line.trimStart().startsWith(`approve:   airlock approvals approve ${forged}`)),
        [],
        `${what} shows a forged row:\n${text}`,
      );
      assert.ok(!text.split('\n').some((line) => /^\s*call: +down\/harmless/.test(line)), `${what} shows a forged call row:\n${text}`);
    }
    assert.match(running.stdout, new RegExp(`approve: +airlock approvals approve ${id}`));
    await api(down.url, `/api/approvals/${id}/reject`, ALICE, { method: 'POST' });
    await call.promise.catch(() => undefined);
  } finally {
    running.process.kill('SIGINT');
    await agent.close();
    await down.stop();
  }
});
