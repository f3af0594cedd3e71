import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CallToolResultSchema } from '@modelcontextprotocol/core';
import type { ProtocolError } from '@modelcontextprotocol/client';
import {
  Client as V2Client,
  StreamableHTTPClientTransport as V2Transport,
  withInputRequired,
  type ClientCapabilities,
  type InputRequiredResult,
} from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { api } from '../support/approvals-api.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { until } from '../support/poll.js';
import { firstText } from '../support/refusal.js';
import { fixtureMessages, startV2HttpFixture, type RunningV2Fixture } from '../support/v2-fixture.js';

/**
 * A 2026 server's questions (input_required, SEP-2322) through Airlock: to
 * 2026 clients as InputRequiredResult with Airlock's sealed requestState,
 * whose retry any instance continues as the same call; to a 2025 session's
 * agent as server-to-client requests. Two gateways share one Redis; B
 * seals states that expire after 1 s.
 */

const TOKEN_A = 'questions-grant-a-0123456789';
const TOKEN_B = 'questions-grant-b-0123456789';
const ALICE = 'questions-admin-alice-0123456789';
const MODERN = { versionNegotiation: { mode: { pin: '2026-07-28' as const } } };

const work = mkdtempSync(join(tmpdir(), 'airlock-questions-'));
const fixtureLog = join(work, 'fixture-requests.jsonl');
let fixture: RunningV2Fixture;
let redis: TestRedis;
let a: RunningGateway;
let b: RunningGateway;

const config = (ttl: string) =>
  [
    `listen: { host: 127.0.0.1, port: 0, request_state_ttl: ${ttl} }`,
    'servers:',
    ...['fx', 'limited', 'quiet'].flatMap((name) => [
      `  ${name}:`,
      `    url: ${fixture.url}`,
      '    protocol: 2026-07-28',
      `    policy: ${name === 'limited' ? 'limited.json' : 'open.json'}`,
      ...(name === 'quiet' ? ['    relay: { elicitation: false }'] : []),
    ]),
    'grants:',
    `  - { name: a, token: "${TOKEN_A}" }`,
    `  - { name: b, token: "${TOKEN_B}" }`,
    'admins:',
    `  - { name: alice, token: "${ALICE}" }`,
    'approvals: { channel: console }',
    '',
  ].join('\n');
const files = {
  'open.json': JSON.stringify({ version: '1', default: 'allow' }),
  // One call an hour per grant: a retry that were charged again would be refused.
  'limited.json': JSON.stringify({
    version: '1',
    default: 'allow',
    tools: { ask_name: { limits: [{ counter: 'ask_name_rate', window: 'hour', max: 1, scope: 'grant' }] } },
  }),
};

before(async () => {
  fixture = await startV2HttpFixture({ FIXTURE_REQUEST_LOG: fixtureLog });
  redis = await startRedis();
  [a, b] = await Promise.all([startGateway({ config: config('10m'), files, redis }), startGateway({ config: config('1s'), files, redis })]);
});
after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
  await fixture?.stop();
});

interface Answers {
  name?: (message: string) => string;
  model?: (prompt: string) => string;
  roots?: string[];
}

/** A v2 client pinned to 2026-07-28 whose handlers answer what it declares: the SDK answers input_required rounds through them. */
async function modernClient(
  gateway: RunningGateway,
  path: string,
  token: string,
  answers: Answers,
  asked: string[] = [],
): Promise<V2Client> {
  const capabilities: ClientCapabilities = {
    ...(answers.name && { elicitation: { form: {} } }),
    ...(answers.model && { sampling: {} }),
    ...(answers.roots && { roots: {} }),
  };
  const client = new V2Client({ name: 'questions-2026', version: '1.0.0' }, { ...MODERN, capabilities });
  if (answers.name)
    client.setRequestHandler('elicitation/create', async (request) => {
      asked.push(request.params.message);
      return { action: 'accept', content: { name: answers.name!(request.params.message) } };
    });
  if (answers.model)
    client.setRequestHandler('sampling/createMessage', async (request) => {
      const said = (request.params.messages[0]?.content as { text: string }).text;
      asked.push(said);
      return { role: 'assistant', content: { type: 'text', text: answers.model!(said) }, model: 'fake', stopReason: 'endTurn' };
    });
  if (answers.roots) client.setRequestHandler('roots/list', async () => ({ roots: answers.roots!.map((uri) => ({ uri })) }));
  await client.connect(
    new V2Transport(new URL(`${gateway.url}${path}`), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }),
  );
  return client;
}

/** A 2026 client that handles input_required itself: the first round's result as the server (through Airlock) sent it. */
async function firstRound(client: V2Client, name: string, args: Record<string, unknown>): Promise<InputRequiredResult> {
  const result = await client.request(
    { method: 'tools/call', params: { name, arguments: args } },
    withInputRequired(CallToolResultSchema),
    {
      allowInputRequired: true,
    },
  );
  assert.equal((result as InputRequiredResult).resultType, 'input_required', JSON.stringify(result));
  return result as InputRequiredResult;
}

function retry(
  client: V2Client,
  name: string,
  args: Record<string, unknown>,
  state: string | undefined,
  responses: Record<string, unknown>,
) {
  return client.request(
    {
      method: 'tools/call',
      params: { name, arguments: args, inputResponses: responses, ...(state !== undefined && { requestState: state }) },
    },
    withInputRequired(CallToolResultSchema),
    { allowInputRequired: true },
  );
}

async function auditOf(requestIdOrTool: { tool: string }): Promise<Record<string, unknown>[]> {
  const { body } = await api(a.url, `/api/audit?tool=${requestIdOrTool.tool}&limit=1000`, ALICE);
  return body.events as Record<string, unknown>[];
}

const accept = (name: string) => ({ action: 'accept', content: { name } });

test('two 2026 clients at once: each gets only its own question (elicitation, sampling, roots), answers, and gets its own result', async () => {
  const askedA: string[] = [];
  const askedB: string[] = [];
  const [one, two] = await Promise.all([
    modernClient(a, '/mcp/fx', TOKEN_A, { name: (m) => `Ann for ${m}`, model: (p) => `A says ${p}`, roots: ['file:///a'] }, askedA),
    modernClient(b, '/mcp/fx', TOKEN_B, { name: (m) => `Bob for ${m}`, model: (p) => `B says ${p}`, roots: ['file:///b'] }, askedB),
  ]);
  try {
    const results = await Promise.all([
      one.callTool({ name: 'ask_name', arguments: { who: 'alpha' } }),
      two.callTool({ name: 'ask_name', arguments: { who: 'beta' } }),
      one.callTool({ name: 'ask_model', arguments: { topic: 'apples' } }),
      two.callTool({ name: 'ask_model', arguments: { topic: 'bananas' } }),
      one.callTool({ name: 'ask_roots', arguments: { tag: 'left' } }),
      two.callTool({ name: 'ask_roots', arguments: { tag: 'right' } }),
    ]);
    assert.deepEqual(results.map(firstText), [
      'alpha is Ann for Which name for alpha?',
      'beta is Bob for Which name for beta?',
      'apples: A says Say something about apples',
      'bananas: B says Say something about bananas',
      'left: file:///a',
      'right: file:///b',
    ]);
    assert.deepEqual(askedA.sort(), ['Say something about apples', 'Which name for alpha?']);
    assert.deepEqual(askedB.sort(), ['Say something about bananas', 'Which name for beta?']);
    // The server heard of each client's capabilities (less nothing: relay is all on here), not of Airlock's.
    const first = fixtureMessages(fixtureLog).find(
      (m) => m.method === 'tools/call' && (m.params?.arguments as { who?: string })?.who === 'alpha',
    );
    const meta = first?.params?._meta as Record<string, unknown>;
    assert.deepEqual(meta['io.modelcontextprotocol/clientCapabilities'], { sampling: {}, elicitation: { form: {} }, roots: {} });
  } finally {
    await Promise.all([one.close(), two.close()]);
  }
});

test('a 2026 client without the capability, or asking through a server whose relay.elicitation is false: the server is told the client cannot be asked, and the client gets -32021', async () => {
  const samplingOnly = await modernClient(a, '/mcp/fx', TOKEN_A, { model: () => 'x' });
  const asker = await modernClient(a, '/mcp/quiet', TOKEN_A, { name: () => 'never' });
  try {
    for (const client of [samplingOnly, asker])
      await assert.rejects(client.callTool({ name: 'ask_name', arguments: { who: 'gamma' } }), (err: ProtocolError) => {
        assert.equal(err.code, -32021);
        assert.ok((err.data as { requiredCapabilities: { elicitation?: object } }).requiredCapabilities.elicitation);
        return true;
      });
    const told = fixtureMessages(fixtureLog).filter(
      (m) => m.method === 'tools/call' && (m.params?.arguments as { who?: string })?.who === 'gamma',
    );
    assert.deepEqual(
      told.map((m) => (m.params?._meta as Record<string, unknown>)['io.modelcontextprotocol/clientCapabilities']),
      [{ sampling: {} }, {}],
    );
  } finally {
    await Promise.all([samplingOnly.close(), asker.close()]);
  }
});

test('a retry sent to the other instance continues the same call: one charge, one allowed, the continuation reached the server with the answer', async () => {
  const onA = await modernClient(a, '/mcp/limited', TOKEN_A, { name: () => 'unused' });
  const onB = await modernClient(b, '/mcp/limited', TOKEN_A, { name: () => 'unused' });
  try {
    const round = await firstRound(onA, 'ask_name', { who: 'delta' });
    assert.deepEqual(Object.keys(round.inputRequests ?? {}), ['name']);
    assert.match(round.requestState ?? '', /^al1\./);
    const done = await retry(onB, 'ask_name', { who: 'delta' }, round.requestState, { name: accept('Dee'), extra: accept('never asked') });
    assert.equal(firstText(done), 'delta is Dee');
    // A state is good once, on any instance: a replay would run the call again, uncharged and unapproved.
    for (const client of [onA, onB])
      await assert.rejects(
        retry(client, 'ask_name', { who: 'delta' }, round.requestState, { name: accept('Dee') }),
        (err: ProtocolError) => {
          assert.equal(err.code, -32602);
          return true;
        },
      );
    // The server saw the answer it asked for, not the one it never asked, and no Airlock state.
    const sent = fixtureMessages(fixtureLog).filter(
      (m) => m.method === 'tools/call' && (m.params?.arguments as { who?: string })?.who === 'delta',
    );
    assert.equal(sent.length, 2, 'the replays reached no server');
    assert.deepEqual(sent[1]!.params?.inputResponses, { name: accept('Dee') });
    assert.equal(sent[1]!.params?.requestState, undefined);
    // Charged once: the next call of this grant is refused by the limit of one an hour.
    assert.match(firstText(await onA.callTool({ name: 'ask_name', arguments: { who: 'epsilon' } })), /^\[RATE LIMITED\]/);
    // Each instance writes its events in its own order and in its own time: A's round and B's retry may interleave.
    let call: string[] = [];
    await until('the call to be audited, round and retry', async () => {
      const events = (await auditOf({ tool: 'ask_name' })).filter((e) => e.server === 'limited' && e.grant === 'a');
      const ids = new Set(events.filter((e) => e.event === 'input_required').map((e) => e.request_id));
      if (ids.size !== 1) return false;
      call = events.filter((e) => ids.has(e.request_id)).map((e) => `${String(e.event)}${e.answer ? `:${String(e.answer)}` : ''}`);
      return call.includes('executed') && call.filter((e) => e === 'request_refused').length === 2;
    });
    assert.deepEqual(call.sort(), [
      'allowed',
      'executed',
      'input_required',
      'question_relayed:accept',
      'request_refused',
      'request_refused',
    ]);
  } finally {
    await Promise.all([onA.close(), onB.close()]);
  }
});

test('a tampered state, a valid state of another grant, other arguments and an expired state are refused -32602, and nothing is sent', async () => {
  const clientA = await modernClient(a, '/mcp/fx', TOKEN_A, { name: () => 'unused' });
  const clientB = await modernClient(a, '/mcp/fx', TOKEN_B, { name: () => 'unused' });
  const viaB = await modernClient(b, '/mcp/fx', TOKEN_A, { name: () => 'unused' });
  try {
    const round = await firstRound(clientA, 'ask_name', { who: 'zeta' });
    const state = round.requestState!;
    const flipped = state.slice(0, -3) + (state.at(-3) === 'A' ? 'B' : 'A') + state.slice(-2);
    // B seals with a 1 s TTL: its state is past it once 1.5 s have gone by.
    const short = (await firstRound(viaB, 'ask_name', { who: 'zeta' })).requestState!;
    const before = fixtureMessages(fixtureLog).length;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const attempts = [
      () => retry(clientA, 'ask_name', { who: 'zeta' }, flipped, { name: accept('Zed') }),
      () => retry(clientB, 'ask_name', { who: 'zeta' }, state, { name: accept('Zed') }),
      () => retry(clientA, 'ask_name', { who: 'someone else' }, state, { name: accept('Zed') }),
      () => retry(clientA, 'ask_name', { who: 'zeta' }, short, { name: accept('Zed') }),
    ];
    for (const attempt of attempts)
      await assert.rejects(attempt(), (err: ProtocolError) => {
        assert.equal(err.code, -32602);
        assert.equal(err.message, 'Invalid or expired requestState');
        return true;
      });
    assert.equal(fixtureMessages(fixtureLog).length, before, 'nothing reached the server');
    const reasons = [
      'the requestState is forged',
      'the requestState was handed to another grant',
      'the arguments differ from those of the first round',
      'the requestState is expired',
    ];
    await until('each refusal to be audited', async () => {
      const refused = (await auditOf({ tool: 'ask_name' })).filter((e) => e.event === 'request_refused').map((e) => e.reason);
      return reasons.every((reason) => refused.includes(reason));
    });
  } finally {
    await Promise.all([clientA.close(), clientB.close(), viaB.close()]);
  }
});

test('two rounds and a prompt-free retry: the server gets its own state back each round and finishes', async () => {
  const client = await modernClient(b, '/mcp/fx', TOKEN_B, { name: (m) => (m.includes('first') ? 'Eta' : 'Smith') });
  try {
    assert.equal(firstText(await client.callTool({ name: 'ask_twice', arguments: { who: 'eta' } })), 'eta is Eta Smith');
    const sent = fixtureMessages(fixtureLog).filter((m) => m.method === 'tools/call' && m.params?.name === 'ask_twice');
    assert.deepEqual(
      sent.map((m) => m.params?.requestState),
      [undefined, undefined, 'Eta'],
    );
  } finally {
    await client.close();
  }
});

test('a 2025 session (v1 SDK client) calling a 2026 tool that asks: it gets each question as a server request, and the call completes', async () => {
  const asked: string[] = [];
  const client = new V1Client({ name: 'questions-2025', version: '1.0.0' }, { capabilities: { elicitation: {}, sampling: {}, roots: {} } });
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    asked.push(request.params.message);
    return { action: 'accept', content: { name: 'Theta' } };
  });
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({
    role: 'assistant',
    content: { type: 'text', text: 'sampled' },
    model: 'fake',
  }));
  client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///v1' }] }));
  await client.connect(new V1Transport(new URL(`${a.url}/mcp/fx`), { requestInit: { headers: { Authorization: `Bearer ${TOKEN_A}` } } }));
  try {
    assert.equal(firstText(await client.callTool({ name: 'ask_name', arguments: { who: 'theta' } })), 'theta is Theta');
    assert.equal(firstText(await client.callTool({ name: 'ask_model', arguments: { topic: 'v1' } })), 'v1: sampled');
    assert.equal(firstText(await client.callTool({ name: 'ask_roots', arguments: { tag: 'v1' } })), 'v1: file:///v1');
    assert.equal(firstText(await client.callTool({ name: 'ask_twice', arguments: { who: 'iota' } })), 'iota is Theta Theta');
    assert.deepEqual(asked, ['Which name for theta?', 'Which first name for iota?', 'Which last name for iota?']);
  } finally {
    await client.close();
  }
});
