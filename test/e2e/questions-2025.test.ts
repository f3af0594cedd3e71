import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  type ClientCapabilities,
} from '@modelcontextprotocol/sdk/types.js';
import { streamEvents, type AuditRecord } from '../support/audit-stream.js';
import { startFixture, type RunningFixture } from '../support/conformance.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../support/free-port.js';
import { EVERYTHING_SERVER, TSX_LOADER } from '../support/mcp-servers.js';
import { firstText } from '../support/refusal.js';
import { until } from '../support/poll.js';

/**
 * What a 2025 server asks of its client mid-call (elicitation, sampling,
 * roots) reaches the agent whose call asked, and only that one: over each
 * session's own upstream session for an HTTP server, over a stdio server's
 * one shared process when one call is in flight, over a process of its own
 * with `process: per_session`. The fixture (asking-server.ts) reports what
 * each question was answered with, so the tests see what the server saw.
 */
const ASKING_SERVER = new URL('../support/asking-server.ts', import.meta.url).pathname;
const ALL: ClientCapabilities = { elicitation: {}, sampling: {}, roots: { listChanged: true } };

let fixture: RunningFixture;
let everything: ChildProcess;
let gateway: RunningGateway;
const agents: Client[] = [];

/** The reference server-everything over Streamable HTTP, on a port of its own: it lists its sampling tool to clients that declare sampling. */
async function startEverythingOverHttp(): Promise<string> {
  const port = await freePort();
  everything = spawn(process.execPath, [EVERYTHING_SERVER, 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  everything.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await until('server-everything listens', () => stderr.includes('listening on port'));
  return `http://127.0.0.1:${port}/mcp`;
}

before(async () => {
  const everythingUrl = await startEverythingOverHttp();
  fixture = await startFixture(ASKING_SERVER);
  const stdio = `command: ${process.execPath}, args: [--import, ${TSX_LOADER}, ${ASKING_SERVER}, --stdio]`;
  gateway = await startGateway({
    config: [
      'servers:',
      `  ask: { url: "${fixture.url}", policy: allow.json }`,
      `  ask-quiet: { url: "${fixture.url}", policy: allow.json, relay: { elicitation: false } }`,
      `  ask-stdio: { ${stdio}, policy: allow.json }`,
      `  ask-own: { ${stdio}, policy: allow.json, process: per_session }`,
      `  everything: { url: "${everythingUrl}", policy: allow.json }`,
    ].join('\n'),
    files: { 'allow.json': JSON.stringify({ version: '1', default: 'allow' }) },
  });
});

after(async () => {
  await Promise.all(agents.map((a) => a.close().catch(() => undefined)));
  await gateway?.stop();
  await fixture?.stop();
  everything?.kill();
});

/** A 2025 agent answering as `name`: it records every question it is asked, and answers each with its own name in it. */
async function agent(path: string, name: string, capabilities: ClientCapabilities = ALL): Promise<{ client: Client; asked: string[] }> {
  const asked: string[] = [];
  const client = new Client({ name, version: '1.0.0' }, { capabilities });
  if (capabilities.elicitation)
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(String(request.params.message));
      return { action: 'accept', content: { name } };
    });
  if (capabilities.sampling)
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
      const content = request.params.messages[0]?.content as { type?: string; text?: string } | undefined;
      asked.push(content?.type === 'text' ? String(content.text) : '?');
      return { role: 'assistant', content: { type: 'text', text: `${name} wrote this` }, model: 'test-model' };
    });
  if (capabilities.roots)
    client.setRequestHandler(ListRootsRequestSchema, async () => {
      asked.push('roots');
      return { roots: [{ uri: `file:///home/${name}` }] };
    });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gateway.url}${path}`)));
  agents.push(client);
  return { client, asked };
}

const call = async (client: Client, name: string, args: Record<string, unknown>) =>
  firstText(await client.callTool({ name, arguments: args }));

const questionEvents = async (): Promise<AuditRecord[]> =>
  (await streamEvents(gateway.redis.url)).filter((e) => e.event === 'question_relayed' || e.event === 'question_refused');

describe('an HTTP server: each session its own upstream session', () => {
  test('two agents asked at the same time each get only their own question, and their own result', async () => {
    const [alice, bob] = await Promise.all([agent('/mcp/ask', 'alice'), agent('/mcp/ask', 'bob')]);
    for (const [tool, shows] of [
      ['ask_name', (n: string) => `accept ${n}`],
      ['sample', (n: string) => `${n} wrote this`],
      ['list_roots', (n: string) => `file:///home/${n}`],
    ] as const) {
      alice.asked.length = 0;
      bob.asked.length = 0;
      const [a, b] = await Promise.all([call(alice.client, tool, { who: 'alpha' }), call(bob.client, tool, { who: 'beta' })]);
      assert.equal(a, `alpha: ${shows('alice')}`, tool);
      assert.equal(b, `beta: ${shows('bob')}`, tool);
      if (tool !== 'list_roots') {
        assert.deepEqual(alice.asked.length, 1, tool);
        assert.match(alice.asked[0]!, /alpha/);
        assert.match(bob.asked[0]!, /beta/);
        assert.equal(bob.asked.length, 1, tool);
      }
    }
  });

  test('each question is audited with how it was answered, never with what was asked or answered', async () => {
    const { client } = await agent('/mcp/ask', 'carol');
    await call(client, 'ask_name', { who: 'gamma' });
    let events: AuditRecord[] = [];
    await until('the question is audited', async () => {
      events = (await questionEvents()).filter((e) => e.client === 'carol');
      return events.length > 0;
    });
    const [event] = events;
    assert.equal(event!.event, 'question_relayed');
    assert.equal(event!.server, 'ask');
    assert.equal(event!.tool, 'ask_name');
    assert.equal(event!.method, 'elicitation/create');
    assert.equal((event as { answer?: string }).answer, 'accept');
    assert.ok(event!.request_id, 'the question is tied to its call');
    const executed = (await streamEvents(gateway.redis.url)).find((e) => e.event === 'executed' && e.request_id === event!.request_id);
    assert.ok(executed, 'the call it belongs to is in the trail under the same request_id');
    assert.doesNotMatch(JSON.stringify(event), /gamma|carol wrote|Which name/);
  });

  test('an agent that declared no such capability is never asked: the server gets method not found', async () => {
    const { client, asked } = await agent('/mcp/ask', 'dave', { sampling: {} });
    const answer = await call(client, 'ask_name', { who: 'delta' });
    assert.match(answer, /^delta: error -32601 .*declared no elicitation capability on this connection/);
    assert.equal(asked.length, 0);
    const plain = await agent('/mcp/ask', 'erin', {});
    assert.match(
      await call(plain.client, 'sample', { who: 'epsilon' }),
      /^epsilon: error -32601 .*the agent did not declare the sampling capability/,
    );
  });

  test('with relay.elicitation false the server gets method not found, and the agent is not asked', async () => {
    const { client, asked } = await agent('/mcp/ask-quiet', 'frank');
    assert.match(await call(client, 'ask_name', { who: 'zeta' }), /^zeta: error -32601 .*relay\.elicitation is false/);
    assert.equal(asked.length, 0);
    // What stays on is still passed on.
    assert.equal(await call(client, 'sample', { who: 'eta' }), 'eta: frank wrote this');
    await until('the refusal is audited', async () =>
      (await questionEvents()).some((e) => e.event === 'question_refused' && e.server === 'ask-quiet' && e.client === 'frank'),
    );
  });

  test("an agent's roots/list_changed reaches its own upstream session", async () => {
    const { client } = await agent('/mcp/ask', 'nina');
    assert.equal(await call(client, 'list_roots', { who: 'pi' }), 'pi: file:///home/nina');
    assert.equal(await call(client, 'roots_changed', {}), '0');
    await client.sendRootsListChanged();
    await until('the server hears of it', async () => (await call(client, 'roots_changed', {})) === '1');
  });

  test("a session's upstream session ends with it", async () => {
    const before = Number(await call((await agent('/mcp/ask', 'gina', {})).client, 'sessions', {}));
    const { client } = await agent('/mcp/ask', 'hank');
    await call(client, 'sample', { who: 'theta' });
    const opened = Number(await call(client, 'sessions', {}));
    assert.ok(opened > before, 'a session of its own was opened upstream for the agent that can answer');
    await call(client, 'sample', { who: 'iota' });
    assert.equal(Number(await call(client, 'sessions', {})), opened, 'and kept for its later calls');
  });
});

test("a server that restarted and forgot the agent's session is asked over a new one, and the call goes through", async () => {
  const port = await freePort();
  let restarting = await startFixture(ASKING_SERVER, { PORT: String(port) });
  const own = await startGateway({
    config: `servers:\n  ask: { url: "${restarting.url}", policy: allow.json }\n`,
    files: { 'allow.json': JSON.stringify({ version: '1', default: 'allow' }) },
  });
  try {
    const client = new Client({ name: 'quinn', version: '1.0.0' }, { capabilities: { sampling: {} } });
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({
      role: 'assistant',
      content: { type: 'text', text: 'quinn wrote this' },
      model: 'm',
    }));
    await client.connect(new StreamableHTTPClientTransport(new URL(`${own.url}/mcp/ask`)));
    agents.push(client);
    assert.equal(await call(client, 'sample', { who: 'tau' }), 'tau: quinn wrote this');
    await restarting.stop();
    restarting = await startFixture(ASKING_SERVER, { PORT: String(port) });
    assert.equal(await call(client, 'sample', { who: 'upsilon' }), 'upsilon: quinn wrote this');
  } finally {
    await own.stop();
    await restarting.stop();
  }
});

describe('the reference server-everything over Streamable HTTP', () => {
  test('its sampling tool, called by two agents at once, asks each its own prompt', async () => {
    const [olga, paul] = await Promise.all([agent('/mcp/everything', 'olga'), agent('/mcp/everything', 'paul')]);
    const sample = (client: Client, prompt: string) =>
      client.callTool({ name: 'trigger-sampling-request', arguments: { prompt, maxTokens: 20 } }).then((r) => JSON.stringify(r.content));
    const [a, b] = await Promise.all([sample(olga.client, 'rho'), sample(paul.client, 'sigma')]);
    assert.match(a, /olga wrote this/);
    assert.match(b, /paul wrote this/);
    assert.equal(olga.asked.length, 1);
    assert.match(olga.asked[0]!, /rho/);
    assert.equal(paul.asked.length, 1);
    assert.match(paul.asked[0]!, /sigma/);
  });
});

describe('a stdio server', () => {
  test('shared by every session: a question is relayed to the one call in flight', async () => {
    const { client, asked } = await agent('/mcp/ask-stdio', 'ivy');
    assert.equal(await call(client, 'ask_name', { who: 'kappa' }), 'kappa: accept ivy');
    assert.deepEqual(asked, ['Which name should kappa use?']);
    // Never roots: one agent's folders would be every session's.
    assert.match(await call(client, 'list_roots', { who: 'lambda' }), /^lambda: error -32601 .*declared no roots capability/);
    const samplingOnly = await agent('/mcp/ask-stdio', 'iris', { sampling: {} });
    assert.match(
      await call(samplingOnly.client, 'ask_name', { who: 'lambda' }),
      /^lambda: error -32601 .*the agent did not declare the elicitation capability/,
    );
    assert.equal(samplingOnly.asked.length, 0);
  });

  test('shared by every session: with two calls in flight a question is refused, naming process: per_session', async () => {
    const { client, asked } = await agent('/mcp/ask-stdio', 'jack');
    let waiting!: () => void;
    const started = new Promise<void>((resolve) => (waiting = resolve));
    const held = client.callTool({ name: 'wait', arguments: { ms: 2_000 } }, undefined, { onprogress: () => waiting() });
    await started;
    assert.match(await call(client, 'ask_name', { who: 'mu' }), /^mu: error -32603 .*2 calls are in flight .*process: per_session/);
    assert.equal(asked.length, 0);
    await held;
  });

  test("shared by every session: a question asked during another agent's request is refused, not given to the one call that can be asked", async () => {
    const { client: asker, asked } = await agent('/mcp/ask-stdio', 'lena');
    const { client: other } = await agent('/mcp/ask-stdio', 'mike', {});
    let waiting!: () => void;
    const started = new Promise<void>((resolve) => (waiting = resolve));
    const held = asker.callTool({ name: 'wait', arguments: { ms: 2_000 } }, undefined, { onprogress: () => waiting() });
    await started;
    // mike's call asks while lena's is in flight: two requests, so neither agent is asked.
    assert.match(await call(other, 'ask_name', { who: 'rho' }), /^rho: error -32603 .*2 calls are in flight/);
    assert.equal(asked.length, 0, "lena never saw mike's question");
    await held;
  });

  test('with process: per_session two agents asked at the same time each get their own question', async () => {
    const [kim, leo] = await Promise.all([agent('/mcp/ask-own', 'kim'), agent('/mcp/ask-own', 'leo')]);
    const [a, b] = await Promise.all([call(kim.client, 'ask_name', { who: 'nu' }), call(leo.client, 'ask_name', { who: 'xi' })]);
    assert.equal(a, 'nu: accept kim');
    assert.equal(b, 'xi: accept leo');
    assert.deepEqual(kim.asked, ['Which name should nu use?']);
    assert.deepEqual(leo.asked, ['Which name should xi use?']);
    assert.equal(await call(kim.client, 'list_roots', { who: 'omicron' }), 'omicron: file:///home/kim');
  });
});
