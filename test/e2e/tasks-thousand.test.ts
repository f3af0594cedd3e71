import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { api } from '../support/approvals-api.js';
import { startGateway, startGateways, type RunningGateway } from '../support/gateway.js';
import { until } from '../support/poll.js';
import { RECORDING_ENTRY, RECORDING_SOURCE, recordingServer, upstreamCalls } from '../support/recording-upstream.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { firstText } from '../support/refusal.js';
import { callAsTask, connectTasks, resultOf, type TasksClient, type WireTask } from '../support/tasks-client.js';

/**
 * 1,000 held calls as tasks at once, 500 on each of two instances on one
 * Redis, all approved through the console API in parallel batches: every
 * task completes with its own call's result, and the upstream receives each
 * call (its own `text`) exactly once.
 */
const AGENT = 'thousand-agent-token-0123456789';
const ALICE = 'thousand-alice-admin-0123456789';
const COUNT = 1000;
/** How many requests (calls, decisions, polls) are in flight at once. */
const BATCH = 50;

// An hour to decide, so that no request expires while a loaded machine works through a thousand.
const POLICY = JSON.stringify({
  version: '1',
  default: 'deny',
  tools: { echo: { action: 'require_approval', reason: 'Echo needs a person', approval: { timeout: '1h' } } },
});
const CONFIG = [
  `servers:\n${recordingServer('fixture', 'fixture.json').trimEnd()}`,
  `grants:\n  - { name: agent, token: ${AGENT} }`,
  `admins:\n  - { name: alice, token: ${ALICE} }`,
  'approvals: { channel: console }',
  '',
].join('\n');
const FILES = { [RECORDING_ENTRY]: RECORDING_SOURCE, 'fixture.json': POLICY };

let redis: TestRedis;
let gateways: [RunningGateway, RunningGateway];
const clients: TasksClient[] = [];

before(async () => {
  redis = await startRedis();
  gateways = (await startGateways(2, () => startGateway({ config: CONFIG, files: FILES, redis }))) as [RunningGateway, RunningGateway];
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all((gateways ?? []).map((g) => g.stop()));
  await redis?.stop();
});

/** `work` for every item, `BATCH` at a time; `index` picks the instance, so the two share the load evenly. */
async function inBatches<T>(items: readonly T[], work: (item: T, index: number) => Promise<void>): Promise<void> {
  for (let start = 0; start < items.length; start += BATCH)
    await Promise.all(items.slice(start, start + BATCH).map((item, offset) => work(item, start + offset)));
}

test('1,000 pending tasks across two instances, all approved: every one completes, and each call reaches the upstream exactly once', async () => {
  const tasks = await Promise.all(gateways.map((g) => connectTasks(`${g.url}/mcp/fixture`, AGENT)));
  clients.push(...tasks);
  const on = (index: number) => tasks[index % 2]!;
  const texts = Array.from({ length: COUNT }, (_, i) => `call ${i}`);

  const textOf = new Map<string, string>();
  await inBatches(texts, async (text, i) => {
    const task = await callAsTask(on(i), 'echo', { text });
    textOf.set(task.taskId, text);
  });
  assert.equal(textOf.size, COUNT, 'every call has a task of its own');

  let pending: { id: string; task_id?: string }[] = [];
  await until(
    `all ${COUNT} requests to be listed pending`,
    async () => {
      const { body } = await api(gateways[0].url, `/api/approvals?state=pending&tool=echo&limit=${COUNT}`, ALICE);
      pending = (body.approvals ?? []) as typeof pending;
      return pending.length === COUNT;
    },
    120_000,
    200,
  );
  assert.deepEqual(new Set(pending.map((a) => a.task_id)), new Set(textOf.keys()), 'each request names its task');
  await inBatches(pending, async (approval, i) => {
    const answer = await api(gateways[i % 2]!.url, `/api/approvals/${approval.id}/approve`, ALICE, { method: 'POST', body: {} });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
  });

  const ended = new Map<string, WireTask>();
  await until(
    'every task to end',
    async () => {
      const open = [...textOf.keys()].filter((id) => !ended.has(id));
      await inBatches(open, async (id, i) => {
        const task = resultOf<WireTask>(await on(i).get(id), `tasks/get ${id}`);
        if (task.status !== 'working' && task.status !== 'input_required') ended.set(id, task);
      });
      return ended.size === COUNT;
    },
    900_000,
    500,
  );
  const wrong = [...ended].filter(([id, task]) => task.status !== 'completed' || firstText(task.result) !== textOf.get(id));
  assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} tasks did not complete with their own call's result`);

  const received = gateways.flatMap((g) => upstreamCalls(g, 'fixture', 'echo')).map((args) => String(args.text));
  assert.equal(received.length, COUNT, 'the upstream received exactly one call per task');
  assert.deepEqual(received.sort(), [...texts].sort(), 'each call reached the upstream exactly once');
});
