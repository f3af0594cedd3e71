import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { startFixtureGateway, FIXTURE_ADMIN, FIXTURE_AGENT } from '../support/fixture-gateway.js';
import type { RunningGateway } from '../support/gateway.js';
import { until } from '../support/poll.js';
import { metricValue, scrape } from '../support/prometheus.js';
import { assertRefusal, firstText } from '../support/refusal.js';

const AGENT = FIXTURE_AGENT;
const ADMIN = FIXTURE_ADMIN;

let gateway: RunningGateway;
let agent: Client;

before(async () => {
  gateway = await startFixtureGateway({
    version: '1',
    default: 'allow',
    tools: { echo: { limits: [{ counter: 'echoes', window: 'hour', max: 1000 }] } },
  });
  agent = await gateway.connect('/mcp/fx', AGENT);
});
after(() => gateway?.stop());

const metric = async (name: string, labels: Record<string, string> = {}) =>
  metricValue((await scrape(gateway.url, ADMIN)).samples, name, labels);

test('an upstream that dies mid-call is counted as a failed call and a dropped connection, and airlock_upstream_up shows it back', async () => {
  const pid = Number(firstText(await agent.callTool({ name: 'pid' })));
  const sleeping = agent.callTool({ name: 'sleep', arguments: { ms: 10_000 } });
  await until('the sleep call to be in flight', async () => (await metric('airlock_calls_in_flight')) === 1);
  process.kill(pid, 'SIGKILL');
  assertRefusal(await sleeping, 'UNAVAILABLE', { decision: 'unavailable' });
  assert.equal(await metric('airlock_upstream_errors_total', { server: 'fx', kind: 'call' }), 1);
  assert.ok((await metric('airlock_upstream_errors_total', { server: 'fx', kind: 'disconnected' })) >= 1);
  assert.equal(await metric('airlock_calls_total', { server: 'fx', tool: 'sleep', decision: 'unavailable' }), 1);
  await until('the upstream to be connected again', async () => (await metric('airlock_upstream_up', { server: 'fx' })) === 1);
});

test('Redis going away shows in airlock_redis_up and airlock_redis_errors_total, and calls refused meanwhile are counted unavailable', async () => {
  await gateway.redis.restart(async () => {
    await until('airlock_redis_up to drop to 0', async () => (await metric('airlock_redis_up')) === 0);
    assertRefusal(await agent.callTool({ name: 'echo', arguments: { text: 'while down' } }), 'UNAVAILABLE', { decision: 'unavailable' });
  });
  assert.ok((await metric('airlock_redis_errors_total')) >= 1);
  assert.equal(await metric('airlock_calls_total', { server: 'fx', tool: 'echo', decision: 'unavailable' }), 1);
  await until('airlock_redis_up to be 1 again', async () => (await metric('airlock_redis_up')) === 1);
  assert.equal(firstText(await agent.callTool({ name: 'echo', arguments: { text: 'back' } })), 'back');
});
