import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { api, pendingFor, pendingForTask } from '../support/approvals-api.js';
import { streamEvents, waitForEvents, withRedis } from '../support/audit-stream.js';
import { startFixture, type RunningFixture } from '../support/conformance.js';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { until, within } from '../support/poll.js';
import { RECORDING_ENTRY, RECORDING_SOURCE, recordingServer, upstreamCalls } from '../support/recording-upstream.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { CHANNEL, SIGNING_SECRET } from '../support/slack-interactions.js';
import { callAsTask, connectTasks, createdTask, taskReaching, type TasksClient } from '../support/tasks-client.js';

/**
 * Red-team tests (issue 21 review) of held calls as tasks: a decision that
 * lands before the task knows its approval, and what one tasks/update can
 * make the audit trail hold. Each test names the behaviour Airlock should
 * have; those that fail show a problem.
 */
const AGENT = 'redteam-agent-token-0123456789';
const ALICE = 'redteam-alice-admin-0123456789';
const BOT_TOKEN = 'xoxb-0000-redteam-bot-token';
const ASKING_SERVER = new URL('../support/asking-server.ts', import.meta.url).pathname;
const FLOOD_SERVER = new URL('../support/asking-flood-server.ts', import.meta.url).pathname;
const TERMINAL = ['completed', 'failed', 'cancelled'] as const;

const hold = (tools: string[]) =>
  JSON.stringify({
    version: '1',
    default: 'deny',
    tools: Object.fromEntries(tools.map((t) => [t, { action: 'require_approval', reason: `${t} needs a person` }])),
  });

/**
 * A stand-in in front of the fake Slack that holds every chat.postMessage
 * until `release()`: the time a slow Slack takes to take a message, made
 * as long as a test needs.
 */
interface SlowSlack {
  apiUrl: string;
  /** Resolves once a chat.postMessage is being held. */
  posting(): Promise<void>;
  release(): void;
  close(): Promise<void>;
}

async function startSlowSlack(slack: FakeSlack): Promise<SlowSlack> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let posting!: () => void;
  const held = new Promise<void>((resolve) => (posting = resolve));
  const target = new URL(slack.apiUrl);
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const forward = () => {
        const upstream = httpRequest(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        upstream.end(Buffer.concat(chunks));
      };
      if (req.url?.includes('chat.postMessage')) {
        posting();
        void released.then(forward);
      } else forward();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    apiUrl: `http://127.0.0.1:${port}/api/`,
    posting: () => held,
    release,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let redis: TestRedis;
let asking: RunningFixture;
let flood: RunningFixture;
let gateway: RunningGateway;
const clients: TasksClient[] = [];

before(async () => {
  [redis, asking, flood] = await Promise.all([startRedis(), startFixture(ASKING_SERVER), startFixture(FLOOD_SERVER)]);
  gateway = await startGateway({
    config: [
      'servers:',
      recordingServer('fixture', 'fixture.json').trimEnd(),
      `  ask: { url: "${asking.url}", protocol: 2025-11-25, policy: ask.json }`,
      `  flood: { url: "${flood.url}", protocol: 2025-11-25, policy: flood.json }`,
      'grants:',
      `  - { name: agent, token: ${AGENT} }`,
      'admins:',
      `  - { name: alice, token: ${ALICE} }`,
      'approvals: { channel: console, timeout: 10m }',
      '',
    ].join('\n'),
    files: {
      [RECORDING_ENTRY]: RECORDING_SOURCE,
      'fixture.json': hold(['echo']),
      'ask.json': hold(['ask_name']),
      'flood.json': hold(['ask_many']),
    },
    redis,
  });
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await gateway?.stop();
  await asking?.stop();
  await flood?.stop();
  await redis?.stop();
});

test('an approval given while its message is still being posted (before the task records its approval id) still runs the task, once', async () => {
  const slack = await startFakeSlack();
  const slow = await startSlowSlack(slack);
  const own = await startRedis();
  const slackGateway = await startGateway({
    config: [
      'servers:',
      recordingServer('fixture', 'fixture.json').trimEnd(),
      'grants:',
      `  - { name: agent, token: ${AGENT} }`,
      'admins:',
      `  - { name: alice, token: ${ALICE} }`,
      'slack:',
      `  bot_token: ${BOT_TOKEN}`,
      `  signing_secret: ${SIGNING_SECRET}`,
      `  channel: ${CHANNEL}`,
      `  api_url: ${slow.apiUrl}`,
      'approvals: { channel: slack, timeout: 10m }',
      '',
    ].join('\n'),
    files: { [RECORDING_ENTRY]: RECORDING_SOURCE, 'fixture.json': hold(['echo']) },
    redis: own,
  });
  const tasks = await connectTasks(`${slackGateway.url}/mcp/fixture`, AGENT);
  try {
    assert.equal(tasks.advertised, true);
    const answered = tasks.callTool('echo', { text: 'decided while posting' });
    await within(60_000, 'the approval message to be posting', slow.posting());
    // The request is listed (console admins decide it) while Slack has not taken its message yet.
    const approval = await pendingFor(slackGateway.url, ALICE, 'echo');
    const taskId = String(approval.task_id);
    const decided = await api(slackGateway.url, `/api/approvals/${approval.id}/approve`, ALICE, { method: 'POST', body: {} });
    assert.equal(decided.status, 200, JSON.stringify(decided.body));
    // The run the decision queued has been taken by a worker before the post returns.
    await until('a worker to take the run', () =>
      withRedis(own.url, async (r) => (await r.hget(`{airlock}:tasks:${taskId}`, 'processedOn')) !== null),
    );
    slow.release();
    const created = createdTask(await within(60_000, 'the CreateTaskResult', answered), 'tools/call echo');
    assert.equal(created.taskId, taskId);

    const ended = await taskReaching(tasks, taskId, TERMINAL, 60_000).catch(async (err: unknown) => {
      const stuck = await withRedis(own.url, (r) => r.hmget(`{airlock}:task:${taskId}`, 'status', 'run', 'approval', 'message'));
      const state = (await api(slackGateway.url, `/api/approvals/${approval.id}`, ALICE)).body.approval?.state;
      throw new Error(
        `${String(err)}: the task stands at ${JSON.stringify(stuck)} (status, run, approval, message); its approval is ${String(state)}`,
      );
    });
    assert.equal(ended.status, 'completed', JSON.stringify(ended));
    assert.equal(upstreamCalls(slackGateway, 'fixture', 'echo').filter((a) => a.text === 'decided while posting').length, 1);
  } finally {
    slow.release();
    await tasks.close();
    await slackGateway.stop();
    await own.stop();
    await slow.close();
    await slack.close();
  }
});

test('one tasks/update with 2,000 keys nobody asked for adds a bounded number of events to the audit trail', async () => {
  const tasks = await connectTasks(`${gateway.url}/mcp/ask`, AGENT, { capabilities: { elicitation: { form: {} } } });
  clients.push(tasks);
  const task = await callAsTask(tasks, 'ask_name', { who: 'flood' });
  const approval = await pendingForTask(gateway.url, ALICE, task.taskId);
  assert.equal((await api(gateway.url, `/api/approvals/${approval.id}/approve`, ALICE, { method: 'POST', body: {} })).status, 200);
  const asking = await taskReaching(tasks, task.taskId, ['input_required', ...TERMINAL]);
  assert.equal(asking.status, 'input_required', JSON.stringify(asking));
  const [key] = Object.keys(asking.inputRequests ?? {});

  const junk = Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [`junk${i}`, { action: 'decline' }]));
  await tasks.update(task.taskId, junk);
  // The real answer ends the call: once its `executed` is in the trail, everything the update wrote before it is too.
  await tasks.update(task.taskId, { [key!]: { action: 'accept', content: { name: 'Eve' } } });
  await taskReaching(tasks, task.taskId, TERMINAL);
  await waitForEvents(redis.url, 'the run to be audited', (events) =>
    events.some((e) => e.event === 'executed' && (e as { task_id?: string }).task_id === task.taskId),
  );
  const refused = (await streamEvents(redis.url)).filter(
    (e) => e.event === 'question_refused' && (e as { task_id?: string }).task_id === task.taskId,
  );
  assert.ok(refused.length <= 10, `one tasks/update wrote ${refused.length} question_refused events to the audit trail`);
});

test("the questions a task's server piles onto it are bounded as a 2026 round's are (16 questions, 256 KiB)", async () => {
  const tasks = await connectTasks(`${gateway.url}/mcp/flood`, AGENT, { capabilities: { elicitation: { form: {} } } });
  clients.push(tasks);
  const task = await callAsTask(tasks, 'ask_many', { n: 100, kb: 32 });
  const approval = await pendingForTask(gateway.url, ALICE, task.taskId);
  assert.equal((await api(gateway.url, `/api/approvals/${approval.id}/approve`, ALICE, { method: 'POST', body: {} })).status, 200);
  // Each of the 100 questions is either open on the task or refused (and audited so): wait until all are accounted for.
  const requestId = (task._meta?.['airlock/task'] as { request_id?: string } | undefined)?.request_id;
  let shown = await taskReaching(tasks, task.taskId, ['input_required', ...TERMINAL]);
  await until('all 100 questions to be open on the task or refused', async () => {
    shown = await taskReaching(tasks, task.taskId, ['input_required', ...TERMINAL]);
    // A question past the bounds is answered to the server with an error, and audited as such (question_relayed, answer error).
    const refused = (await streamEvents(redis.url)).filter(
      (e) =>
        e.request_id === requestId &&
        (e.event === 'question_refused' || (e.event === 'question_relayed' && (e as { answer?: string }).answer === 'error')),
    ).length;
    return Object.keys(shown.inputRequests ?? {}).length + refused >= 100;
  });
  const open = Object.keys(shown.inputRequests ?? {}).length;
  const bytes = await withRedis(redis.url, async (r) => {
    const fields = await r.hgetall(`{airlock}:task:${task.taskId}`);
    return Object.entries(fields).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
  });
  assert.ok(open <= 16, `the task shows ${open} open questions of its server`);
  assert.ok(bytes <= 1024 * 1024, `the task's Redis hash holds ${bytes} bytes of its server's questions`);
});

test('a graceful stop (SIGTERM) of the instance that made a pending task leaves the task to the other: approved there, it runs once', async () => {
  const own = await startRedis();
  const config = [
    'servers:',
    recordingServer('fixture', 'fixture.json').trimEnd(),
    'grants:',
    `  - { name: agent, token: ${AGENT} }`,
    'admins:',
    `  - { name: alice, token: ${ALICE} }`,
    'approvals: { channel: console, timeout: 10m }',
    '',
  ].join('\n');
  const files = { [RECORDING_ENTRY]: RECORDING_SOURCE, 'fixture.json': hold(['echo']) };
  const [first, second] = (await Promise.all([
    startGateway({ config, files, redis: own }),
    startGateway({ config, files, redis: own }),
  ])) as [RunningGateway, RunningGateway];
  const onFirst = await connectTasks(`${first.url}/mcp/fixture`, AGENT);
  const onSecond = await connectTasks(`${second.url}/mcp/fixture`, AGENT);
  try {
    const task = await callAsTask(onFirst, 'echo', { text: 'outlives a graceful stop' });
    const approval = await pendingForTask(second.url, ALICE, task.taskId);
    await onFirst.close();
    await first.stop();
    const state = (await api(second.url, `/api/approvals/${approval.id}`, ALICE)).body.approval?.state;
    assert.equal(state, 'pending', 'the stop withdrew nothing');
    assert.equal((await api(second.url, `/api/approvals/${approval.id}/approve`, ALICE, { method: 'POST', body: {} })).status, 200);
    const ended = await taskReaching(onSecond, task.taskId, TERMINAL);
    assert.equal(ended.status, 'completed', JSON.stringify(ended));
    const ran = [first, second].flatMap((g) => upstreamCalls(g, 'fixture', 'echo')).filter((a) => a.text === 'outlives a graceful stop');
    assert.equal(ran.length, 1);
  } finally {
    await onSecond.close();
    await second.stop();
    await own.stop();
  }
});

test('a claim whose answer never came back is taken up by the instance that made it, once; one naming another instance is left alone', async () => {
  const tasks = await connectTasks(`${gateway.url}/mcp/fixture`, AGENT);
  clients.push(tasks);
  const approve = async (taskId: string) => {
    const approval = await pendingForTask(gateway.url, ALICE, taskId);
    assert.equal((await api(gateway.url, `/api/approvals/${approval.id}/approve`, ALICE, { method: 'POST', body: {} })).status, 200);
  };
  const field = (taskId: string, name: string) => withRedis(redis.url, (r) => r.hget(`{airlock}:task:${taskId}`, name));
  const claimAs = (taskId: string, runner: string) =>
    withRedis(redis.url, (r) => r.hset(`{airlock}:task:${taskId}`, 'run', 'running', 'runner', runner));
  const ranWith = (text: string) => upstreamCalls(gateway, 'fixture', 'echo').filter((a) => a.text === text).length;

  // Who this instance is, as its claims name it.
  const first = await callAsTask(tasks, 'echo', { text: 'names its runner' });
  await approve(first.taskId);
  assert.equal((await taskReaching(tasks, first.taskId, TERMINAL)).status, 'completed');
  const runner = await field(first.taskId, 'runner');
  assert.ok(runner, 'a run names the instance that claimed it');

  // Its claim was made (as when Redis took the claim but its answer was lost), and nothing was sent: the run goes on.
  const lost = await callAsTask(tasks, 'echo', { text: 'claim answer lost' });
  await claimAs(lost.taskId, runner);
  await approve(lost.taskId);
  const ended = await taskReaching(tasks, lost.taskId, TERMINAL);
  assert.equal(ended.status, 'completed', JSON.stringify(ended));
  assert.equal(ranWith('claim answer lost'), 1);

  // Another instance's claim is that instance's run: this one sends nothing, whatever its queue asks.
  const elsewhere = await callAsTask(tasks, 'echo', { text: 'claimed elsewhere' });
  await claimAs(elsewhere.taskId, 'another-instance');
  await approve(elsewhere.taskId);
  await until('the run its decision queued to be done', () =>
    withRedis(redis.url, async (r) => (await r.hget(`{airlock}:tasks:${elsewhere.taskId}`, 'finishedOn')) !== null),
  );
  assert.equal(await field(elsewhere.taskId, 'status'), 'working');
  assert.equal(ranWith('claimed elsewhere'), 0);
});

test('a task lost from Redis before its run: its approval says the call was not sent, in the console and the trail; nothing runs', async () => {
  const tasks = await connectTasks(`${gateway.url}/mcp/fixture`, AGENT);
  clients.push(tasks);
  const task = await callAsTask(tasks, 'echo', { text: 'task evicted' });
  const approval = await pendingForTask(gateway.url, ALICE, task.taskId);
  // As an eviction, or a Redis restarted without its data, would leave it.
  await withRedis(redis.url, (r) => r.del(`{airlock}:task:${task.taskId}`));
  assert.equal((await api(gateway.url, `/api/approvals/${approval.id}/approve`, ALICE, { method: 'POST', body: {} })).status, 200);
  let shown: Record<string, unknown> | undefined;
  await until('the approval to record why nothing ran', async () => {
    shown = (await api(gateway.url, `/api/approvals/${approval.id}`, ALICE)).body.approval;
    return (shown?.execution ?? null) !== null;
  });
  assert.deepEqual(
    { state: shown?.state, result: (shown?.execution as { result?: string }).result },
    { state: 'approved', result: 'refused' },
  );
  assert.match(String((shown?.execution as { detail?: string }).detail), /the task holding this approval is gone from Redis/);
  await waitForEvents(redis.url, 'the loss to be audited', (events) =>
    events.some((e) => e.event === 'unavailable' && (e as { task_id?: string }).task_id === task.taskId && e.approval_id === approval.id),
  );
  assert.equal(upstreamCalls(gateway, 'fixture', 'echo').filter((a) => a.text === 'task evicted').length, 0);
});
