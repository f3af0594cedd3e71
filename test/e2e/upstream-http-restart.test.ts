import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { freePort } from '../../src/redis/index.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { until } from '../support/poll.js';
import { metricValue, scrape } from '../support/prometheus.js';
import { assertRefusal, firstText } from '../support/refusal.js';
import { startV2HttpFixture, type RunningV2Fixture } from '../support/v2-fixture.js';

/**
 * A 2026-07-28 server is spoken to per request: no connection stays open
 * whose end would tell Airlock it went away. A 2025 server's notification
 * stream, once dropped, is only retried. A request (or the listen stream)
 * that cannot reach either does: the upstream shows as down, its calls are
 * answered as not sent, and Airlock connects again (asking the generation
 * anew) once the server is back on its address.
 */

const AGENT = 'agent-token-0123456789abcdef';
const ADMIN = 'alice-admin-token-0123456789';
let port: number;
let fixture: RunningV2Fixture;
let gateway: RunningGateway;

before(async () => {
  port = await freePort();
  fixture = await startV2HttpFixture({ FIXTURE_PORT: String(port) });
  gateway = await startGateway({
    config: [
      'servers:',
      '  modern:',
      `    url: ${fixture.url}`,
      '    protocol: auto',
      '    policy: policy.json',
      // The same server spoken to as 2025-11-25: its session's stream would only be retried, never said to be closed.
      '  legacy:',
      `    url: ${fixture.url}`,
      '    protocol: 2025-11-25',
      '    policy: policy.json',
      'grants:',
      `  - { name: agent, token: ${AGENT} }`,
      'admins:',
      `  - { name: alice, token: ${ADMIN} }`,
      '',
    ].join('\n'),
    files: { 'policy.json': JSON.stringify({ version: '1', default: 'allow' }) },
  });
});
after(async () => {
  await gateway?.stop();
  await fixture?.stop();
});

const up = async (server: string) => metricValue((await scrape(gateway.url, ADMIN)).samples, 'airlock_upstream_up', { server });

test('an HTTP server that goes away shows as down, its calls are refused as not sent, and it is used again once back, as 2026 and as 2025', async () => {
  for (const server of ['modern', 'legacy']) await goneAndBack(server);
});

async function goneAndBack(server: string): Promise<void> {
  const client = await gateway.connect(`/mcp/${server}`, AGENT);
  assert.equal(firstText(await client.callTool({ name: 'echo', arguments: { text: 'before' } })), 'before');
  assert.equal(await up(server), 1);

  await fixture.stop();
  const { text } = assertRefusal(await client.callTool({ name: 'echo', arguments: { text: 'while down' } }), 'UNAVAILABLE', {
    decision: 'unavailable',
  });
  assert.match(text, /cannot be reached \(ECONNREFUSED\)|not connected/);
  assert.doesNotMatch(text, /may have run/, `a call that never left Airlock is not said to have maybe run: ${text}`);
  await until(`airlock_upstream_up to show ${server} down`, async () => (await up(server)) === 0);
  // The log line is written before the gauge flips, but read from the process's stdout, which may come after the scrape.
  await until(`the log to say ${server} disconnected`, () =>
    gateway.logs.some((l) => l.msg === 'upstream disconnected; reconnecting' && l.upstream === server),
  );

  fixture = await startV2HttpFixture({ FIXTURE_PORT: String(port) });
  await until(`airlock_upstream_up to show ${server} back`, async () => (await up(server)) === 1, 30_000);
  assert.equal(firstText(await client.callTool({ name: 'echo', arguments: { text: 'after' } })), 'after');
  await client.close();
}
