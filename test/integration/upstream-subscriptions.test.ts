import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { EmptyResultSchema } from '@modelcontextprotocol/core';
import { pino } from 'pino';
import { Upstream, type SessionDeps } from '../../src/proxy/index.js';
import { ResourceSubscriber } from '../../src/proxy/resource-subscriber.js';
import { TSX_LOADER, V2_FIXTURE_SERVER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';
import { fixtureRequestsFor } from '../support/v2-fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'airlock-upstream-subscriptions-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const silent = pino({ level: 'silent' });

/** An Upstream to the v2 fixture spoken to as 2025-11-25 over stdio, which logs every request it receives to `log`. */
async function fixtureUpstream(log: string, backoffMs = 50): Promise<Upstream> {
  const upstream = new Upstream({
    name: 'up',
    server: {
      transport: 'stdio',
      command: process.execPath,
      args: ['--import', TSX_LOADER, V2_FIXTURE_SERVER],
      env: { FIXTURE_REQUEST_LOG: log },
      cwd: process.cwd(),
      call_timeout_ms: 10_000,
      policy: '',
      max_list_pages: 10,
      max_list_items: 1_000,
      protocol: '2025-11-25',
    },
    logger: silent,
    onNotification: () => undefined,
    backoff: { initialMs: backoffMs, maxMs: backoffMs },
  });
  after(() => upstream.close());
  await upstream.start();
  return upstream;
}

test('one subscriber asking twice at once is counted once, and can give back only its own: the server hears one unsubscribe, from the last', async () => {
  const log = join(dir, 'subscribers.jsonl');
  const upstream = await fixtureUpstream(log);
  // Only what a subscriber uses of a session's dependencies: the upstream and a logger.
  const deps = { upstream: () => upstream, logger: silent } as unknown as SessionDeps;
  const signal = new AbortController().signal;
  const [a, b] = [new ResourceSubscriber(deps, new Set()), new ResourceSubscriber(deps, new Set())];
  const uri = 'test://shared';
  await Promise.all([a.subscribe('up', { uri }, signal), a.subscribe('up', { uri }, signal), b.subscribe('up', { uri }, signal)]);
  await Promise.all([a.unsubscribe(uri), a.unsubscribe(uri), a.release()]);
  assert.equal(fixtureRequestsFor(log, 'resources/unsubscribe', uri), 0, 'b still subscribes');
  await Promise.all([b.release(), b.unsubscribe(uri)]);
  assert.equal(fixtureRequestsFor(log, 'resources/unsubscribe', uri), 1);
});

test('a subscriber that leaves while the server is down is counted out: after the restart only the URIs still wanted are subscribed again', async () => {
  const log = join(dir, 'requests.jsonl');
  // Long enough between reconnects for the unsubscribe to land while the server is down.
  const upstream = await fixtureUpstream(log, 1_000);
  const subscribe = (uri: string) => upstream.request({ method: 'resources/subscribe', params: { uri } }, EmptyResultSchema);
  await subscribe('test://kept');
  await subscribe('test://left');
  const answer = await upstream.callTool({ name: 'pid', arguments: {} }, {});
  process.kill(Number((answer.content[0] as { text: string }).text), 'SIGKILL');
  await until('the upstream to see the server gone', () => upstream.status !== 'connected');
  assert.deepEqual(await upstream.request({ method: 'resources/unsubscribe', params: { uri: 'test://left' } }, EmptyResultSchema), {});
  await until('the upstream to reconnect', () => upstream.status === 'connected');
  assert.equal(fixtureRequestsFor(log, 'resources/subscribe', 'test://kept'), 2, 'subscribed again after the restart');
  assert.equal(fixtureRequestsFor(log, 'resources/subscribe', 'test://left'), 1, 'not subscribed again: no one wants it');
});
