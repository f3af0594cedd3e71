import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { RECORDING_ENTRY, RECORDING_SOURCE, recordingServer, upstreamCalls } from '../support/recording-upstream.js';
import { firstText } from '../support/refusal.js';
import {
  callAsTask,
  connectTasks,
  createdTask,
  errorOf,
  resultOf,
  TASKS_EXTENSION,
  taskReaching,
  type TasksClient,
  type WireTask,
} from '../support/tasks-client.js';

/**
 * What the tasks settings change: a server marked slow has its allowed calls
 * answered as tasks (for a client that offers the extension only), a result
 * past `tasks.max_result` is not kept, `tasks.enabled: false` offers no
 * tasks, and only 2026 clients are ever offered them.
 */
const AGENT = 'options-agent-token-0123456789';
const ALLOW = JSON.stringify({ version: '1', default: 'allow' });
const HOLD = JSON.stringify({ version: '1', default: 'allow', tools: { sleep: { action: 'require_approval', reason: 'a person' } } });
const FILES = { [RECORDING_ENTRY]: RECORDING_SOURCE, 'allow.json': ALLOW, 'hold.json': HOLD };
const config = (tasks: string) =>
  [
    'servers:',
    `${recordingServer('slowfx', 'allow.json')}    slow: true`,
    recordingServer('fixture', 'hold.json').trimEnd(),
    `grants:\n  - { name: agent, token: ${AGENT} }`,
    'approvals: { channel: console }',
    tasks,
    '',
  ].join('\n');

let gateway: RunningGateway;
const clients: TasksClient[] = [];
before(async () => {
  gateway = await startGateway({ config: config('tasks: { max_result: 1kb, poll_interval: 500ms }'), files: FILES });
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await gateway?.stop();
});

async function tasksOn(server: string, on = gateway): Promise<TasksClient> {
  const tasks = await connectTasks(`${on.url}/mcp/${server}`, AGENT);
  clients.push(tasks);
  return tasks;
}

test('a slow server: an allowed call of a task client is a task that completes with the result; a 2025 session gets the result itself', async () => {
  const tasks = await tasksOn('slowfx');
  const task = await callAsTask(tasks, 'echo', { text: 'slowly' });
  assert.equal(task.status, 'working');
  assert.equal(task.pollIntervalMs, 500, 'tasks.poll_interval');
  const done = await taskReaching(tasks, task.taskId, ['completed', 'failed', 'cancelled']);
  assert.equal(done.status, 'completed', JSON.stringify(done));
  assert.equal(firstText(done.result as never), 'slowly');
  assert.equal(upstreamCalls(gateway, 'slowfx', 'echo').filter((a) => a.text === 'slowly').length, 1);

  const session = await gateway.connect('/mcp/slowfx', AGENT);
  try {
    const direct = await session.callTool({ name: 'echo', arguments: { text: 'at once' } });
    assert.equal(firstText(direct as never), 'at once');
    assert.equal(session.getServerCapabilities()?.extensions, undefined, 'a 2025 session is offered no tasks');
  } finally {
    await session.close();
  }
});

test('a result larger than tasks.max_result ends the task failed, saying the call ran; it ran once', async () => {
  const tasks = await tasksOn('slowfx');
  const text = 'x'.repeat(2_000);
  const task = await callAsTask(tasks, 'echo', { text });
  const done = await taskReaching(tasks, task.taskId, ['completed', 'failed', 'cancelled']);
  assert.equal(done.status, 'failed');
  assert.equal(done.result, undefined);
  assert.equal(done.error?.code, -32603);
  assert.match(done.error?.message ?? '', /the call ran, but its result \(\d+ KiB\) is larger than tasks\.max_result \(1 KiB\)/);
  assert.equal(upstreamCalls(gateway, 'slowfx', 'echo').filter((a) => a.text === text).length, 1);
});

test('tasks/update for a task that asks nothing is refused and changes nothing; tasks/list and tasks/result are not served', async () => {
  const tasks = await tasksOn('fixture');
  const held = await callAsTask(tasks, 'sleep', { ms: 1 });
  const refused = errorOf(await tasks.update(held.taskId, { q1: { action: 'accept', content: {} } }), 'tasks/update');
  assert.equal(refused.code, -32602);
  assert.match(refused.message, /is not waiting for input/);
  const after = resultOf<WireTask>(await tasks.get(held.taskId), 'tasks/get');
  assert.deepEqual([after.status, after.inputRequests], ['working', undefined]);
  for (const method of ['tasks/list', 'tasks/result'])
    assert.equal(errorOf(await tasks.request(method, method === 'tasks/list' ? {} : { taskId: held.taskId }), method).code, -32601, method);
  assert.equal(resultOf(await tasks.cancel(held.taskId), 'tasks/cancel').resultType, 'complete');
});

test("tasks.enabled: false offers no tasks: a slow server's call is answered directly, and tasks/get is not served", async () => {
  const off = await startGateway({ config: config('tasks: { enabled: false }'), files: FILES });
  try {
    const tasks = await tasksOn('slowfx', off);
    assert.equal(tasks.advertised, false, `server/discover does not list ${TASKS_EXTENSION}`);
    // The slow server's call is answered directly: no task.
    const direct = resultOf<WireTask>(await tasks.callTool('echo', { text: 'no task' }), 'tools/call');
    assert.notEqual(direct.resultType, 'task');
    assert.equal(firstText(direct as never), 'no task');
    assert.equal(errorOf(await tasks.get('tsk_' + 'A'.repeat(32)), 'tasks/get').code, -32601, 'no tasks/get either');
  } finally {
    await off.stop();
  }
});

test('the CreateTaskResult is only a task: no result, error or inputRequests, and no requestState', async () => {
  const tasks = await tasksOn('fixture');
  const task = createdTask(await tasks.callTool('sleep', { ms: 1 }), 'tools/call');
  for (const key of ['result', 'error', 'inputRequests', 'requestState', 'task']) assert.equal(key in task, false, key);
  assert.equal(resultOf(await tasks.cancel(task.taskId), 'tasks/cancel').resultType, 'complete');
});
