import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack.js';
import { track } from '../support/held-call.js';
import { firstText } from '../support/refusal.js';
import { AIRLOCK_BIN, airlock } from '../support/run-cli.js';
import {
  AGENT,
  APP_TOKEN,
  approvalIdIn,
  slackGatewayConfig,
  startSlackGateway,
  writeFilePolicy,
  type SlackGateway,
} from '../support/slack-gateway.js';
import { blockActions } from '../support/slack-interactions.js';

let slack: FakeSlack;
let gateway: SlackGateway;

before(async () => {
  slack = await startFakeSlack({ users: { U0ALICE: { name: 'alice' } } });
  gateway = await startSlackGateway({ slack, approvers: ['U0ALICE'], servers: { filesystem: writeFilePolicy() }, socket: true });
});
after(async () => {
  await gateway?.stop();
  await slack?.close();
});

test('with slack.app_token the gateway connects in Socket Mode (apps.connections.open on slack.api_url) and serves no /slack/events', async () => {
  await slack.socketConnected();
  const open = slack.callsTo('apps.connections.open');
  assert.equal(open.length, 1);
  assert.equal(open[0]!.token, APP_TOKEN, 'the socket URL is asked for with the app-level token');
  const http = await fetch(`${gateway.url}/slack/events`, { method: 'POST', body: 'payload={}' });
  assert.equal(http.status, 404);
  assert.ok(gateway.logs.some((l) => l.msg === 'Slack approvals: connected in Socket Mode'));
});

test('an Approve click arriving over the socket is acknowledged and releases the call', async () => {
  const path = join(gateway.sandbox, 'socket.txt');
  const client = await gateway.connect('/mcp/filesystem', AGENT);
  const from = slack.calls.length;
  const call = track(client.callTool({ name: 'write_file', arguments: { path, content: 'approved over the socket' } }));
  const posted = await slack.waitFor('chat.postMessage', () => true, { from });
  const ack = await slack.sendOverSocket(blockActions({ user: 'U0ALICE', action: 'approve', approvalId: approvalIdIn(posted) }));
  assert.deepEqual(ack, {});
  const result = await call.promise;
  assert.notEqual((result as { isError?: boolean }).isError, true, firstText(result));
  assert.equal(readFileSync(path, 'utf8'), 'approved over the socket');
  await slack.waitFor('chat.update', (c) => JSON.stringify(c.body.blocks).includes('<@U0ALICE>'), { from });
});

test('airlock stdio with Slack in HTTP mode refuses to start: it has no /slack/events to hear clicks on', async () => {
  const { config, files } = slackGatewayConfig({ slack, servers: { filesystem: writeFilePolicy() } });
  const dir = mkdtempSync(join(tmpdir(), 'airlock-slack-stdio-'));
  try {
    for (const [name, text] of Object.entries({ ...files, 'airlock.yaml': config })) {
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), text);
    }
    const result = await airlock(['stdio', 'filesystem', '-c', join(dir, 'airlock.yaml')], dir, {
      ...process.env,
      REDIS_URL: gateway.redis.url,
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /no HTTP listener for Slack .* set slack\.app_token to use Socket Mode/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('airlock stdio with Socket Mode posts its held calls to Slack, and a click over the socket releases them', async () => {
  const { config, files } = slackGatewayConfig({ slack, approvers: ['U0ALICE'], servers: { filesystem: writeFilePolicy() }, socket: true });
  const dir = mkdtempSync(join(tmpdir(), 'airlock-slack-stdio-'));
  for (const [name, text] of Object.entries({ ...files, 'airlock.yaml': config })) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  mkdirSync(join(dir, 'sandbox'), { recursive: true });
  const client = new Client({ name: 'airlock-test', version: '1.0.0' });
  const opened = slack.callsTo('apps.connections.open').length;
  try {
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [AIRLOCK_BIN, 'stdio', 'filesystem', '-c', join(dir, 'airlock.yaml')],
        cwd: dir,
        env: { ...(process.env as Record<string, string>), REDIS_URL: gateway.redis.url },
        stderr: 'ignore',
      }),
    );
    assert.equal(slack.callsTo('apps.connections.open').length, opened + 1, 'the stdio process opened its own socket');
    const path = join(dir, 'sandbox', 'stdio.txt');
    const from = slack.calls.length;
    const call = track(client.callTool({ name: 'write_file', arguments: { path, content: 'approved for a stdio client' } }));
    const posted = await slack.waitFor('chat.postMessage', () => true, { from });
    // Either process may get the envelope: they share Redis, and any instance can decide a request.
    await slack.sendOverSocket(blockActions({ user: 'U0ALICE', action: 'approve', approvalId: approvalIdIn(posted) }));
    const result = await call.promise;
    assert.notEqual((result as { isError?: boolean }).isError, true, firstText(result));
    assert.equal(readFileSync(path, 'utf8'), 'approved for a stdio client');
  } finally {
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
