import assert from 'node:assert/strict';
import { test } from 'node:test';
import { argumentsDigest } from '../../src/arguments-digest.js';
import { missingCapabilityError, questionsOf, resume, retryParams, unaskable, type InputDeps } from '../../src/proxy/input-rounds.js';
import { RELAY_ALL } from '../../src/proxy/questions.js';
import { stateSeal, type SealedCall } from '../../src/proxy/request-state.js';

let now = 1_000_000;
const seal = stateSeal(Buffer.alloc(32, 1), { ttlMs: 60_000, now: () => now });
// These checks never park a call (a 2025 server's questions): that is parked-calls.test.ts's and the e2e tests'.
const unparked = () => {
  throw new Error('no call is parked in these tests');
};
const deps: InputDeps = {
  seal,
  digest: argumentsDigest(Buffer.alloc(32, 2)),
  relay: () => RELAY_ALL,
  claim: async () => true,
  parked: { instance: 'unused', open: unparked, next: unparked, abandon: unparked },
};
const request = { grant: 'a', endpoint: '/mcp/fx', server: 'fx', method: 'tools/call' as const, target: 'ask', args: { who: 'x' } };
const sealed: Omit<SealedCall, 'exp'> = {
  grant: 'a',
  endpoint: '/mcp/fx',
  server: 'fx',
  method: 'tools/call',
  target: 'ask',
  digest: deps.digest({ who: 'x' }),
  request_id: 'r-1',
  upstream: 'server-state',
  asked: [['name', 'elicitation/create']],
  decision: { action: 'allow', rule: 'default' },
  round: 1,
};
const wire = seal.seal(sealed);

test('a state opens as sealed, and hides what it carries from the client', () => {
  const opened = resume(deps, wire, request);
  assert.ok(opened.ok);
  assert.equal(opened.call.upstream, 'server-state');
  assert.ok(!Buffer.from(wire.slice(4), 'base64url').toString('latin1').includes('server-state'));
});

const refusals: { name: string; wire: () => string; request?: Partial<typeof request>; reason: string }[] = [
  {
    name: 'one byte changed',
    wire: () => wire.slice(0, 10) + (wire[10] === 'A' ? 'B' : 'A') + wire.slice(11),
    reason: 'the requestState is forged',
  },
  {
    name: 'sealed under another key',
    wire: () => stateSeal(Buffer.alloc(32, 9), { ttlMs: 60_000, now: () => now }).seal(sealed),
    reason: 'the requestState is forged',
  },
  { name: 'not ours at all', wire: () => 'hello', reason: 'the requestState is malformed' },
  { name: 'far too long', wire: () => `al1.${'A'.repeat(200_000)}`, reason: 'the requestState is malformed' },
  { name: 'another grant', wire: () => wire, request: { grant: 'b' }, reason: 'the requestState was handed to another grant' },
  { name: 'no grant', wire: () => wire, request: { grant: undefined }, reason: 'the requestState was handed to another grant' },
  { name: 'another endpoint', wire: () => wire, request: { endpoint: '/mcp' }, reason: 'the requestState was handed out on /mcp/fx' },
  { name: 'another tool', wire: () => wire, request: { target: 'other' }, reason: 'the requestState belongs to another request' },
  {
    name: 'another method',
    wire: () => wire,
    request: { method: 'prompts/get' } as never,
    reason: 'the requestState belongs to another request',
  },
  {
    name: 'other arguments',
    wire: () => wire,
    request: { args: { who: 'y' } },
    reason: 'the arguments differ from those of the first round',
  },
];
for (const c of refusals)
  test(`a state is refused: ${c.name}`, () => {
    assert.deepEqual(resume(deps, c.wire(), { ...request, ...c.request }), { ok: false, reason: c.reason });
  });

test('a state is refused once its time is up, by the injected clock', () => {
  now += 60_000;
  try {
    assert.deepEqual(resume(deps, wire, request), { ok: false, reason: 'the requestState is expired' });
  } finally {
    now -= 60_000;
  }
});

test("a retry passes on only the answers to the round's questions, and the server's own state", () => {
  const opened = resume(deps, wire, request);
  assert.ok(opened.ok);
  assert.deepEqual(retryParams(opened.call, { name: { action: 'accept' }, extra: { action: 'accept' }, __proto__: { action: 'x' } }), {
    inputResponses: { name: { action: 'accept' } },
    requestState: 'server-state',
  });
});

test("a server's round is refused past the caps: too many questions, too large, an unknown method, a huge state", () => {
  const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, { method: 'roots/list', params: {} }]));
  const cases = [
    { inputRequests: many },
    { inputRequests: { big: { method: 'elicitation/create', params: { message: 'x'.repeat(300_000) } } } },
    { inputRequests: { odd: { method: 'tools/call', params: {} } } },
    { requestState: 's'.repeat(70_000) },
  ];
  for (const result of cases) assert.throws(() => questionsOf('fx', { resultType: 'input_required', ...result } as never), /upstream fx/);
});

test('questions a 2026 client may not be asked: a kind relay turns off, a capability it did not declare; -32021 names them', () => {
  const questions = questionsOf('fx', {
    resultType: 'input_required',
    inputRequests: {
      a: { method: 'elicitation/create', params: { mode: 'url', url: 'https://x', message: 'm', elicitationId: '1' } },
      b: { method: 'sampling/createMessage', params: { messages: [], maxTokens: 1 } },
      c: { method: 'roots/list', params: {} },
    },
  } as never);
  const refused = unaskable('fx', { ...RELAY_ALL, roots: false }, { elicitation: { form: {} }, sampling: {} }, questions);
  assert.deepEqual(
    refused.map((r) => [r.key, r.required]),
    [
      ['a', { elicitation: { url: {} } }],
      ['c', { roots: {} }],
    ],
  );
  const error = missingCapabilityError(refused);
  assert.equal(error.code, -32021);
  assert.deepEqual((error.data as { requiredCapabilities: unknown }).requiredCapabilities, { elicitation: { url: {} }, roots: {} });
  assert.match(error.message, /servers\.fx\.relay\.roots is false/);
});
