import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import type { TaskId } from '@modelcontextprotocol/ext-tasks/core';
import { api, pendingForTask } from '../support/approvals-api.js';
import { startFixture, type RunningFixture } from '../support/conformance.js';
import { startGateway, startGateways, type RunningGateway } from '../support/gateway.js';
import { until, within } from '../support/poll.js';
import { RECORDING_ENTRY, RECORDING_SOURCE, recordingServer, upstreamCalls } from '../support/recording-upstream.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { firstText } from '../support/refusal.js';
import {
  callAsTask,
  connectTasks,
  errorOf,
  resultOf,
  taskReaching,
  type TasksClient,
  type TasksClientOptions,
  type WireTask,
} from '../support/tasks-client.js';

/**
 * Held calls as durable MCP tasks (`io.modelcontextprotocol/tasks`): a 2026
 * client that declares the extension gets a task at once for a call the
 * policy holds, and follows it with tasks/get on either of two instances on
 * one Redis while a reviewer decides in the console API. The call runs once,
 * on one instance, even when instances die around it.
 */
const AGENT = 'tasks-agent-token-0123456789';
const OTHER = 'tasks-other-grant-0123456789';
const ALICE = 'tasks-alice-admin-0123456789';
const ASKING_SERVER = new URL('../support/asking-server.ts', import.meta.url).pathname;
/** Long enough that only a SIGKILL ends it: no machine is that slow between "task running" and the kill. */
const SLOW_MS = 120_000;
const TERMINAL = ['completed', 'failed', 'cancelled'] as const;
/** Only keeps a test from hanging on a task that never ends. */
const SETTLED = 120_000;

const hold = (tools: string[], timeout?: string) =>
  JSON.stringify({
    version: '1',
    default: 'deny',
    tools: Object.fromEntries(
      tools.map((t) => [t, { action: 'require_approval', reason: `${t} needs a person`, ...(timeout && { approval: { timeout } }) }]),
    ),
  });
const FILES = {
  [RECORDING_ENTRY]: RECORDING_SOURCE,
  'fixture.json': hold(['echo', 'sleep']),
  'quick.json': hold(['echo'], '2s'),
  'ask.json': hold(['ask_name']),
};
/** A config with `servers` (the YAML lines under `servers:`), two grants (agent, other) and one admin. */
function config(servers: string): string {
  return [
    `servers:\n${servers.trimEnd()}`,
    'grants:',
    `  - { name: agent, token: ${AGENT} }`,
    `  - { name: other, token: ${OTHER} }`,
    'admins:',
    `  - { name: alice, token: ${ALICE} }`,
    'approvals: { channel: console, timeout: 10m }',
    '',
  ].join('\n');
}
// The slow call may only end by the kill, so it has no call timeout that could end it first.
const SLOW_FIXTURE = `${recordingServer('fixture', 'fixture.json')}    call_timeout: 10m\n`;

let redis: TestRedis;
let asking: RunningFixture;
let A: RunningGateway;
let B: RunningGateway;
const clients: TasksClient[] = [];

before(async () => {
  [redis, asking] = await Promise.all([startRedis(), startFixture(ASKING_SERVER)]);
  const servers = `${recordingServer('fixture', 'fixture.json')}${recordingServer('quick', 'quick.json')}  ask: { url: "${asking.url}", protocol: 2025-11-25, policy: ask.json }\n`;
  [A, B] = (await startGateways(2, () => startGateway({ config: config(servers), files: FILES, redis }))) as [
    RunningGateway,
    RunningGateway,
  ];
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([A?.stop(), B?.stop()]);
  await asking?.stop();
  await redis?.stop();
});

async function tasksOn(gateway: RunningGateway, token: string, server = 'fixture', options: TasksClientOptions = {}): Promise<TasksClient> {
  const tasks = await connectTasks(`${gateway.url}/mcp/${server}`, token, options);
  clients.push(tasks);
  return tasks;
}

async function decide(gateway: RunningGateway, id: string, verdict: 'approve' | 'reject', reason?: string): Promise<void> {
  const answer = await api(gateway.url, `/api/approvals/${id}/${verdict}`, ALICE, { method: 'POST', body: reason ? { reason } : {} });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
}

/** The calls of `tool` with `field` = `value` that reached server `name` behind any of `gateways`. */
const reached = (gateways: RunningGateway[], tool: string, field: string, value: unknown, name = 'fixture'): number =>
  gateways.flatMap((g) => upstreamCalls(g, name, tool)).filter((args) => args[field] === value).length;

/** Two more instances on a Redis of their own (`fixture` holds echo and sleep), for tests that kill one. */
async function startPair(): Promise<{ gateways: [RunningGateway, RunningGateway]; stop(): Promise<void> }> {
  const own = await startRedis();
  const gateways = (await startGateways(2, () => startGateway({ config: config(SLOW_FIXTURE), files: FILES, redis: own }))) as [
    RunningGateway,
    RunningGateway,
  ];
  return {
    gateways,
    async stop() {
      await Promise.all(gateways.map((g) => g.stop()));
      await own.stop();
    },
  };
}

async function kill(gateway: RunningGateway): Promise<void> {
  const exited = new Promise((resolve) => gateway.process.once('exit', resolve));
  gateway.process.kill('SIGKILL');
  await exited;
}

test('server/discover lists the tasks extension', async () => {
  const tasks = await tasksOn(A, AGENT);
  assert.equal(tasks.advertised, true, 'capabilities.extensions["io.modelcontextprotocol/tasks"]');
});

test("a held call answers a task at once; approved through the other instance's API, settle() gives the upstream's result", async () => {
  const onA = await tasksOn(A, AGENT);
  assert.equal(onA.advertised, true, 'server/discover lists the tasks extension');
  const execution = await within(
    60_000,
    'a held echo to answer with a task',
    onA.session.callTool('echo', { text: 'as a task' }, { task: { preference: 'require' } }),
  );
  assert.ok(execution.kind === 'task', 'the held call answered a task');
  const created = resultOf<WireTask>(
    onA.exchanges.find((e) => (e.request as { method: string }).method === 'tools/call')!.response,
    'tools/call',
  );
  assert.deepEqual([created.resultType, created.status, created.taskId], ['task', 'working', execution.handle.taskId]);
  assert.match(created.taskId, /^tsk_/);
  assert.ok(Number.isInteger(created.ttlMs) && created.ttlMs! > 0, `ttlMs ${created.ttlMs}`);
  assert.ok(Number.isInteger(created.pollIntervalMs) && created.pollIntervalMs! > 0, `pollIntervalMs ${created.pollIntervalMs}`);
  assert.ok(!Number.isNaN(Date.parse(created.createdAt)) && !Number.isNaN(Date.parse(created.lastUpdatedAt)));
  const meta = created._meta?.['airlock/task'] as { approval_id?: string; request_id?: string } | undefined;
  assert.match(String(meta?.approval_id), /^apr_/);

  const approval = await pendingForTask(B.url, ALICE, created.taskId);
  assert.deepEqual([approval.id, approval.request_id, approval.tool], [meta?.approval_id, meta?.request_id, 'echo']);
  assert.ok(created.statusMessage?.includes(approval.id), `the status message names the approval: ${created.statusMessage}`);
  assert.equal(reached([A, B], 'echo', 'text', 'as a task'), 0, 'nothing reaches the upstream while the task waits');

  await decide(B, approval.id, 'approve');
  const { outcome } = await within(SETTLED, 'the task to settle', execution.settle());
  assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
  const result = (outcome as { result: { content: unknown; isError?: boolean } }).result;
  assert.deepEqual([result.content, result.isError ?? false], [[{ type: 'text', text: 'as a task' }], false]);
  assert.equal(reached([A, B], 'echo', 'text', 'as a task'), 1, 'the call ran once, on one instance');
});

test('approved, then the creating instance is SIGKILLed once the run is recorded: the other shows the task completed, and the call ran once', async () => {
  const pair = await startPair();
  const [creator, survivor] = pair.gateways;
  const onCreator = await connectTasks(`${creator.url}/mcp/fixture`, AGENT);
  const onSurvivor = await connectTasks(`${survivor.url}/mcp/fixture`, AGENT);
  try {
    const task = await callAsTask(onCreator, 'echo', { text: 'outlives its instance' });
    const approval = await pendingForTask(survivor.url, ALICE, task.taskId);
    await decide(survivor, approval.id, 'approve');
    await until(
      'the run to be recorded',
      async () => ((await api(survivor.url, `/api/approvals/${approval.id}`, ALICE)).body.approval?.execution ?? null) !== null,
    );
    await kill(creator);

    const outcome = await within(SETTLED, 'the task to end', onSurvivor.session.task(task.taskId as TaskId).result());
    assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
    assert.equal(firstText((outcome as { result: unknown }).result), 'outlives its instance');
    const shown = resultOf<WireTask>(await onSurvivor.get(task.taskId), 'tasks/get on the survivor');
    assert.deepEqual([shown.status, firstText(shown.result)], ['completed', 'outlives its instance']);
    assert.equal(reached(pair.gateways, 'echo', 'text', 'outlives its instance'), 1, 'the call ran exactly once');
  } finally {
    await Promise.all([onCreator.close(), onSurvivor.close()]);
    await pair.stop();
  }
});

/** The ids of `pid`'s child processes (a gateway's stdio upstreams). */
const childPids = (pid: number): number[] =>
  execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map(Number);

test('the instance running an approved slow call is SIGKILLed during it: the task ends failed "may or may not have run", and the call is not run again', async () => {
  const pair = await startPair();
  const [first, second] = pair.gateways;
  const on = new Map<RunningGateway, TasksClient>();
  for (const g of pair.gateways) on.set(g, await connectTasks(`${g.url}/mcp/fixture`, AGENT));
  const orphans: number[] = [];
  try {
    const task = await callAsTask(on.get(first)!, 'sleep', { ms: SLOW_MS });
    const approval = await pendingForTask(second.url, ALICE, task.taskId);
    await decide(second, approval.id, 'approve');
    const running = (g: RunningGateway) => g.logs.find((l) => l.msg === 'task running' && l.task_id === task.taskId);
    await until('an instance to log "task running"', () => pair.gateways.some((g) => running(g) !== undefined), 60_000, 20);
    const runner = pair.gateways.find((g) => running(g) !== undefined)!;
    const survivor = runner === first ? second : first;
    assert.notEqual(running(runner)?.instance ?? null, null, 'the line names the instance');
    orphans.push(...childPids(runner.process.pid!));
    await kill(runner);

    // Noticing the dead runner takes up to ~20 s (its lease must lapse).
    const ended = await taskReaching(on.get(survivor)!, task.taskId, TERMINAL, 120_000);
    assert.equal(ended.status, 'failed', JSON.stringify(ended));
    assert.equal(ended.error?.code, -32603);
    assert.match(String(ended.error?.message), /may or may not have run/);
    const ran = () => reached(pair.gateways, 'sleep', 'ms', SLOW_MS);
    assert.ok(ran() <= 1, `the upstream got ${ran()} calls`);
    // Nothing to wait for: this checks that nothing happens, that no instance runs the call again later.
    await sleep(60_000);
    assert.ok(ran() <= 1, `60 s later the upstream got ${ran()} calls`);
    assert.equal(reached([survivor], 'sleep', 'ms', SLOW_MS), 0, 'the surviving instance never ran it');
    assert.equal(resultOf<WireTask>(await on.get(survivor)!.get(task.taskId), 'tasks/get').status, 'failed');
  } finally {
    await Promise.all([...on.values()].map((c) => c.close()));
    await pair.stop();
    // The killed instance's upstream is still sleeping out the call; it was started here, so it is ended here.
    for (const pid of orphans) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

test("tasks/cancel on a pending task: cancelled, its approval withdrawn, nothing reaches the upstream; another grant's token changes nothing", async () => {
  const mine = await tasksOn(A, AGENT);
  const theirs = await tasksOn(B, OTHER);
  const task = await callAsTask(mine, 'echo', { text: 'cancel me' });
  const approval = await pendingForTask(A.url, ALICE, task.taskId);

  const unknown = `${task.taskId.slice(0, -4)}${task.taskId.endsWith('zzzz') ? 'yyyy' : 'zzzz'}`;
  const shown = async () => {
    const { status, statusMessage, lastUpdatedAt } = resultOf<WireTask>(await mine.get(task.taskId), 'tasks/get by its owner');
    return { status, statusMessage, lastUpdatedAt };
  };
  const before = await shown();
  const sends: [string, (c: TasksClient, id: string) => ReturnType<TasksClient['get']>][] = [
    ['tasks/get', (c, id) => c.get(id)],
    ['tasks/update', (c, id) => c.update(id, { answer: { action: 'accept', content: { name: 'Mallory' } } })],
    ['tasks/cancel', (c, id) => c.cancel(id)],
  ];
  for (const [method, send] of sends) {
    const ofUnknown = errorOf(await send(mine, unknown), `${method} of an unknown id`);
    const ofOther = errorOf(await send(theirs, task.taskId), `${method} with another grant's token`);
    // A message may name the id it was asked about; apart from that the two must read the same.
    const [other, none] = [ofOther.message.replaceAll(task.taskId, '<id>'), ofUnknown.message.replaceAll(unknown, '<id>')];
    assert.deepEqual([ofOther.code, other], [-32602, none], `${method}: another grant's task looks unknown`);
    assert.equal(ofUnknown.code, -32602);
    for (const malformed of ['not-a-task', 'tsk_../../x'])
      assert.equal(errorOf(await send(mine, malformed), `${method} of ${JSON.stringify(malformed)}`).code, -32602);
  }
  assert.equal(before.status, 'working');
  assert.deepEqual(await shown(), before, 'the task is unchanged');
  const pending = (await api(A.url, `/api/approvals/${approval.id}`, ALICE)).body.approval;
  assert.deepEqual([pending?.state, pending?.votes], ['pending', []], 'the approval is unchanged');

  assert.equal(resultOf(await mine.cancel(task.taskId), 'tasks/cancel').resultType, 'complete');
  const ownerOnB = await tasksOn(B, AGENT);
  assert.equal((await taskReaching(ownerOnB, task.taskId, TERMINAL)).status, 'cancelled');
  await until(
    'the approval to be withdrawn',
    async () => (await api(B.url, `/api/approvals/${approval.id}`, ALICE)).body.approval?.state === 'withdrawn',
  );
  const late = await api(B.url, `/api/approvals/${approval.id}/approve`, ALICE, { method: 'POST', body: {} });
  assert.equal(late.status, 409, 'a withdrawn request cannot be approved');
  assert.equal(reached([A, B], 'echo', 'text', 'cancel me'), 0, 'nothing reached the upstream');
});

test('a rejected task completes with isError and [APPROVAL REJECTED]; nothing reaches the upstream', async () => {
  const tasks = await tasksOn(A, AGENT);
  const task = await callAsTask(tasks, 'echo', { text: 'rejected as a task' });
  const approval = await pendingForTask(B.url, ALICE, task.taskId);
  await decide(B, approval.id, 'reject', 'not today');
  const ended = await taskReaching(tasks, task.taskId, TERMINAL);
  assert.deepEqual([ended.status, ended.result?.isError], ['completed', true], JSON.stringify(ended));
  assert.ok(firstText(ended.result).startsWith('[APPROVAL REJECTED]'), firstText(ended.result));
  assert.equal(reached([A, B], 'echo', 'text', 'rejected as a task'), 0);
});

test('an expired task (rule timeout 2s) completes with isError and [APPROVAL EXPIRED]; nothing reaches the upstream', async () => {
  const tasks = await tasksOn(B, AGENT, 'quick');
  const task = await callAsTask(tasks, 'echo', { text: 'expired as a task' });
  const ended = await taskReaching(tasks, task.taskId, TERMINAL);
  assert.deepEqual([ended.status, ended.result?.isError], ['completed', true], JSON.stringify(ended));
  assert.ok(firstText(ended.result).startsWith('[APPROVAL EXPIRED]'), firstText(ended.result));
  assert.equal(reached([A, B], 'echo', 'text', 'expired as a task', 'quick'), 0);
});

const ELICITATION = { who: 'eta', question: 'Which name should eta use?' };

test('an upstream question during an approved task: input_required with the elicitation, tasks/update answers it, the task completes', async () => {
  const tasks = await tasksOn(A, AGENT, 'ask', { capabilities: { elicitation: { form: {} } } });
  const task = await callAsTask(tasks, 'ask_name', { who: ELICITATION.who });
  await decide(B, (await pendingForTask(B.url, ALICE, task.taskId)).id, 'approve');

  const asking = await taskReaching(tasks, task.taskId, ['input_required', ...TERMINAL]);
  assert.equal(asking.status, 'input_required', JSON.stringify(asking));
  const questions = Object.entries(asking.inputRequests ?? {});
  assert.equal(questions.length, 1, JSON.stringify(asking.inputRequests));
  const [key, question] = questions[0]!;
  assert.equal(question.method, 'elicitation/create');
  assert.equal(question.params?.message, ELICITATION.question);
  const ack = resultOf(await tasks.update(task.taskId, { [key]: { action: 'accept', content: { name: 'Cleo' } } }), 'tasks/update');
  assert.equal(ack.resultType, 'complete');

  const ended = await taskReaching(tasks, task.taskId, TERMINAL);
  assert.deepEqual([ended.status, firstText(ended.result)], ['completed', 'eta: accept Cleo'], JSON.stringify(ended));
});

test("the same through the ext-tasks session: its onInputRequest answers the task's question, settle() completes", async () => {
  const asked: unknown[] = [];
  const tasks = await tasksOn(B, AGENT, 'ask', {
    capabilities: { elicitation: { form: {} } },
    onInputRequest: async (request) => {
      asked.push(request.params?.message);
      // The handler's result type depends on the request's kind; ask_name only ever elicits.
      return { action: 'accept', content: { name: 'Dana' } } as never;
    },
  });
  assert.equal(tasks.advertised, true, 'server/discover lists the tasks extension');
  const execution = await within(
    60_000,
    'a held ask_name to answer with a task',
    tasks.session.callTool('ask_name', { who: 'theta' }, { task: { preference: 'require' } }),
  );
  assert.ok(execution.kind === 'task', 'the held call answered a task');
  await decide(A, (await pendingForTask(A.url, ALICE, execution.handle.taskId)).id, 'approve');
  const { outcome } = await within(SETTLED, 'the task to settle', execution.settle());
  assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
  assert.equal(firstText((outcome as { result: unknown }).result), 'theta: accept Dana');
  assert.deepEqual(asked, ['Which name should theta use?']);
});
