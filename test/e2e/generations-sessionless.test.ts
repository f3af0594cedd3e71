import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { api, pendingFor } from '../support/approvals-api.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { approvalOf } from '../support/held-call.js';
import { until } from '../support/poll.js';
import { RECORDING_ENTRY, RECORDING_SOURCE, recordingServer, upstreamCalls } from '../support/recording-upstream.js';
import { assertRefusal } from '../support/refusal.js';

/**
 * What a 2026 client, which has no session, gets where a 2025 client's
 * session used to matter: a held call withdrawn when it drops the request,
 * a held call without a progress token still answered, `scope: session`
 * limits counted for its grant, listen streams that count against the
 * grant's session limit, carry the upstream's list changes, and refuse the
 * resources the policy hides.
 */

const A = 'agent-a-token-0123456789';
const B = 'agent-b-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';
const MODERN = '2026-07-28';
const POLICY = {
  version: '1',
  default: 'deny',
  tools: {
    echo: { limits: [{ counter: 'echo', window: 'hour', max: 2, scope: 'session' }] },
    sleep: { action: 'require_approval', reason: 'Sleeping needs a person', approval: { approvers: ['alice'] } },
    rug_pull: {},
    write_file: {},
  },
  resources: { default: 'allow', hide: ['secret://*'] },
};

let gateway: RunningGateway;
let url: string;
before(async () => {
  gateway = await startGateway({
    config: [
      `servers:\n${recordingServer('fixture', 'policy.json')}    env: { FIXTURE_RUG_PULL: "1" }`,
      `grants:\n  - { name: a, token: ${A} }\n  - { name: b, token: ${B} }`,
      `admins:\n  - { name: alice, token: ${ALICE} }`,
      'approvals: { channel: console, timeout: 10m }',
      'listen: { host: 127.0.0.1, port: 0, max_sessions_per_grant: 2 }',
      '',
    ].join('\n'),
    files: { [RECORDING_ENTRY]: RECORDING_SOURCE, 'policy.json': JSON.stringify(POLICY) },
  });
  url = `${gateway.url}/mcp/fixture`;
});
after(() => gateway?.stop());

const ENVELOPE = {
  'io.modelcontextprotocol/protocolVersion': MODERN,
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'raw-2026', version: '1.0.0' },
};
let nextId = 1;

/** One 2026 request, headers and envelope as a v2 client sends them; resolves once the response headers are in. */
function modern(token: string, method: string, params: Record<string, unknown>, signal?: AbortSignal): Promise<Response> {
  const name = typeof params.name === 'string' ? params.name : undefined;
  return fetch(url, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${token}`,
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      'MCP-Protocol-Version': MODERN,
      'Mcp-Method': method,
      ...(name !== undefined && { 'Mcp-Name': name }),
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params: { ...params, _meta: ENVELOPE } }),
    ...(signal && { signal }),
  });
}

/** The JSON-RPC messages of a whole response, JSON or SSE. */
async function messages(response: Response): Promise<Record<string, unknown>[]> {
  const text = await response.text();
  if (text.startsWith('{')) return [JSON.parse(text) as Record<string, unknown>];
  return [...text.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]!) as Record<string, unknown>);
}

async function callResult(token: string, name: string, args: Record<string, unknown>): Promise<unknown> {
  const all = await messages(await modern(token, 'tools/call', { name, arguments: args }));
  return all.find((m) => 'result' in m || 'error' in m)?.result;
}

/** The messages of an SSE response as they come: `next` waits for one for which `found` holds. */
function streamOf(response: Response) {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const seen: Record<string, unknown>[] = [];
  return {
    async next(found: (message: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
      for (;;) {
        const at = seen.findIndex(found);
        if (at >= 0) return seen.splice(0, at + 1).pop()!;
        const { value, done } = await reader.read();
        assert.equal(done, false, `the stream ended before the message came: ${JSON.stringify(seen)}`);
        buffer += decoder.decode(value, { stream: true });
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) if (line.startsWith('data: ')) seen.push(JSON.parse(line.slice(6)) as Record<string, unknown>);
      }
    },
  };
}

const acknowledged = (m: Record<string, unknown>) => m.method === 'notifications/subscriptions/acknowledged';

test('a held call of a 2026 client gets its response headers at once (an SSE stream), and without a progress token is still answered once approved', async () => {
  const response = await modern(A, 'tools/call', { name: 'sleep', arguments: { ms: 11 } });
  // fetch resolved: the headers came while the call is still held, so no client headers timeout can cut it.
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
  const held = await pendingFor(gateway.url, ALICE, 'sleep');
  assert.equal(held.grant, 'a');
  assert.equal((await api(gateway.url, `/api/approvals/${held.id}/approve`, ALICE, { method: 'POST' })).status, 200);
  const answer = (await messages(response)).find((m) => 'result' in m);
  assert.deepEqual((answer?.result as { content?: unknown }).content, [{ type: 'text', text: 'slept 11 ms' }]);
});

test('a 2026 client dropping the request of a held call withdraws the request, and the call never reaches the server', async () => {
  const drop = new AbortController();
  const response = await modern(A, 'tools/call', { name: 'sleep', arguments: { ms: 12 } }, drop.signal);
  assert.equal(response.status, 200);
  const held = await pendingFor(gateway.url, ALICE, 'sleep');
  drop.abort();
  await until(`${held.id} to be withdrawn`, async () => (await approvalOf(gateway, ALICE, held.id)).state !== 'pending');
  const approval = await approvalOf(gateway, ALICE, held.id);
  assert.equal(approval.state, 'withdrawn', JSON.stringify(approval));
  assert.match(String(approval.decision_reason), /agent cancelled the call|closed/);
  assert.equal((await api(gateway.url, `/api/approvals/${held.id}/approve`, ALICE, { method: 'POST' })).status, 409);
  assert.deepEqual(
    upstreamCalls(gateway, 'fixture', 'sleep').filter((a) => a.ms === 12),
    [],
  );
});

test('scope: session counts a 2026 client for its grant: requests on their own share one counter, another grant and a 2025 session have their own', async () => {
  const text = (result: unknown) => (result as { content?: { text?: string }[] }).content?.[0]?.text;
  assert.equal(text(await callResult(A, 'echo', { text: 'a1' })), 'a1');
  assert.equal(text(await callResult(A, 'echo', { text: 'a2' })), 'a2');
  assertRefusal(await callResult(A, 'echo', { text: 'a3' }), 'RATE LIMITED', { tool: 'echo' });
  assert.equal(text(await callResult(B, 'echo', { text: 'b1' })), 'b1');
  const session = await gateway.connect('/mcp/fixture', A);
  assert.equal(text(await session.callTool({ name: 'echo', arguments: { text: 'a-session' } })), 'a-session');
  // Ended with DELETE, so its slot is free for the listen streams below.
  await (session.transport as StreamableHTTPClientTransport).terminateSession();
  await session.close();
});

test('a listen stream asking for a resource the policy hides is refused as for one that does not exist; an allowed one opens', async () => {
  const refused = await messages(await modern(A, 'subscriptions/listen', { notifications: { resourceSubscriptions: ['secret://plans'] } }));
  const error = refused[0]?.error as { code?: number; message?: string } | undefined;
  assert.equal(error?.code, -32602, JSON.stringify(refused));
  assert.match(error?.message ?? '', /Resource secret:\/\/plans not found/);

  const drop = new AbortController();
  const open = await modern(A, 'subscriptions/listen', { notifications: { resourceSubscriptions: ['file:///public'] } }, drop.signal);
  assert.equal(open.status, 200);
  await streamOf(open).next(acknowledged);
  drop.abort();
});

test("an upstream's tool list change reaches a 2026 client's listen stream", async () => {
  const drop = new AbortController();
  const listen = await modern(B, 'subscriptions/listen', { notifications: { toolsListChanged: true } }, drop.signal);
  assert.equal(listen.status, 200);
  const stream = streamOf(listen);
  await stream.next(acknowledged);
  await callResult(B, 'rug_pull', {});
  await stream.next((m) => m.method === 'notifications/tools/list_changed');
  drop.abort();
});

test('open listen streams count against listen.max_sessions_per_grant: past it 429, and a closed one gives its slot back', async () => {
  const drops: AbortController[] = [];
  // The streams of the tests before give their slots back once the gateway sees their connections close.
  while (drops.length < 2) {
    const drop = new AbortController();
    const open = await modern(A, 'subscriptions/listen', { notifications: { toolsListChanged: true } }, drop.signal);
    if (open.status === 429) continue;
    assert.equal(open.status, 200);
    await streamOf(open).next(acknowledged);
    drops.push(drop);
  }
  const third = await modern(A, 'subscriptions/listen', { notifications: { toolsListChanged: true } });
  assert.equal(third.status, 429);
  assert.match(((await third.json()) as { error: { message: string } }).error.message, /listen\.max_sessions_per_grant/);
  // Another grant has slots of its own.
  const other = new AbortController();
  assert.equal((await modern(B, 'subscriptions/listen', { notifications: { toolsListChanged: true } }, other.signal)).status, 200);
  other.abort();
  drops[0]!.abort();
  await until('a slot to come back', async () => {
    const again = new AbortController();
    const status = (await modern(A, 'subscriptions/listen', { notifications: { toolsListChanged: true } }, again.signal)).status;
    again.abort();
    return status === 200;
  });
  drops[1]!.abort();
});

test("server/discover answers for the grant's endpoint, and lists and discover are cached privately for at most the policy poll", async () => {
  const [discover] = await messages(await modern(A, 'server/discover', {}));
  const result = discover?.result as Record<string, unknown> & { _meta?: Record<string, { name?: string }> };
  assert.deepEqual(result.supportedVersions, [MODERN]);
  assert.ok((result.capabilities as Record<string, unknown>).tools, JSON.stringify(result));
  assert.equal(result._meta?.['io.modelcontextprotocol/serverInfo']?.name, 'airlock/fixture');
  assert.deepEqual([result.cacheScope, result.ttlMs], ['private', 250]);
  const [list] = await messages(await modern(A, 'tools/list', {}));
  const tools = list?.result as { tools: { name: string }[]; cacheScope?: string; ttlMs?: number };
  assert.deepEqual([tools.cacheScope, tools.ttlMs], ['private', 250]);
  assert.ok(tools.tools.some((t) => t.name === 'echo'));
});
