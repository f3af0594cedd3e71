import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CallToolResultSchema } from '@modelcontextprotocol/core';
import {
  Client,
  StreamableHTTPClientTransport,
  withInputRequired,
  type ClientCapabilities,
  type InputRequiredResult,
} from '@modelcontextprotocol/client';
import { streamEvents } from '../support/audit-stream.js';
import { startFixture, type RunningFixture } from '../support/conformance.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { until } from '../support/poll.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { firstText } from '../support/refusal.js';

/**
 * A 2026 client calling a 2025 server that asks mid-call (asking-server.ts):
 * the server's question is a request on a connection, not a result, so
 * Airlock parks the call where it runs, answers the client input_required
 * with a state naming that instance, and hands the retry's answers to the
 * waiting server, on that instance or forwarded to it from the other.
 */
const TOKEN = 'parked-grant-0123456789abcdef';
const ASKING_SERVER = new URL('../support/asking-server.ts', import.meta.url).pathname;
const MODERN = { versionNegotiation: { mode: { pin: '2026-07-28' as const } } };

let redis: TestRedis;
let fixture: RunningFixture;
let a: RunningGateway;
let b: RunningGateway;
const clients: Client[] = [];

before(async () => {
  [redis, fixture] = await Promise.all([startRedis(), startFixture(ASKING_SERVER)]);
  const config = [
    'servers:',
    `  ask: { url: "${fixture.url}", protocol: 2025-11-25, policy: open.json }`,
    'grants:',
    `  - { name: agents, token: "${TOKEN}" }`,
    '',
  ].join('\n');
  const files = { 'open.json': JSON.stringify({ version: '1', default: 'allow' }) };
  [a, b] = await Promise.all([startGateway({ config, files, redis }), startGateway({ config, files, redis })]);
});
after(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await Promise.all([a?.stop(), b?.stop()]);
  await fixture?.stop();
  await redis?.stop();
});

/** A v2 client pinned to 2026-07-28 answering as `name`; the SDK runs the input_required rounds through its handlers. */
async function modern(gateway: RunningGateway, name: string, capabilities: ClientCapabilities, asked: string[] = []): Promise<Client> {
  const client = new Client({ name, version: '1.0.0' }, { ...MODERN, capabilities });
  if (capabilities.elicitation)
    client.setRequestHandler('elicitation/create', async (request) => {
      asked.push(request.params.message);
      return { action: 'accept', content: { name } };
    });
  if (capabilities.sampling)
    client.setRequestHandler('sampling/createMessage', async (request) => {
      asked.push((request.params.messages[0]?.content as { text: string }).text);
      return { role: 'assistant', content: { type: 'text', text: `${name} wrote this` }, model: 'fake' };
    });
  if (capabilities.roots) client.setRequestHandler('roots/list', async () => ({ roots: [{ uri: `file:///home/${name}` }] }));
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp/ask`), {
      requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } },
    }),
  );
  clients.push(client);
  return client;
}

const ALL: ClientCapabilities = { elicitation: { form: {} }, sampling: {}, roots: {} };
const call = async (client: Client, tool: string, who: string) => firstText(await client.callTool({ name: tool, arguments: { who } }));

test('two 2026 clients at once: each is asked only its own question (elicitation, sampling, roots) and gets its own result', async () => {
  const askedAnn: string[] = [];
  const askedBob: string[] = [];
  const [ann, bob] = await Promise.all([modern(a, 'ann', ALL, askedAnn), modern(a, 'bob', ALL, askedBob)]);
  const results = await Promise.all([
    call(ann, 'ask_name', 'alpha'),
    call(bob, 'ask_name', 'beta'),
    call(ann, 'sample', 'gamma'),
    call(bob, 'sample', 'delta'),
    call(ann, 'list_roots', 'epsilon'),
    call(bob, 'list_roots', 'zeta'),
  ]);
  assert.deepEqual(results, [
    'alpha: accept ann',
    'beta: accept bob',
    'gamma: ann wrote this',
    'delta: bob wrote this',
    'epsilon: file:///home/ann',
    'zeta: file:///home/bob',
  ]);
  assert.deepEqual(askedAnn.sort(), ['A line about gamma', 'Which name should alpha use?']);
  assert.deepEqual(askedBob.sort(), ['A line about delta', 'Which name should beta use?']);
});

test('a retry sent to the other instance is forwarded to the one where the call waits, and the call completes', async () => {
  const onA = await modern(a, 'cleo', ALL);
  const onB = await modern(b, 'cleo', ALL);
  const round = (await onA.request(
    { method: 'tools/call', params: { name: 'ask_name', arguments: { who: 'eta' } } },
    withInputRequired(CallToolResultSchema),
    { allowInputRequired: true },
  )) as InputRequiredResult;
  assert.equal(round.resultType, 'input_required');
  const [key, question] = Object.entries(round.inputRequests ?? {})[0]!;
  assert.equal(question.method, 'elicitation/create');
  const done = await onB.request(
    {
      method: 'tools/call',
      params: {
        name: 'ask_name',
        arguments: { who: 'eta' },
        inputResponses: { [key]: { action: 'accept', content: { name: 'Cleo' } } },
        requestState: round.requestState,
      },
    },
    withInputRequired(CallToolResultSchema),
    { allowInputRequired: true },
  );
  assert.equal(firstText(done), 'eta: accept Cleo');
  // One call: allowed once, its round, its question answered where it ran, executed once; all under one request id.
  let steps: string[] = [];
  await until('the call is audited to its end', async () => {
    const events = await streamEvents(redis.url);
    const id = events.find((e) => e.event === 'input_required' && e.tool === 'ask_name' && e.client === 'cleo')?.request_id;
    steps = events
      .filter((e) => e.request_id === id)
      .map((e) => ((e as { answer?: string }).answer ? `${e.event}:${(e as { answer?: string }).answer}` : e.event));
    return steps.includes('executed');
  });
  assert.deepEqual(steps.sort(), ['allowed', 'executed', 'input_required', 'question_relayed:accept']);
});

test('a 2026 client that declared nothing is never asked: the server gets method not found', async () => {
  const plain = await modern(a, 'dora', {});
  assert.match(await call(plain, 'ask_name', 'theta'), /^theta: error -32601 /);
});
