import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { startFixture, type RunningFixture } from '../support/conformance.js';
import { startGateway, startGateways, type RunningGateway } from '../support/gateway.js';
import { startHaproxy, type RunningHaproxy } from '../support/haproxy.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { firstText } from '../support/refusal.js';

/**
 * Behind a load balancer without stickiness, an agent's answer to a question
 * its server asked mid-call is POSTed to whichever instance is next, most
 * often not the one whose call asked: that one still gets it, and the call
 * completes. (The calls' own timeout is short, so an answer that went astray
 * fails the test in seconds rather than hanging it.)
 */
const AGENT = 'agent-token-0123456789abcdef';
const ASKING_SERVER = new URL('../support/asking-server.ts', import.meta.url).pathname;

let redis: TestRedis;
let fixture: RunningFixture;
let instances: RunningGateway[];
let haproxy: RunningHaproxy;

before(async () => {
  [redis, fixture] = await Promise.all([startRedis(), startFixture(ASKING_SERVER)]);
  const config = [
    'servers:',
    `  ask: { url: "${fixture.url}", policy: policy.json, call_timeout: 5s }`,
    'grants:',
    `  - { name: agent, token: ${AGENT} }`,
    '',
  ].join('\n');
  const files = { 'policy.json': JSON.stringify({ version: '1', default: 'allow' }) };
  instances = await startGateways(2, () => startGateway({ config, files, redis }));
  haproxy = await startHaproxy(instances.map((g) => g.url));
});
after(async () => {
  await haproxy?.stop();
  await Promise.all((instances ?? []).map((g) => g.stop()));
  await fixture?.stop();
  await redis?.stop();
});

test('through HAProxy, round robin: 12 calls that each ask their agent twice in turn all get their answers and complete', async () => {
  const client = new Client({ name: 'haproxy-agent', version: '1.0.0' }, { capabilities: { elicitation: {}, sampling: {} } });
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { name: 'rowan' } }));
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({
    role: 'assistant',
    content: { type: 'text', text: 'rowan wrote this' },
    model: 'test-model',
  }));
  await client.connect(
    new StreamableHTTPClientTransport(new URL('/mcp/ask', haproxy.url), { requestInit: { headers: { Authorization: `Bearer ${AGENT}` } } }),
  );
  try {
    for (let i = 0; i < 6; i++) {
      assert.equal(firstText(await client.callTool({ name: 'ask_name', arguments: { who: `e${i}` } })), `e${i}: accept rowan`);
      assert.equal(firstText(await client.callTool({ name: 'sample', arguments: { who: `s${i}` } })), `s${i}: rowan wrote this`);
    }
    const rebuilt = instances.filter((g) => g.logs.some((l) => typeof l.msg === 'string' && /rebuil/.test(l.msg)));
    assert.equal(rebuilt.length, 1, 'the session was served by both instances');
  } finally {
    await client.close();
  }
});
