import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { api } from '../support/approvals-api.js';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack.js';
import { track } from '../support/held-call.js';
import { until } from '../support/poll.js';
import { metricValue, scrape } from '../support/prometheus.js';
import { assertRefusal } from '../support/refusal.js';
import { AIRLOCK_BIN } from '../support/run-cli.js';
import {
  ADMIN,
  AGENT,
  approvalIdIn,
  slackGatewayConfig,
  startSlackGateway,
  writeFilePolicy,
  type SlackGateway,
} from '../support/slack-gateway.js';

let slack: FakeSlack;
let gateway: SlackGateway;
let client: Client;

before(async () => {
  slack = await startFakeSlack();
  gateway = await startSlackGateway({ slack, servers: { filesystem: writeFilePolicy() } });
  client = await gateway.connect('/mcp/filesystem', AGENT);
});
after(async () => {
  await gateway?.stop();
  await slack?.close();
});

const write = (file: string, signal?: AbortSignal) =>
  client.callTool(
    { name: 'write_file', arguments: { path: join(gateway.sandbox, file), content: 'never' } },
    undefined,
    signal ? { signal } : undefined,
  );

test('chat.postMessage failing with 500 three times (two retries): the call ends [UNAVAILABLE], the request is withdrawn and audited', async () => {
  const from = slack.calls.length;
  slack.failNext(3, { status: 500 }, 'chat.postMessage');
  const started = Date.now();
  const { text, meta } = assertRefusal(await write('down.txt'), 'UNAVAILABLE', { decision: 'unavailable' });
  assert.match(
    text,
    /could not be shown to reviewers in slack \(Slack did not take the message for channel C0APPROVALS: Slack answered HTTP 500\)/,
  );
  assert.equal(
    slack.callsTo('chat.postMessage').filter((c) => c.at >= started).length,
    3,
    "one attempt and two retries: bounded, not Bolt's thirty minutes of them",
  );
  const id = String(meta.approval_id);
  const { body } = await api(gateway.url, `/api/approvals/${id}`, ADMIN);
  assert.equal(body.approval?.state, 'withdrawn');
  await until(
    'the unavailable event',
    async () => {
      const events = (await api(gateway.url, `/api/audit?decision=unavailable&approval_id=${id}`, ADMIN)).body.events as
        { detail?: string }[] | undefined;
      return (events ?? []).some((e) => /could not be posted to slack/.test(e.detail ?? ''));
    },
    10_000,
  );
  assert.equal(slack.calls.slice(from).filter((c) => c.method === 'chat.update').length, 0);
});

test('a Slack error answer (channel_not_found) is not retried: [UNAVAILABLE] at once', async () => {
  const started = Date.now();
  slack.failNext(1, { error: 'channel_not_found' }, 'chat.postMessage');
  const { text } = assertRefusal(await write('no-channel.txt'), 'UNAVAILABLE', { decision: 'unavailable' });
  assert.match(text, /Slack answered channel_not_found/);
  assert.equal(slack.callsTo('chat.postMessage').filter((c) => c.at >= started).length, 1);
});

test('a 429 is retried after its Retry-After, and the request is posted', async () => {
  const started = Date.now();
  slack.failNext(1, { status: 429, retryAfter: 1 }, 'chat.postMessage');
  const controller = new AbortController();
  const call = track(write('rate-limited.txt', controller.signal));
  const posted = await slack.waitFor('chat.postMessage', (c) => c.response !== undefined && c.at >= started);
  const attempts = slack.callsTo('chat.postMessage').filter((c) => c.at >= started);
  assert.equal(attempts.length, 2);
  assert.ok(attempts[1]!.at - attempts[0]!.at >= 950, `the retry waited for Retry-After (${attempts[1]!.at - attempts[0]!.at} ms)`);
  assert.equal(call.settled, false, 'the call is held, waiting for a reviewer');
  assert.equal((await api(gateway.url, `/api/approvals/${approvalIdIn(posted)}`, ADMIN)).body.approval?.state, 'pending');
  controller.abort('test done');
});

test('a bot token Slack refuses stops the start, naming auth.test and the problem', async () => {
  const refusing = await startFakeSlack();
  refusing.failNext(1, { error: 'invalid_auth' }, 'auth.test');
  const dir = mkdtempSync(join(tmpdir(), 'airlock-slack-token-'));
  const { config, files } = slackGatewayConfig({ slack: refusing, servers: { filesystem: writeFilePolicy() } });
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  writeFileSync(join(dir, 'airlock.yaml'), `listen: { host: 127.0.0.1, port: 0 }\n${config}`);
  const child = spawn(process.execPath, [AIRLOCK_BIN, 'start', '-c', join(dir, 'airlock.yaml')], {
    cwd: dir,
    env: { ...process.env, REDIS_URL: gateway.redis.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    await until('the process to exit', () => child.exitCode !== null);
    assert.equal(await exited, 1);
    assert.match(
      stderr,
      /^airlock: slack\.bot_token: auth\.test failed: Slack answered invalid_auth; check the token and slack\.api_url$/m,
    );
    assert.doesNotMatch(stdout, /airlock listening/);
  } finally {
    child.kill('SIGKILL');
    await refusing.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Slack out of reach at start: the gateway starts, and a held call ends [UNAVAILABLE] instead of waiting on a message nobody sees', async () => {
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as { port: number };
      probe.close(() => resolve(free));
    });
  });
  const unreachable = { ...slack, apiUrl: `http://127.0.0.1:${port}/api/` };
  const lonely = await startSlackGateway({ slack: unreachable, servers: { filesystem: writeFilePolicy() } });
  try {
    assert.ok(lonely.logs.some((l) => /Slack cannot be reached to check the bot token/.test(String(l.msg))));
    const agent = await lonely.connect('/mcp/filesystem', AGENT);
    const { text } = assertRefusal(
      await agent.callTool({ name: 'write_file', arguments: { path: join(lonely.sandbox, 'x.txt'), content: 'x' } }),
      'UNAVAILABLE',
      { decision: 'unavailable' },
    );
    assert.match(text, /Slack could not be reached/);
  } finally {
    await lonely.stop();
  }
});

test('each Web API call that failed after its retries is counted in airlock_slack_api_errors_total by method and error', async () => {
  const { samples } = await scrape(gateway.url, ADMIN);
  assert.equal(
    metricValue(samples, 'airlock_slack_api_errors_total', { method: 'chat.postMessage', error: 'http_500' }),
    1,
    'three attempts, one failure',
  );
  assert.equal(metricValue(samples, 'airlock_slack_api_errors_total', { method: 'chat.postMessage', error: 'channel_not_found' }), 1);
  assert.equal(
    metricValue(samples, 'airlock_slack_api_errors_total', { method: 'chat.postMessage', error: 'rate_limited' }),
    0,
    'a 429 retried into a success is no failure',
  );
});
