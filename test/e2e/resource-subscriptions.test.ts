import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client as V2Client, StreamableHTTPClientTransport as V2Transport } from '@modelcontextprotocol/client';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { MAX_SUBSCRIPTIONS } from '../../src/proxy/resource-subscriber.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { TSX_LOADER, V2_FIXTURE_SERVER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';
import { metricValue, scrape } from '../support/prometheus.js';
import { MCP_HEADERS, INITIALIZE, post, send } from '../support/raw-mcp.js';
import { fixtureRequestsFor, listenDrops, openListenFilters, startV2HttpFixture, type RunningV2Fixture } from '../support/v2-fixture.js';

/**
 * Airlock holds one connection per upstream for every client, and the
 * upstream counts who subscribed to each resource: a subscriber that leaves
 * (by unsubscribing, or because its session or listen stream ended, however
 * it ended) is given back, and the server is told to stop exactly when the
 * last subscriber of a URI has left — never while another still listens.
 *
 * `legacy` is the v2 fixture spoken to as 2025-11-25 over stdio (it gets
 * real `resources/subscribe` and `resources/unsubscribe` requests); `modern`
 * is the same fixture as 2026-07-28 over HTTP (it is told through the
 * resources its `subscriptions/listen` stream asks about).
 */

const AGENT = 'agent-token-0123456789abcdef';
const LISTENER = 'listener-token-0123456789abcdef';
const ADMIN = 'alice-admin-token-0123456789';
const work = mkdtempSync(join(tmpdir(), 'airlock-subscriptions-'));
const legacyLog = join(work, 'legacy-requests.jsonl');
const modernLog = join(work, 'modern-requests.jsonl');
let modern: RunningV2Fixture;
let gateway: RunningGateway;

before(async () => {
  modern = await startV2HttpFixture({ FIXTURE_REQUEST_LOG: modernLog });
  gateway = await startGateway({
    config: [
      // Short, for the sweep test: the SDK clients hold their notification streams open, so only the silent one is idle.
      'listen: { host: 127.0.0.1, port: 0, session_idle_timeout: 2s }',
      'servers:',
      '  legacy:',
      `    command: ${process.execPath}`,
      `    args: [--import, ${TSX_LOADER}, ${V2_FIXTURE_SERVER}]`,
      `    env: { FIXTURE_REQUEST_LOG: ${legacyLog} }`,
      '    protocol: 2025-11-25',
      '    policy: policy.json',
      '  modern:',
      `    url: ${modern.url}`,
      '    protocol: 2026-07-28',
      '    policy: policy.json',
      'grants:',
      `  - { name: agent, token: ${AGENT} }`,
      `  - { name: listener, token: ${LISTENER} }`,
      'admins:',
      `  - { name: alice, token: ${ADMIN} }`,
      '',
    ].join('\n'),
    files: { 'policy.json': JSON.stringify({ version: '1', default: 'allow', resources: { default: 'allow' } }) },
  });
});
after(async () => {
  await gateway?.stop();
  await modern?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** A 2025 session on `/mcp/<server>` (the v1 SDK client) and the URIs of the updates it hears. */
async function session(server: string): Promise<{ client: Client; updates: string[]; id: string }> {
  const client = await gateway.connect(`/mcp/${server}`, AGENT);
  const updates: string[] = [];
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri));
  return { client, updates, id: (client.transport as StreamableHTTPClientTransport).sessionId! };
}

/** Asks the server, through `client`, to announce an update of `uri`, and waits until `to` has heard it. */
async function touchHeard(client: Client, uri: string, to: string[]): Promise<void> {
  const before = to.filter((u) => u === uri).length;
  await client.callTool({ name: 'touch', arguments: { uri } });
  await until(`the update of ${uri}`, () => to.filter((u) => u === uri).length > before);
}

const unsubscribes = (uri: string) => fixtureRequestsFor(legacyLog, 'resources/unsubscribe', uri);

const modernHolds = (uri: string) => openListenFilters(modernLog).some((uris) => uris.includes(uri));

/** Waits until the gateway has closed session `id` (its subscriptions are given back as it closes). */
const closed = (id: string) =>
  until(`session ${id} to close`, () => gateway.logs.some((l) => l.msg === 'session closed' && l.session === id));

describe('unsubscribing', () => {
  test('2025 server: one of two sessions unsubscribing (twice, and a third that never subscribed) is not passed on; the last is, once', async () => {
    const uri = 'test://watched/two-sessions';
    const a = await session('legacy');
    const b = await session('legacy');
    const c = await session('legacy');
    await a.client.subscribeResource({ uri });
    await b.client.subscribeResource({ uri });
    await a.client.unsubscribeResource({ uri });
    await a.client.unsubscribeResource({ uri });
    await c.client.unsubscribeResource({ uri });
    assert.equal(unsubscribes(uri), 0, 'the server still has a subscriber');
    await touchHeard(b.client, uri, b.updates);
    assert.equal(a.updates.includes(uri), false, 'a session that left hears no more updates');
    await b.client.unsubscribeResource({ uri });
    assert.equal(unsubscribes(uri), 1, 'the last subscriber leaving tells the server');
    await b.client.unsubscribeResource({ uri });
    assert.equal(unsubscribes(uri), 1, 'and only once');
  });

  test('2025 server: a session that subscribes twice is one subscriber: its one unsubscribe, the last, is passed on', async () => {
    const uri = 'test://watched/twice';
    const a = await session('legacy');
    await a.client.subscribeResource({ uri });
    await a.client.subscribeResource({ uri });
    await a.client.unsubscribeResource({ uri });
    assert.equal(unsubscribes(uri), 1);
  });

  test("2026 server: the listen stream's filter keeps the URI while another session subscribes, and drops it once when the last leaves", async () => {
    const uri = 'test://watched/modern';
    const a = await session('modern');
    const b = await session('modern');
    await a.client.subscribeResource({ uri });
    await b.client.subscribeResource({ uri });
    assert.ok(modernHolds(uri), 'the server was asked to tell of the URI');
    await a.client.unsubscribeResource({ uri });
    await a.client.unsubscribeResource({ uri });
    assert.ok(modernHolds(uri), 'still asked while a subscriber is left');
    // Told of it only through the listen stream's filter: heard, so the server still tells Airlock.
    await touchHeard(b.client, uri, b.updates);
    assert.equal(a.updates.includes(uri), false);
    assert.equal(listenDrops(modernLog, uri), 0);
    await b.client.unsubscribeResource({ uri });
    await until('the filter to drop the URI', () => !modernHolds(uri));
    assert.equal(listenDrops(modernLog, uri), 1);
  });
});

describe('a subscriber that ends gives its subscriptions back', () => {
  test('a session ended by DELETE: not passed on while another session subscribes; the last one ending is, once', async () => {
    const uri = 'test://watched/deleted';
    const a = await session('legacy');
    const b = await session('legacy');
    await a.client.subscribeResource({ uri });
    await b.client.subscribeResource({ uri });
    await (a.client.transport as StreamableHTTPClientTransport).terminateSession();
    await closed(a.id);
    // The server hears this call after anything a's end sent it: one pipe, in order.
    await touchHeard(b.client, uri, b.updates);
    assert.equal(unsubscribes(uri), 0);
    await (b.client.transport as StreamableHTTPClientTransport).terminateSession();
    await closed(b.id);
    await until('the unsubscribe', () => unsubscribes(uri) >= 1);
    assert.equal(unsubscribes(uri), 1);
  });

  test('a session closed by the idle sweep (its client went silent)', async () => {
    const uri = 'test://watched/idle';
    const url = `${gateway.url}/mcp/legacy`;
    const auth = { Authorization: `Bearer ${AGENT}` };
    const opened = await send(url, INITIALIZE, auth);
    const id = opened.headers.get('mcp-session-id')!;
    await opened.text();
    const headers = { ...auth, 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' };
    await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
    const subscribed = await post(url, { jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: { uri } }, headers);
    assert.deepEqual(subscribed.messages[0]?.result, {});
    await closed(id);
    await until('the unsubscribe', () => unsubscribes(uri) >= 1);
    assert.equal(unsubscribes(uri), 1);
    // The session is gone: its id is unknown.
    const late = await fetch(url, {
      method: 'POST',
      headers: { ...MCP_HEADERS, ...headers },
      body: '{"jsonrpc":"2.0","id":2,"method":"ping"}',
    });
    assert.equal(late.status, 404);
  });

  test("a 2026 client's listen stream that closes: not passed on while a 2025 session subscribes; passed on once when it was the last", async () => {
    const uri = 'test://watched/listen';
    const listener = new V2Client({ name: 'listener', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await listener.connect(
      new V2Transport(new URL('/mcp/legacy', gateway.url), { requestInit: { headers: { Authorization: `Bearer ${LISTENER}` } } }),
    );
    const heard: string[] = [];
    listener.setNotificationHandler('notifications/resources/updated', (n) => void heard.push(n.params.uri));
    const listenerStreams = async () =>
      metricValue((await scrape(gateway.url, ADMIN)).samples, 'airlock_sessions_open', { grant: 'listener' });
    try {
      const a = await session('legacy');
      await a.client.subscribeResource({ uri });
      const first = await listener.listen({ resourceSubscriptions: [uri] });
      await touchHeard(a.client, uri, heard);
      await first.close();
      // The stream's slot and its subscriptions are given back as its response closes.
      await until('the listen stream to close', async () => (await listenerStreams()) === 0);
      await touchHeard(a.client, uri, a.updates);
      assert.equal(unsubscribes(uri), 0, 'the 2025 session still subscribes');

      const second = await listener.listen({ resourceSubscriptions: [uri] });
      await a.client.unsubscribeResource({ uri });
      assert.equal(unsubscribes(uri), 0, 'the listen stream still subscribes');
      await second.close();
      await until('the unsubscribe', () => unsubscribes(uri) >= 1);
      assert.equal(unsubscribes(uri), 1);
    } finally {
      await listener.close();
    }
  });
});

describe('how many subscriptions one subscriber may hold', () => {
  const subscribes = (uri: string) => fixtureRequestsFor(legacyLog, 'resources/subscribe', uri);

  test(`a 2025 session holds at most ${MAX_SUBSCRIPTIONS}: one more is refused -32602 and never reaches the server; one given back makes room`, async () => {
    const a = await session('legacy');
    const uris = Array.from({ length: MAX_SUBSCRIPTIONS }, (_, i) => `test://many/${i}`);
    for (const uri of uris) await a.client.subscribeResource({ uri });
    const extra = 'test://many/one-too-many';
    await assert.rejects(a.client.subscribeResource({ uri: extra }), (err: Error & { code?: number }) => {
      assert.equal(err.code, -32602);
      assert.match(err.message, /already holds 1000 resource subscriptions, the most Airlock keeps for one; unsubscribe from one first/);
      return true;
    });
    assert.equal(subscribes(extra), 0, 'the server was asked');
    // Subscribing again to one it holds is no new subscription.
    await a.client.subscribeResource({ uri: uris[0]! });
    await a.client.unsubscribeResource({ uri: uris[0]! });
    await a.client.subscribeResource({ uri: extra });
    assert.equal(subscribes(extra), 1);
    await (a.client.transport as StreamableHTTPClientTransport).terminateSession();
    await closed(a.id);
  });

  test(`a 2026 listen stream asking for more than ${MAX_SUBSCRIPTIONS} resources is refused -32602 before anything is subscribed`, async () => {
    const listener = new V2Client({ name: 'listener', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await listener.connect(
      new V2Transport(new URL('/mcp/legacy', gateway.url), { requestInit: { headers: { Authorization: `Bearer ${LISTENER}` } } }),
    );
    try {
      const uris = Array.from({ length: MAX_SUBSCRIPTIONS + 1 }, (_, i) => `test://listen-many/${i}`);
      await assert.rejects(listener.listen({ resourceSubscriptions: uris }), (err: Error & { code?: number }) => {
        assert.equal(err.code, -32602);
        assert.match(err.message, /may subscribe to at most 1000 resources; this one asks for 1001/);
        return true;
      });
      assert.equal(subscribes(uris[0]!), 0);
      assert.equal(subscribes(uris[MAX_SUBSCRIPTIONS]!), 0);
    } finally {
      await listener.close();
    }
  });
});
