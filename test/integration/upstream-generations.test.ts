import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { EmptyResultSchema, ResultSchema } from '@modelcontextprotocol/core';
import type { Notification } from '@modelcontextprotocol/client';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { LoadedServer, UpstreamProtocol } from '../../src/config/index.js';
import { Upstream } from '../../src/proxy/index.js';
import { connectionDigest, MemoryEraStore, RedisEraStore, type EraStore } from '../../src/proxy/upstream-era.js';
import { FIXTURE_SERVER, TSX_LOADER, V2_FIXTURE_SERVER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';
import { startRedis } from '../support/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'airlock-generations-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let logs = 0;
const silent = pino({ level: 'silent' });
const opened: Upstream[] = [];
const children: ChildProcess[] = [];
// Registered here, at the top: an after() inside a test runs when that test ends.
after(async () => {
  await Promise.all(opened.map((u) => u.close()));
  for (const child of children) child.kill();
});

/** A stdio server whose starts are counted in a file of its own. */
function stdio(
  entry: string,
  protocol: UpstreamProtocol,
  env: Record<string, string> = {},
): { server: LoadedServer; spawns: () => number } {
  const log = join(dir, `spawns-${++logs}.log`);
  return {
    server: {
      transport: 'stdio',
      command: process.execPath,
      args: ['--import', TSX_LOADER, entry],
      env: { FIXTURE_SPAWN_LOG: log, ...env },
      cwd: process.cwd(),
      call_timeout_ms: 10_000,
      policy: '',
      max_list_pages: 10,
      max_list_items: 1_000,
      protocol,
    },
    spawns: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').length : 0),
  };
}

function http(url: string, protocol: UpstreamProtocol): LoadedServer {
  return { transport: 'http', url, headers: {}, call_timeout_ms: 10_000, policy: '', max_list_pages: 10, max_list_items: 1_000, protocol };
}

async function connected(server: LoadedServer, eras?: EraStore, notes: Notification[] = []): Promise<Upstream> {
  const upstream = new Upstream({
    name: 'up',
    server,
    logger: silent,
    onNotification: (n) => void notes.push(n),
    backoff: { initialMs: 50, maxMs: 500 },
    ...(eras && { eras }),
  });
  opened.push(upstream);
  await upstream.start();
  return upstream;
}

async function startHttpFixture(env: Record<string, string> = {}): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, V2_FIXTURE_SERVER], {
    env: { ...process.env, FIXTURE_TRANSPORT: 'http', ...env },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  children.push(child);
  const port = await new Promise<number>((resolve) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const found = /listening (\d+)/.exec(out);
      if (found) resolve(Number(found[1]));
    });
  });
  return { url: `http://127.0.0.1:${port}/mcp`, child };
}

const text = (result: { content: unknown[] }) => (result.content[0] as { text: string }).text;

describe('negotiation per protocol value, stdio', () => {
  const cases: { name: string; entry: string; protocol: UpstreamProtocol; speaks?: string; spawns: number }[] = [
    {
      name: 'a dual server with auto speaks 2026-07-28, asked in a sibling process',
      entry: V2_FIXTURE_SERVER,
      protocol: 'auto',
      speaks: '2026-07-28',
      spawns: 2,
    },
    {
      name: 'a dual server pinned to 2026-07-28 speaks it',
      entry: V2_FIXTURE_SERVER,
      protocol: '2026-07-28',
      speaks: '2026-07-28',
      spawns: 2,
    },
    {
      name: 'a dual server pinned to 2025-11-25 speaks it, started once',
      entry: V2_FIXTURE_SERVER,
      protocol: '2025-11-25',
      speaks: '2025-11-25',
      spawns: 1,
    },
    { name: 'a 2025 server with auto falls back to 2025-11-25', entry: FIXTURE_SERVER, protocol: 'auto', speaks: '2025-11-25', spawns: 2 },
    { name: 'a 2025 server pinned to 2026-07-28 does not connect', entry: FIXTURE_SERVER, protocol: '2026-07-28', spawns: 1 },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const { server, spawns } = stdio(c.entry, c.protocol);
      const upstream = await connected(server);
      if (c.speaks === undefined) {
        assert.equal(upstream.status, 'disconnected');
        assert.match(upstream.lastError ?? '', /2026-07-28|negotiat/i);
      } else {
        assert.equal(upstream.status, 'connected', upstream.lastError);
        assert.equal(upstream.protocol, c.speaks);
        assert.equal(text(await upstream.callTool({ name: 'echo', arguments: { text: 'hi' } }, {})), 'hi');
      }
      await upstream.close();
      assert.ok(spawns() <= c.spawns, `started ${spawns()} times, expected at most ${c.spawns}`);
      if (c.speaks !== undefined) assert.equal(spawns(), c.spawns);
    });
  }
});

describe('the verdict is asked once and reused', () => {
  test('a second connect with the same store starts the server once, not twice (2026 and 2025 servers)', async () => {
    for (const entry of [V2_FIXTURE_SERVER, FIXTURE_SERVER]) {
      const { server, spawns } = stdio(entry, 'auto');
      const eras = new MemoryEraStore();
      await (await connected(server, eras)).close();
      assert.equal(spawns(), 2);
      const again = await connected(server, eras);
      assert.equal(again.status, 'connected');
      assert.equal(again.protocol, entry === V2_FIXTURE_SERVER ? '2026-07-28' : '2025-11-25');
      await again.close();
      assert.equal(spawns(), 3, 'the second connect used the remembered verdict');
    }
  });

  test('in Redis the verdict is shared by another process (Upstream) and holds no secret in clear', async () => {
    const redisServer = await startRedis();
    after(() => redisServer.stop());
    const redis = new Redis(redisServer.url);
    after(() => redis.disconnect());
    const { server, spawns } = stdio(V2_FIXTURE_SERVER, 'auto', { API_TOKEN: 'sekrit-token-value' });
    const store = () => new RedisEraStore(redis, { prefix: '{airlock}:', timeoutMs: 2_000 });
    await (await connected(server, store())).close();
    const stored = await redis.get('{airlock}:upstream-era:up');
    assert.ok(stored);
    assert.doesNotMatch(stored, /sekrit/);
    assert.equal((JSON.parse(stored) as { digest: string }).digest, connectionDigest(server));
    await (await connected(server, store())).close();
    assert.equal(spawns(), 3);
    // Another configuration (a changed variable) is another server: asked again.
    const changed = { ...server, env: { ...(server as { env: Record<string, string> }).env, API_TOKEN: 'other' } } as LoadedServer;
    await (await connected(changed, store())).close();
    assert.equal(spawns(), 5);
  });

  test('a remembered 2026 verdict that no longer holds (the server is now 2025-only) is dropped and the server asked again', async () => {
    const modern = stdio(V2_FIXTURE_SERVER, 'auto');
    const eras = new MemoryEraStore();
    await (await connected(modern.server, eras)).close();
    const legacy = stdio(FIXTURE_SERVER, 'auto');
    // The same configuration as far as the store knows: the verdict of the 2026 server, for the 2025 one.
    const verdict = await eras.read('up', connectionDigest(modern.server));
    assert.equal(verdict?.kind, 'modern');
    await eras.write('up', connectionDigest(legacy.server), verdict!);
    const upstream = await connected(legacy.server, eras);
    await until('the upstream to connect after asking again', () => upstream.status === 'connected');
    assert.equal(upstream.protocol, '2025-11-25');
    assert.equal((await eras.read('up', connectionDigest(legacy.server)))?.kind, 'legacy');
  });

  test('a server that dies is restarted and asked again (a crash may be an upgrade), and answers', async () => {
    const { server, spawns } = stdio(V2_FIXTURE_SERVER, 'auto');
    const upstream = await connected(server, new MemoryEraStore());
    const pid = Number(text(await upstream.callTool({ name: 'pid', arguments: {} }, {})));
    assert.equal(spawns(), 2);
    process.kill(pid, 'SIGKILL');
    await until('the upstream to reconnect', async () => {
      if (upstream.status !== 'connected') return false;
      const answer = await upstream.callTool({ name: 'pid', arguments: {} }, {}).catch(() => undefined);
      return answer !== undefined && Number(text(answer)) !== pid;
    });
    assert.equal(upstream.protocol, '2026-07-28');
    assert.equal(spawns(), 4, 'asked again in a sibling after the crash');
  });
});

for (const transport of ['stdio', 'http'] as const) {
  describe(`a 2026 upstream over ${transport}`, () => {
    const notes: Notification[] = [];
    let upstream: Upstream;
    const open = async () => {
      if (upstream) return upstream;
      const server = transport === 'stdio' ? stdio(V2_FIXTURE_SERVER, '2026-07-28').server : http((await startHttpFixture()).url, 'auto');
      upstream = await connected(server, undefined, notes);
      assert.equal(upstream.protocol, '2026-07-28');
      return upstream;
    };

    test('its results reach callers without its cache hints, resultType or identity; other _meta stays', async () => {
      const up = await open();
      const called = (await up.callTool({ name: 'cached', arguments: {} }, {})) as Record<string, unknown>;
      for (const key of ['ttlMs', 'cacheScope', 'resultType']) assert.equal(key in called, false, key);
      assert.deepEqual(called._meta, { 'example.com/kept': true });
      for (const method of ['tools/list', 'resources/list']) {
        const listed = (await up.request({ method }, ResultSchema)) as Record<string, unknown>;
        for (const key of ['ttlMs', 'cacheScope', 'resultType']) assert.equal(key in listed, false, `${method} ${key}`);
        assert.equal(JSON.stringify(listed).includes('io.modelcontextprotocol/serverInfo'), false);
      }
      const read = (await up.request({ method: 'resources/read', params: { uri: 'test://watched' } }, ResultSchema)) as Record<
        string,
        unknown
      >;
      assert.equal('ttlMs' in read || 'cacheScope' in read, false);
    });

    test('a tool with an invalid x-mcp-header declaration is left out', async () => {
      const up = await open();
      assert.equal(up.tool('bad_header'), undefined);
      assert.ok(up.tool('region_echo'));
    });

    if (transport === 'http')
      test('tools/call carries the Mcp-Param-* headers its declarations require (the server rejects a call without them)', async () => {
        const up = await open();
        const seen = JSON.parse(text(await up.callTool({ name: 'region_echo', arguments: { region: 'eu-1', count: 3 } }, {}))) as unknown;
        assert.deepEqual(seen, { region: 'eu-1', count: '3' });
        const encoded = JSON.parse(text(await up.callTool({ name: 'region_echo', arguments: { region: ' zürich' } }, {}))) as unknown;
        assert.deepEqual(encoded, { region: `=?base64?${Buffer.from(' zürich').toString('base64')}?=`, count: null });
      });

    test('its list changes and resource updates reach onNotification as 2025 notifications', async () => {
      const up = await open();
      await up.request({ method: 'resources/subscribe', params: { uri: 'test://watched' } }, EmptyResultSchema);
      await up.callTool({ name: 'touch', arguments: { uri: 'test://watched' } }, {});
      await until('the resource update', () => notes.some((n) => n.method === 'notifications/resources/updated'));
      assert.deepEqual(
        notes.find((n) => n.method === 'notifications/resources/updated'),
        { method: 'notifications/resources/updated', params: { uri: 'test://watched' } },
      );
      const added = text(await up.callTool({ name: 'add_tool', arguments: {} }, {}));
      await until(
        'the tool list change',
        () => notes.some((n) => n.method === 'notifications/tools/list_changed') && up.tool(added) !== undefined,
      );
      assert.deepEqual(
        notes.find((n) => n.method === 'notifications/tools/list_changed'),
        { method: 'notifications/tools/list_changed', params: {} },
      );
      // The last unsubscribe ends the subscription: a later update is not delivered.
      await up.request({ method: 'resources/unsubscribe', params: { uri: 'test://watched' } }, EmptyResultSchema);
      const before = notes.filter((n) => n.method === 'notifications/resources/updated').length;
      await up.callTool({ name: 'touch', arguments: { uri: 'test://watched' } }, {});
      await up.callTool({ name: 'echo', arguments: { text: 'after' } }, {});
      assert.equal(notes.filter((n) => n.method === 'notifications/resources/updated').length, before);
    });
  });
}

describe('negotiation per protocol value, HTTP', () => {
  test('auto and a pin speak 2026-07-28 to a dual server; 2025-11-25 speaks 2025', async () => {
    const { url } = await startHttpFixture();
    for (const [protocol, speaks] of [
      ['auto', '2026-07-28'],
      ['2026-07-28', '2026-07-28'],
      ['2025-11-25', '2025-11-25'],
    ] as const) {
      const up = await connected(http(url, protocol));
      assert.equal(up.protocol, speaks, protocol);
      assert.equal(text(await up.callTool({ name: 'echo', arguments: { text: protocol } }, {})), protocol);
      await up.close();
    }
  });

  test('a 2026-only server refuses 2025-11-25 and serves auto', async () => {
    const { url } = await startHttpFixture({ FIXTURE_LEGACY: 'reject' });
    const legacy = await connected(http(url, '2025-11-25'));
    assert.equal(legacy.status, 'disconnected');
    await legacy.close();
    const auto = await connected(http(url, 'auto'));
    assert.equal(auto.protocol, '2026-07-28');
  });

  test('after the HTTP server restarts, list changes are heard again (the listen stream is opened anew)', async () => {
    const first = await startHttpFixture();
    const port = new URL(first.url).port;
    const notes: Notification[] = [];
    const up = await connected(http(first.url, 'auto'), undefined, notes);
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    await startHttpFixture({ FIXTURE_PORT: port });
    await until('a list change after the restart', async () => {
      await up.callTool({ name: 'add_tool', arguments: {} }, {}).catch(() => undefined);
      return notes.some((n) => n.method === 'notifications/tools/list_changed');
    });
  });
});
