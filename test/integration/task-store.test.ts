import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { isTaskId, newTaskId, TaskStore, type TaskFacts } from '../../src/tasks/index.js';
import { startRedis, type TestRedis } from '../support/redis.js';

/** The task scripts against a real Redis: every step happens only from where its caller expects the task to be. */
let redis: TestRedis;
let client: Redis;
let store: TaskStore;
const counted: string[] = [];

before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
  store = new TaskStore(client, { prefix: '{test}:', timeoutMs: 5_000, counted: (status) => counted.push(status) });
});
after(async () => {
  client.disconnect();
  await redis?.stop();
});

const FACTS: TaskFacts = {
  kind: 'held',
  grant: 'agent',
  endpoint: '/mcp/fixture',
  server: 'fixture',
  tool: 'echo',
  request_id: 'req-1',
  client: 'test',
  protocol: '2026-07-28',
  args: { text: 'hi', big: 9007199254740991 },
  decision: { action: 'require_approval', rule: 'tools.echo', reason: 'needs a person' },
  poll_ms: 2_000,
};

async function created(ttlMs = 60_000) {
  const id = newTaskId();
  const task = await store.create(id, { facts: FACTS, status: 'working', message: 'waiting', run: 'waiting', ttlMs });
  assert.ok(task);
  return task;
}

test('ids are 192 random bits behind tsk_, and anything else is not an id', () => {
  const id = newTaskId();
  assert.ok(isTaskId(id));
  assert.notEqual(newTaskId(), id);
  for (const bad of ['', 'tsk_', `${id}x`, id.slice(0, -1), 'tsk_../../etc/passwd__________________', 42, null, `apr_${id.slice(4)}`])
    assert.equal(isTaskId(bad), false, String(bad));
});

test('a created task reads back as stored, with its TTL on the key; an id is never reused', async () => {
  const task = await created(30_000);
  const read = await store.get(task.id);
  assert.deepEqual(read, { ...task, message: 'waiting' });
  const ttl = await client.pttl(`{test}:task:${task.id}`);
  assert.ok(ttl > 25_000 && ttl <= 30_000, `PTTL ${ttl}`);
  assert.equal(await store.create(task.id, { facts: FACTS, status: 'working', message: '', run: 'queued', ttlMs: 1_000 }), undefined);
  assert.equal((await store.get(task.id))?.run, 'waiting', 'the second create changed nothing');
});

test('a step from the wrong place changes nothing; two claims of one run: exactly one wins', async () => {
  const task = await created();
  const wrong = await store.step(task.id, { run: ['queued'] }, { run: 'running', runner: 'a' });
  assert.equal(wrong.code, 'refused');
  const claims = await Promise.all(
    ['a', 'b', 'c', 'd'].map((runner) => store.step(task.id, { status: ['working'], run: ['waiting'] }, { run: 'running', runner })),
  );
  assert.equal(claims.filter((c) => c.code === 'ok').length, 1);
  const winner = claims.find((c) => c.code === 'ok');
  assert.equal((await store.get(task.id))?.runner, winner?.code === 'ok' ? winner.task.runner : undefined);
  assert.equal((await store.step(newTaskId(), {}, { status: 'cancelled' })).code, 'missing');
});

test('a cancel racing the result: whichever comes first stands, the other is refused', async () => {
  const task = await created();
  await store.step(task.id, { run: ['waiting'] }, { run: 'running' });
  const [cancel, done] = await Promise.all([
    store.step(task.id, { status: ['working', 'input_required'] }, { status: 'cancelled', liveMs: 10_000 }),
    store.step(
      task.id,
      { status: ['working', 'input_required'], run: ['running'] },
      {
        status: 'completed',
        run: 'ended',
        outcome: { result: { content: [] } },
        liveMs: 10_000,
      },
    ),
  ]);
  assert.deepEqual([cancel.code, done.code].sort(), ['ok', 'refused']);
  const after = await store.get(task.id);
  assert.equal(after?.status, cancel.code === 'ok' ? 'cancelled' : 'completed');
});

const BOUNDS = { maxOpen: 3, maxBytes: 1_000 };
async function asked(id: string, question: Record<string, unknown>): Promise<string> {
  const reply = await store.ask(id, question, BOUNDS);
  assert.ok('key' in reply, JSON.stringify(reply));
  return reply.key;
}

test('questions get keys never used twice; answers to open ones are taken, others are left out; the task works again once all are answered', async () => {
  const task = await created();
  const q1 = await asked(task.id, { method: 'elicitation/create', params: { message: 'name?' } });
  const q2 = await asked(task.id, { method: 'elicitation/create', params: { message: 'sure?' } });
  assert.ok(q1 !== q2);
  let read = await store.get(task.id);
  assert.equal(read?.status, 'input_required');
  assert.deepEqual(Object.keys(read?.inputs ?? {}).sort(), [q1, q2].sort());

  const partial = await store.answer(task.id, {
    [q1]: { action: 'accept', content: { name: 'Ada', n: 9007199254740991 } },
    nobody: {},
  });
  assert.deepEqual(partial, { code: 'ok', status: 'input_required', accepted: 1, ignored: ['nobody'] });
  read = await store.get(task.id);
  assert.deepEqual(Object.keys(read?.inputs ?? {}), [q2], 'only the unanswered question is still open');
  // The answer comes back byte for byte (no Lua JSON round trip to round its numbers), and only once.
  assert.deepEqual(await store.takeAnswer(task.id, q1), { action: 'accept', content: { name: 'Ada', n: 9007199254740991 } });
  assert.equal(await store.takeAnswer(task.id, q1), undefined);
  assert.deepEqual((await store.answer(task.id, { [q1]: { action: 'decline' } })).code, 'ok', 'an answered key is left out');
  assert.equal(await store.takeAnswer(task.id, q1), undefined, 'and its second answer is not taken');

  const rest = await store.answer(task.id, { [q2]: { action: 'accept', content: {} } });
  assert.deepEqual(rest, { code: 'ok', status: 'working', accepted: 1, ignored: [] });
  const q3 = await asked(task.id, { method: 'elicitation/create' });
  assert.ok(q3 !== q1 && q3 !== q2, 'a later question gets a new key');
  assert.deepEqual(await store.answer(newTaskId(), { q1: {} }), { code: 'missing' });
});

test('a task that asks nothing refuses answers; an ended one drops its questions and lives for the retention from its end', async () => {
  const task = await created(600_000);
  assert.deepEqual(await store.answer(task.id, { q1: {} }), { code: 'refused', status: 'working' });
  await asked(task.id, { method: 'elicitation/create' });
  counted.length = 0;
  const ended = await store.step(task.id, {}, { status: 'failed', outcome: { error: { code: -32603, message: 'lost' } }, liveMs: 5_000 });
  assert.equal(ended.code, 'ok');
  assert.deepEqual(counted, ['failed']);
  const read = await store.get(task.id);
  assert.deepEqual(read?.inputs, {});
  assert.ok(read && read.ttl_ms >= 5_000 && read.ttl_ms < 10_000, `ttl_ms ${read?.ttl_ms}`);
  assert.ok((await client.pttl(`{test}:task:${task.id}`)) <= 5_000);
  assert.deepEqual(await store.ask(task.id, { method: 'elicitation/create' }, BOUNDS), { ended: true }, 'an ended task is asked nothing');
  assert.deepEqual(await store.answer(task.id, { q1: {} }), { code: 'refused', status: 'failed' });
});

test('no more questions open at once than the bounds allow, by count and by bytes; an answer makes room again', async () => {
  const task = await created();
  const keys = [];
  for (let i = 0; i < 3; i++) keys.push(await asked(task.id, { method: 'elicitation/create', params: { message: `q${i}` } }));
  assert.deepEqual(await store.ask(task.id, { method: 'elicitation/create' }, BOUNDS), { full: 'questions' });
  await store.answer(task.id, { [keys[0]!]: { action: 'decline' } });
  await asked(task.id, { method: 'elicitation/create' });

  const other = await created();
  const big = { method: 'elicitation/create', params: { message: 'x'.repeat(600) } };
  const first = await asked(other.id, big);
  assert.deepEqual(await store.ask(other.id, big, BOUNDS), { full: 'bytes' });
  await store.answer(other.id, { [first]: { action: 'decline' } });
  await asked(other.id, big);
});
