import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { api, pendingForTask } from '../support/approvals-api.js';
import { waitForEvents, withRedis } from '../support/audit-stream.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { TSX_LOADER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { callAsTask, connectTasks, resultOf, taskReaching, type TasksClient, type WireTask } from '../support/tasks-client.js';

/**
 * Red-team tests (issue 21 review): what Airlock does with a hostile
 * 2026 server's own tasks (test/support/hostile-task-server.ts), and with a
 * server's JSON-RPC error when Airlock's own task runs the call. Each test
 * names the behaviour Airlock should have; those that fail show a problem.
 */
const AGENT = 'hostile-tasks-agent-0123456789';
const ALICE = 'hostile-tasks-alice-0123456789';
const HOSTILE = fileURLToPath(new URL('../support/hostile-task-server.ts', import.meta.url));
/** `tasks.max_result` of the gateway: what a task may keep in Redis. */
const MAX_RESULT_KB = 64;
const TERMINAL = ['completed', 'failed', 'cancelled'] as const;

let redis: TestRedis;
let gateway: RunningGateway;
let upstream: { url: string; log: string; stop(): Promise<void> };
const clients: TasksClient[] = [];

async function startHostile(): Promise<typeof upstream> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-hostile-tasks-'));
  const log = join(dir, 'requests.jsonl');
  const child = spawn(process.execPath, ['--import', TSX_LOADER, HOSTILE], {
    env: { ...process.env, HOSTILE_TASK_LOG: log },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const found = /listening (\d+)/.exec(out);
      if (found) resolve(Number(found[1]));
    });
    void exited.then(() => reject(new Error(`the hostile task server exited before listening: ${out}`)));
  });
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    log,
    async stop() {
      if (child.exitCode === null) child.kill();
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Every message that reached the hostile server with `method`. */
function received(method: string): { params?: Record<string, unknown> }[] {
  if (!existsSync(upstream.log)) return [];
  return readFileSync(upstream.log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { method?: string; params?: Record<string, unknown> })
    .filter((m) => m.method === method);
}

before(async () => {
  [redis, upstream] = await Promise.all([startRedis(), startHostile()]);
  const allow = JSON.stringify({ version: '1', default: 'allow', tools: { big_error: { action: 'require_approval', reason: 'held' } } });
  gateway = await startGateway({
    config: [
      'servers:',
      '  hostile:',
      `    url: ${upstream.url}`,
      '    protocol: 2026-07-28',
      '    policy: hostile.json',
      // The operator lets this server ask for nothing through sampling.
      '    relay: { sampling: false }',
      'grants:',
      `  - { name: agent, token: ${AGENT} }`,
      'admins:',
      `  - { name: alice, token: ${ALICE} }`,
      'approvals: { channel: console, timeout: 10m }',
      `tasks: { max_result: ${MAX_RESULT_KB}kb }`,
      '',
    ].join('\n'),
    files: { 'hostile.json': allow },
    redis,
  });
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await gateway?.stop();
  await upstream?.stop();
  await redis?.stop();
});

async function tasksClient(capabilities = {}): Promise<TasksClient> {
  const tasks = await connectTasks(`${gateway.url}/mcp/hostile`, AGENT, { capabilities });
  clients.push(tasks);
  return tasks;
}

/** Bytes of task `id`'s Redis hash (every field and value). */
async function storedBytes(id: string): Promise<number> {
  return withRedis(redis.url, async (r) => {
    const fields = await r.hgetall(`{airlock}:task:${id}`);
    return Object.entries(fields).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
  });
}

test("a server's own task whose result is larger than tasks.max_result is not kept in Redis nor served (it ends failed, saying so)", async () => {
  const tasks = await tasksClient();
  const task = await callAsTask(tasks, 'big_result', { kb: 512 });
  const ended = await taskReaching(tasks, task.taskId, TERMINAL);
  const bytes = await storedBytes(task.taskId);
  assert.ok(
    bytes <= MAX_RESULT_KB * 1024,
    `task ${task.taskId} keeps ${bytes} bytes in Redis, more than tasks.max_result (${MAX_RESULT_KB} KiB)`,
  );
  assert.equal(ended.status, 'failed', `a 512 KiB result must not be served from a task (got ${ended.status})`);
  assert.match(String(ended.error?.message), /tasks\.max_result/);
});

test("a JSON-RPC error of the server, when Airlock's own task runs the call, is kept no larger than tasks.max_result", async () => {
  const tasks = await tasksClient();
  const task = await callAsTask(tasks, 'big_error', { kb: 512 });
  const approval = await pendingForTask(gateway.url, ALICE, task.taskId);
  const decided = await api(gateway.url, `/api/approvals/${approval.id}/approve`, ALICE, { method: 'POST', body: {} });
  assert.equal(decided.status, 200, JSON.stringify(decided.body));
  const ended = await taskReaching(tasks, task.taskId, TERMINAL);
  assert.equal(ended.status, 'failed', JSON.stringify(ended).slice(0, 300));
  const bytes = await storedBytes(task.taskId);
  assert.ok(
    bytes <= MAX_RESULT_KB * 1024,
    `task ${task.taskId} keeps ${bytes} bytes in Redis (the server's error data), more than tasks.max_result`,
  );
});

test('a status that is none of the five the extension defines is never stored or shown as a task status', async () => {
  const tasks = await tasksClient();
  const created = await callAsTask(tasks, 'lying_status', {});
  const statuses = ['working', 'input_required', 'completed', 'failed', 'cancelled'];
  assert.ok(statuses.includes(created.status), `the CreateTaskResult says status ${JSON.stringify(created.status)}`);
  const shown = resultOf<WireTask>(await tasks.get(created.taskId), 'tasks/get');
  assert.ok(statuses.includes(shown.status), `tasks/get says status ${JSON.stringify(shown.status)}`);
});

test('tasks/update does not pass the server an answer to a question relay forbids (and tasks/get hid)', async () => {
  const tasks = await tasksClient({ sampling: {} });
  const task = await callAsTask(tasks, 'asks_sampling', {});
  const shown = await taskReaching(tasks, task.taskId, ['input_required', ...TERMINAL]);
  assert.deepEqual(Object.keys(shown.inputRequests ?? {}), [], 'relay.sampling is false: the question is not shown');
  await tasks.update(task.taskId, { s1: { role: 'assistant', content: { type: 'text', text: 'injected' }, model: 'm' } });
  const updates = received('tasks/update');
  assert.deepEqual(
    updates.map((m) => Object.keys((m.params?.inputResponses ?? {}) as object)),
    [],
    'the answer to a sampling question reached the server although servers.hostile.relay.sampling is false',
  );
});

test("tasks/cancel of a server's own task is audited task_cancelled with its task_id", async () => {
  const tasks = await tasksClient();
  const task = await callAsTask(tasks, 'long_task', {});
  assert.equal(resultOf(await tasks.cancel(task.taskId), 'tasks/cancel').resultType, 'complete');
  await until('the server to hear the cancel', () => received('tasks/cancel').length > 0);
  assert.equal((await taskReaching(tasks, task.taskId, TERMINAL)).status, 'cancelled');
  const events = await waitForEvents(redis.url, 'task_cancelled of the task', (all) =>
    all.some((e) => e.event === 'task_cancelled' && (e as { task_id?: string }).task_id === task.taskId),
  );
  assert.equal(events.filter((e) => e.event === 'task_cancelled' && (e as { task_id?: string }).task_id === task.taskId).length, 1);
});

test("a server's own task that completes is audited executed with its task_id, as the same call without a task would be", async () => {
  const tasks = await tasksClient();
  const task = await callAsTask(tasks, 'big_result', { kb: 1 });
  assert.equal((await taskReaching(tasks, task.taskId, TERMINAL)).status, 'completed');
  const events = await waitForEvents(redis.url, 'the end of the task', (all) =>
    all.some((e) => e.event === 'executed' && (e as { task_id?: string }).task_id === task.taskId),
  );
  const executed = events.filter((e) => e.event === 'executed' && (e as { task_id?: string }).task_id === task.taskId);
  assert.equal(executed.length, 1);
});
