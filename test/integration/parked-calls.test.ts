import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import pino from 'pino';
import type { CallToolResult } from '@modelcontextprotocol/server';
import { ParkedCalls, type ParkedCall, type Round } from '../../src/proxy/parked-calls.js';
import { ParkedRelay } from '../../src/proxy/parked-relay.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const logger = pino({ level: 'silent' });
const NEVER = new AbortController().signal;
const elicit = (message: string) => ({ method: 'elicitation/create', params: { message } });
const text = (t: string): CallToolResult => ({ content: [{ type: 'text', text: t }] });

let redis: TestRedis;
const clients: Redis[] = [];
before(async () => {
  redis = await startRedis();
});
after(async () => {
  for (const c of clients) c.disconnect();
  await redis?.stop();
});

/** A server call that asks `n` questions one after another and returns what it was told. */
function serverAsking(call: ParkedCall, n: number): void {
  call.run(
    (async () => {
      const told: string[] = [];
      for (let i = 1; i <= n; i++)
        told.push(String(((await call.ask(elicit(`question ${i}`))) as { content?: { v?: string } }).content?.v));
      return text(told.join(','));
    })(),
  );
}

const keysOf = (round: Round) => ('questions' in round ? Object.keys(round.questions) : []);
const answers = (round: Round, v: string) => Object.fromEntries(keysOf(round).map((k) => [k, { action: 'accept', content: { v } }]));

test('each question is a round; answers continue the same call until its result', async () => {
  const calls = new ParkedCalls();
  const call = calls.open();
  serverAsking(call, 2);
  const first = await call.next(undefined, NEVER);
  assert.equal(keysOf(first).length, 1);
  assert.equal(
    Object.values((first as { questions: Record<string, { params?: { message?: string } }> }).questions)[0]!.params?.message,
    'question 1',
  );
  const second = await call.next(answers(first, 'a'), NEVER);
  assert.notDeepEqual(keysOf(second), keysOf(first));
  assert.deepEqual(await call.next(answers(second, 'b'), NEVER), { result: text('a,b') });
  assert.equal(calls.get(call.id), undefined, 'an ended call is no longer parked');
});

test('a retry without the answer is asked again; keys nobody asked are ignored', async () => {
  const calls = new ParkedCalls();
  const call = calls.open();
  serverAsking(call, 1);
  const first = await call.next(undefined, NEVER);
  const again = await call.next({ 'not-asked': { action: 'accept', content: { v: 'x' } } }, NEVER);
  assert.deepEqual(keysOf(again), keysOf(first));
  assert.deepEqual(await call.next(answers(first, 'c'), NEVER), { result: text('c') });
});

test('a call whose client never retries is abandoned: the server is refused and the call aborted', async () => {
  const calls = new ParkedCalls({ ttlMs: 50 });
  const call = calls.open();
  let refused: unknown;
  call.run(
    call.ask(elicit('q')).then(
      () => text('answered'),
      (err: unknown) => {
        refused = err;
        return text('refused');
      },
    ),
  );
  await call.next(undefined, NEVER);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.match(String((refused as Error)?.message), /no retry came within/);
  assert.ok(call.signal.aborted);
  assert.equal(calls.get(call.id), undefined);
});

test('every retry waiting on one call is woken with its round', async () => {
  const call = new ParkedCalls().open();
  let finish!: (r: CallToolResult) => void;
  call.run(new Promise((resolve) => (finish = resolve)));
  const waiting = [call.next(undefined, NEVER), call.next(undefined, NEVER)];
  finish(text('done'));
  assert.deepEqual(await Promise.all(waiting), [{ result: text('done') }, { result: text('done') }]);
});

test('an instance holds at most its maximum of parked calls', () => {
  const calls = new ParkedCalls({ max: 1 });
  calls.open();
  assert.throws(() => calls.open(), /already holds 1 calls waiting/);
});

test("a retry that lands on another instance is forwarded to the call's own, over Redis", async () => {
  const connect = () => {
    const c = new Redis(redis.url);
    clients.push(c);
    return c;
  };
  const [callsA, callsB] = [new ParkedCalls(), new ParkedCalls()];
  const a = await ParkedRelay.start({ redis: connect(), prefix: '{t}:', calls: callsA, logger });
  const b = await ParkedRelay.start({ redis: connect(), prefix: '{t}:', calls: callsB, logger });
  try {
    const call = callsA.open();
    serverAsking(call, 2);
    const first = await a.next(a.instance, call.id, undefined, NEVER);
    const second = await b.next(a.instance, call.id, answers(first, 'x'), NEVER);
    assert.equal(keysOf(second).length, 1);
    assert.deepEqual(await b.next(a.instance, call.id, answers(second, 'y'), NEVER), { result: text('x,y') });
    await assert.rejects(b.next(a.instance, call.id, undefined, NEVER), /no longer waiting for answers/);
    await assert.rejects(b.next('an-instance-that-is-gone', call.id, undefined, NEVER), /instance that holds this call is gone/);
  } finally {
    await a.close();
    await b.close();
  }
});
