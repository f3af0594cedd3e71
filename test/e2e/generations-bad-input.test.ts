import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { api } from '../support/approvals-api.js';
import { until } from '../support/poll.js';
import { httpRequest } from '../support/raw-http.js';
import type { RunningGateway } from '../support/gateway.js';
import { startRecordingGateway, upstreamCalls } from '../support/recording-upstream.js';
import { assertRefusal } from '../support/refusal.js';

/**
 * A 2026 request with missing or contradictory headers or `_meta`, an
 * unknown protocol version, a 2025 request without the session it needs:
 * each is answered with the specification's code and a message naming what
 * is wrong, and changes nothing (no call reaches the server, no limit is
 * charged, nothing is audited).
 */

const AGENT = 'agent-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';
const MODERN = '2026-07-28';
const POLICY = {
  version: '1',
  default: 'deny',
  // One call an hour: a bad request that charged it would leave the good call at the end rate limited.
  tools: { echo: { limits: [{ counter: 'echo', window: 'hour', max: 1 }] }, route_query: {} },
};

let gateway: RunningGateway;
let url: string;
before(async () => {
  gateway = await startRecordingGateway({ policy: POLICY, agent: AGENT, admins: { alice: ALICE }, paramHeaders: true });
  url = `${gateway.url}/mcp/fixture`;
});
after(() => gateway?.stop());

const ENVELOPE = { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} };

/** A well-formed 2026 tools/call and its headers, for each case to break one thing of. */
function call(name: string, args: Record<string, unknown>, id: number) {
  return {
    headers: { 'MCP-Protocol-Version': MODERN, 'Mcp-Method': 'tools/call', 'Mcp-Name': name } as Record<string, string | undefined>,
    body: { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, _meta: { ...ENVELOPE } } } as Record<
      string,
      unknown
    >,
  };
}

async function post(headers: Record<string, string | undefined>, body: unknown, contentType = 'application/json') {
  const sent = Object.fromEntries(Object.entries(headers).filter((e): e is [string, string] => e[1] !== undefined));
  const response = await fetch(url, {
    method: 'POST',
    headers: { Authorization: `Bearer ${AGENT}`, 'Content-Type': contentType, Accept: 'application/json, text/event-stream', ...sent },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  // An SSE answer carries the JSON-RPC message on its data line.
  const json = text.startsWith('{') ? text : (/^data: (.*)$/m.exec(text)?.[1] ?? 'null');
  return {
    status: response.status,
    message: JSON.parse(json) as { id?: unknown; error?: { code: number; message: string; data?: unknown } },
  };
}

interface Case {
  name: string;
  request: () => { headers: Record<string, string | undefined>; body: unknown; contentType?: string };
  status: number;
  code: number;
  message: RegExp;
  /** The id the answer must echo (a JSON-RPC error the route answers for a request it read). */
  id?: number;
}

const echo = (id: number, text = `bad-${id}`) => call('echo', { text }, id);

const CASES: Case[] = [
  {
    name: 'no MCP-Protocol-Version header',
    request: () => ({ ...echo(1), headers: { ...echo(1).headers, 'MCP-Protocol-Version': undefined } }),
    status: 400,
    code: -32020,
    message: /MCP-Protocol-Version header is absent/,
  },
  {
    name: 'no Mcp-Method header',
    request: () => ({ ...echo(2), headers: { ...echo(2).headers, 'Mcp-Method': undefined } }),
    status: 400,
    code: -32020,
    message: /Mcp-Method header is absent/,
  },
  {
    name: 'no Mcp-Name header on tools/call',
    request: () => ({ ...echo(3), headers: { ...echo(3).headers, 'Mcp-Name': undefined } }),
    status: 400,
    code: -32020,
    message: /Mcp-Name header is absent/,
  },
  {
    name: 'MCP-Protocol-Version header contradicts _meta',
    request: () => ({ ...echo(4), headers: { ...echo(4).headers, 'MCP-Protocol-Version': '2025-11-25' } }),
    status: 400,
    code: -32020,
    message: /MCP-Protocol-Version header names 2025-11-25/,
  },
  {
    name: 'Mcp-Method header contradicts the body',
    request: () => ({ ...echo(5), headers: { ...echo(5).headers, 'Mcp-Method': 'tools/list' } }),
    status: 400,
    code: -32020,
    message: /Mcp-Method header names tools\/list/,
  },
  {
    name: 'Mcp-Name header contradicts the body',
    request: () => ({ ...echo(6), headers: { ...echo(6).headers, 'Mcp-Name': 'route_query' } }),
    status: 400,
    code: -32020,
    message: /Mcp-Name/,
  },
  {
    name: 'an unknown protocol version',
    request: () => {
      const { body } = echo(7);
      const params = body.params as { _meta: Record<string, unknown> };
      params._meta['io.modelcontextprotocol/protocolVersion'] = '2099-01-01';
      return { headers: { ...echo(7).headers, 'MCP-Protocol-Version': '2099-01-01' }, body };
    },
    status: 400,
    code: -32022,
    message: /2099-01-01/,
  },
  {
    name: '_meta without clientCapabilities',
    request: () => {
      const { headers, body } = echo(8);
      (body.params as { _meta: Record<string, unknown> })._meta = { 'io.modelcontextprotocol/protocolVersion': MODERN };
      return { headers, body };
    },
    status: 400,
    code: -32602,
    message: /clientCapabilities/,
  },
  {
    name: 'route_query without its Mcp-Param-Region header',
    request: () => call('route_query', { region: 'eu-1', q: 'bad-9' }, 9),
    status: 400,
    code: -32020,
    message: /Mcp-Param-Region header is absent/,
    id: 9,
  },
  {
    name: 'route_query whose Mcp-Param-Region says another region',
    request: () => {
      const request = call('route_query', { region: 'eu-1', q: 'bad-10' }, 10);
      return { ...request, headers: { ...request.headers, 'Mcp-Param-Region': 'us-2' } };
    },
    status: 400,
    code: -32020,
    message: /Mcp-Param-Region header says "us-2" but the arguments carry region="eu-1"/,
    id: 10,
  },
  {
    name: 'route_query whose Mcp-Param-Region is not Base64 inside the sentinel',
    request: () => {
      const request = call('route_query', { region: 'eu-1', q: 'bad-11' }, 11);
      return { ...request, headers: { ...request.headers, 'Mcp-Param-Region': '=?base64?not base64!?=' } };
    },
    status: 400,
    code: -32020,
    message: /not valid Base64/,
    id: 11,
  },
  {
    name: 'a method no MCP server has',
    request: () => ({
      headers: { 'MCP-Protocol-Version': MODERN, 'Mcp-Method': 'bogus/method' },
      body: { jsonrpc: '2.0', id: 12, method: 'bogus/method', params: { _meta: ENVELOPE } },
    }),
    status: 404,
    code: -32601,
    message: /Method not found/,
  },
  {
    name: 'a 2026 body sent as text/plain',
    request: () => ({ ...echo(13), contentType: 'text/plain' }),
    status: 415,
    code: -32000,
    message: /./,
  },
  {
    name: 'a 2025 tools/call without the session it needs',
    request: () => ({
      headers: {},
      body: { jsonrpc: '2.0', id: 14, method: 'tools/call', params: { name: 'echo', arguments: { text: 'bad-14' } } },
    }),
    status: 400,
    code: -32000,
    message: /Mcp-Session-Id header is required/,
  },
  {
    name: 'a 2025 initialize naming a 2026 protocol',
    request: () => ({
      headers: { 'MCP-Protocol-Version': MODERN, 'Mcp-Method': 'initialize' },
      body: {
        jsonrpc: '2.0',
        id: 15,
        method: 'initialize',
        params: { protocolVersion: MODERN, capabilities: {}, clientInfo: { name: 'x', version: '1' }, _meta: ENVELOPE },
      },
    }),
    status: 404,
    code: -32601,
    message: /Method not found/,
  },
];

for (const c of CASES) {
  test(`bad input: ${c.name} is answered ${c.status} ${c.code} saying what is wrong`, async () => {
    const { headers, body, contentType } = c.request();
    const answer = await post(headers, body, contentType);
    assert.equal(answer.status, c.status, JSON.stringify(answer.message));
    assert.equal(answer.message.error?.code, c.code, JSON.stringify(answer.message));
    assert.match(answer.message.error?.message ?? '', c.message);
    if (c.id !== undefined) assert.equal(answer.message.id, c.id, 'the answer echoes the request id');
  });
}

test('the guard, the token and the path come first for a 2026 request: a foreign Host 403, no token 401, an unknown server 404', async () => {
  const { headers, body } = echo(40, 'bad-40');
  const json = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers } as Record<string, string>;
  const foreign = await httpRequest(url, {
    method: 'POST',
    headers: { ...json, Authorization: `Bearer ${AGENT}`, Host: 'evil.example:80' },
    body: JSON.stringify(body),
  });
  assert.equal(foreign.status, 403, foreign.text);
  const anonymous = await httpRequest(url, { method: 'POST', headers: json, body: JSON.stringify(body) });
  assert.equal(anonymous.status, 401, anonymous.text);
  const elsewhere = await httpRequest(`${gateway.url}/mcp/nothing-here`, {
    method: 'POST',
    headers: { ...json, Authorization: `Bearer ${AGENT}` },
    body: JSON.stringify(body),
  });
  assert.equal(elsewhere.status, 404, elsewhere.text);
  assert.match(elsewhere.text, /no server named \\"nothing-here\\"/);
});

test('a 2026 body nested 100,000 deep, in its arguments or its _meta, is answered without a 500', async () => {
  // Written as text: JSON.stringify itself cannot go that deep.
  const deep = '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000);
  const envelope = JSON.stringify(ENVELOPE).slice(1, -1);
  const bodies = {
    arguments: `{"jsonrpc":"2.0","id":41,"method":"tools/call","params":{"name":"echo","arguments":{"text":"bad-41","deep":${deep}},"_meta":{${envelope}}}}`,
    _meta: `{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"text":"bad-42"},"_meta":{${envelope},"deep":${deep}}}}`,
  };
  for (const [what, body] of Object.entries(bodies)) {
    const answer = await post(echo(41).headers, body);
    assert.equal(answer.status, 400, `${what}: ${JSON.stringify(answer.message).slice(0, 300)}`);
    assert.match(answer.message.error?.message ?? '', /nests deeper than 256 levels/);
  }
  // Deeper than the pipeline allows but within the route's bound: the pipeline refuses it, as for a 2025 session.
  const moderate = '{"a":'.repeat(100) + '1' + '}'.repeat(100);
  const body = `{"jsonrpc":"2.0","id":44,"method":"tools/call","params":{"name":"echo","arguments":{"text":"bad-44","deep":${moderate}},"_meta":{${envelope}}}}`;
  const refused = await post(echo(44).headers, body);
  assert.equal(refused.status, 200);
  assertRefusal((refused.message as { result?: unknown }).result, 'POLICY DENIED', { tool: 'echo' });
});

test('a 2026 request carrying a stale Mcp-Session-Id is served without a session, as the specification asks', async () => {
  const { headers, body } = call('route_query', { region: 'eu-1', q: 'stale' }, 20);
  const answer = await post({ ...headers, 'Mcp-Param-Region': 'eu-1', 'Mcp-Session-Id': 'no-such-session' }, body);
  assert.equal(answer.status, 200, JSON.stringify(answer.message));
  assert.deepEqual((answer.message as { result?: { content?: unknown } }).result?.content, [{ type: 'text', text: 'stale in eu-1' }]);
});

test('Mcp-Param-Region sent as Base64 in the sentinel is decoded and accepted', async () => {
  const { headers, body } = call('route_query', { region: 'eu-1', q: 'sentinel' }, 21);
  const answer = await post({ ...headers, 'Mcp-Param-Region': `=?base64?${Buffer.from('eu-1').toString('base64')}?=` }, body);
  assert.equal(answer.status, 200, JSON.stringify(answer.message));
});

test('after every bad request: none reached the server, none was charged to a limit, none was audited', async () => {
  const reached = upstreamCalls(gateway, 'fixture', 'echo').map((a) => a.text);
  assert.deepEqual(
    reached.filter((t) => String(t).startsWith('bad-')),
    [],
  );
  assert.deepEqual(
    upstreamCalls(gateway, 'fixture', 'route_query').map((a) => a.q),
    ['stale', 'sentinel'],
  );
  // The one call the limit admits an hour is still there.
  const good = await post(echo(30, 'good').headers, echo(30, 'good').body);
  assert.equal(good.status, 200, JSON.stringify(good.message));
  assert.deepEqual((good.message as { result?: { content?: unknown } }).result?.content, [{ type: 'text', text: 'good' }]);
  // The trail is written in batches: wait for the good call's last event, then look at all of them.
  let events: { event: string; protocol?: string; arguments?: { text?: string } }[] = [];
  await until('the good call to be audited', async () => {
    const { body } = await api(gateway.url, '/api/audit?tool=echo&limit=1000', ALICE);
    events = (body.events ?? []) as typeof events;
    return events.some((e) => e.event === 'executed');
  });
  // The one refusal the pipeline itself gave (arguments nested too deep) is audited as any denied call is.
  assert.deepEqual(
    events.map((e) => [e.event, e.protocol, e.arguments?.text]),
    [
      ['denied', MODERN, undefined], // too deep to be kept
      ['allowed', MODERN, 'good'],
      ['executed', MODERN, undefined],
    ],
  );
});
