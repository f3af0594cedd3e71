import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { RESUME_RETRY_MS } from '../../src/http/session-events.js';
import { MIN_RESUME_DELAY_MS } from '../../src/proxy/stream-resumptions.js';
import { stepsOf, streamEvents, waitForEvents, type AuditRecord } from '../support/audit-stream.js';
import { startFixture, SUITES, type RunningFixture } from '../support/conformance.js';
import { TSX_LOADER } from '../support/mcp-servers.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { MCP_HEADERS, toolCall } from '../support/raw-mcp.js';
import { startStreamClosingServer, type StreamClosingServer } from '../support/stream-closing-server.js';

/** The version whose clients get priming events (the SDK sends none to older ones). */
const PROTOCOL = '2025-11-25';

interface SseEvent {
  id?: string;
  retry?: number;
  data: string;
}

/** Every event of an SSE body, read to its end (keep-alive comments left out). */
async function sseEvents(response: Response): Promise<SseEvent[]> {
  const text = await response.text();
  const events: SseEvent[] = [];
  for (const block of text.split(/\n\n/)) {
    const lines = block.split('\n').filter((line) => line !== '' && !line.startsWith(':'));
    if (lines.length === 0) continue;
    const event: SseEvent = { data: '' };
    for (const line of lines) {
      const [field, ...rest] = line.split(':');
      const value = rest.join(':').replace(/^ /, '');
      if (field === 'id') event.id = value;
      else if (field === 'retry') event.retry = Number(value);
      else if (field === 'data') event.data += value;
    }
    events.push(event);
  }
  return events;
}

const answersTo = (events: SseEvent[], id: number) =>
  events.filter((e) => e.data !== '' && (JSON.parse(e.data) as { id?: unknown; result?: unknown }).id === id);

/** A 2025-11-25 session opened by hand on `url`, with what each of its requests needs. */
async function session(
  url: string,
): Promise<{ headers: Record<string, string>; post(body: unknown): Promise<Response>; resume(id: string): Promise<Response> }> {
  const init = await fetch(url, {
    method: 'POST',
    headers: MCP_HEADERS,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    }),
  });
  await init.text();
  const sessionId = init.headers.get('mcp-session-id');
  assert.ok(sessionId, `initialize answered ${init.status}`);
  const headers = { 'mcp-session-id': sessionId, 'mcp-protocol-version': PROTOCOL };
  const initialized = await fetch(url, {
    method: 'POST',
    headers: { ...MCP_HEADERS, ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  await initialized.text();
  return {
    headers,
    post: (body) => fetch(url, { method: 'POST', headers: { ...MCP_HEADERS, ...headers }, body: JSON.stringify(body) }),
    resume: (id) => fetch(url, { method: 'GET', headers: { Accept: 'text/event-stream', ...headers, 'last-event-id': id } }),
  };
}

/** The audit events of the calls of `tool`, by request id. */
function callsOf(events: AuditRecord[], tool: string): Map<string, string[]> {
  const ids = new Set(events.filter((e) => e.tool === tool && e.request_id !== undefined).map((e) => e.request_id!));
  return new Map([...ids].map((id) => [id, stepsOf(events, id)]));
}

/** The request ids of `tool`'s calls audited so far. */
async function auditedCalls(gateway: RunningGateway, tool: string): Promise<Set<string>> {
  return new Set(callsOf(await streamEvents(gateway.redis.url), tool).keys());
}

/** The steps of the calls of `tool` audited since `known`, once each of them has ended (two steps: allowed, then how it ended). */
async function newCalls(gateway: RunningGateway, tool: string, known: Set<string>): Promise<string[][]> {
  const fresh = (events: AuditRecord[]) => [...callsOf(events, tool)].filter(([id]) => !known.has(id)).map(([, steps]) => steps);
  const events = await waitForEvents(gateway.redis.url, `a new ${tool} call ended`, (all) => {
    const calls = fresh(all);
    return calls.length > 0 && calls.every((steps) => steps.length >= 2);
  });
  return fresh(events);
}

describe('a call whose 2025 upstream closes its stream before the result (SEP-1699)', () => {
  let fixture: RunningFixture;
  let gateway: RunningGateway;
  let url: string;
  before(async () => {
    // The v1 fixture speaks 2025-11-25 only; its test_reconnection closes the call's stream, then answers 100 ms later.
    fixture = await startFixture(SUITES['0.1.16'].fixture);
    gateway = await startGateway({
      config: ['servers:', '  fx:', `    url: ${fixture.url}`, '    policy: fx.json', ''].join('\n'),
      files: { 'fx.json': JSON.stringify({ version: '1', default: 'allow' }) },
    });
    url = `${gateway.url}/mcp/fx`;
  });
  after(async () => {
    await gateway?.stop();
    await fixture?.stop();
  });

  test("the agent's stream primes, closes before the result, and a GET with its Last-Event-ID delivers the result once", async () => {
    const agent = await session(url);
    const posted = await sseEvents(await agent.post(toolCall(1, 'test_reconnection', {})));
    assert.equal(posted[0]?.data, '', 'a priming event first');
    assert.ok(posted[0]?.id, 'with an id');
    assert.equal(posted[0]?.retry, RESUME_RETRY_MS);
    assert.deepEqual(answersTo(posted, 1), [], 'the POST stream closed before the result');
    const resumed = await agent.resume(posted.at(-1)!.id!);
    assert.equal(resumed.status, 200);
    const answers = answersTo(await sseEvents(resumed), 1);
    assert.equal(answers.length, 1);
    assert.match(answers[0]!.data, /Answered after the stream was closed/);
  });

  test('an SDK client gets the result of such a call once, and the audit trail holds the call once', async () => {
    const known = await auditedCalls(gateway, 'test_reconnection');
    const client = await gateway.connect('/mcp/fx');
    const transport = client.transport!;
    const deliver = transport.onmessage!;
    let answers = 0;
    transport.onmessage = (message, extra) => {
      if ('result' in message && (message.result as { content?: unknown }).content !== undefined) answers++;
      deliver(message, extra);
    };
    const result = await client.callTool({ name: 'test_reconnection', arguments: {} });
    assert.deepEqual(result.content, [{ type: 'text', text: 'Answered after the stream was closed.' }]);
    assert.equal(answers, 1);
    assert.deepEqual(await newCalls(gateway, 'test_reconnection', known), [['allowed', 'executed']]);
  });

  test('an agent that never comes back for the result: the call still ends, and is audited once', async () => {
    const known = await auditedCalls(gateway, 'test_reconnection');
    const agent = await session(url);
    const posted = await sseEvents(await agent.post(toolCall(1, 'test_reconnection', {})));
    assert.deepEqual(answersTo(posted, 1), []);
    assert.deepEqual(await newCalls(gateway, 'test_reconnection', known), [['allowed', 'executed']]);
  });

  test("another session's event id, or a made-up one, resumes nothing: 400", async () => {
    const owner = await session(url);
    const posted = await sseEvents(await owner.post(toolCall(1, 'test_reconnection', {})));
    const theirs = posted[0]!.id!;
    const other = await session(url);
    for (const id of [theirs, '00000000-0000-4000-8000-000000000000', `${theirs}x`]) {
      const answer = await other.resume(id);
      assert.equal(answer.status, 400, id);
      assert.match(await answer.text(), /Invalid event ID format/);
    }
    // The owner still gets its result.
    assert.equal(answersTo(await sseEvents(await owner.resume(theirs)), 1).length, 1);
  });

  test('a 2026 client has no stream to resume: its call is answered on the stream of its request', async () => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { ...MCP_HEADERS, 'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': 'tools/call', 'Mcp-Name': 'test_reconnection' },
      body: JSON.stringify({
        ...toolCall(5, 'test_reconnection', {}),
        params: {
          name: 'test_reconnection',
          arguments: {},
          _meta: {
            'io.modelcontextprotocol/protocolVersion': '2026-07-28',
            'io.modelcontextprotocol/clientCapabilities': {},
            'io.modelcontextprotocol/clientInfo': { name: 'raw-2026', version: '1' },
          },
        },
      }),
    });
    // A call answered within 2 s comes as one JSON body; a longer one as an SSE stream without event ids: nothing to resume either way.
    if (response.headers.get('content-type')?.startsWith('application/json')) {
      const answer = (await response.json()) as { id?: unknown; result?: unknown };
      assert.equal(answer.id, 5);
      assert.ok(answer.result);
      return;
    }
    const events = await sseEvents(response);
    assert.equal(answersTo(events, 5).length, 1);
    assert.ok(
      events.every((e) => e.id === undefined),
      'no event ids: nothing to resume',
    );
  });
});

describe('a hostile upstream that closes every stream of a call and never answers', () => {
  let upstream: StreamClosingServer;
  let gateway: RunningGateway;
  let url: string;
  before(async () => {
    upstream = await startStreamClosingServer();
    gateway = await startGateway({
      config: ['servers:', '  closer:', `    url: ${upstream.url}`, '    call_timeout: 3s', '    policy: p.json', ''].join('\n'),
      files: { 'p.json': JSON.stringify({ version: '1', default: 'allow' }) },
    });
    url = `${gateway.url}/mcp/closer`;
  });
  after(async () => {
    await gateway?.stop();
    await upstream?.stop();
  });

  test("the agent's stream is closed once; the call ends at its timeout, audited once; resumptions are spaced and stop with the call", async () => {
    const agent = await session(url);
    const posted = await sseEvents(await agent.post(toolCall(1, 'never_answers', {})));
    assert.deepEqual(answersTo(posted, 1), [], 'the POST stream was closed, as the upstream closed its own');
    // The resumed stream stays open, however often the upstream closes its own, until the call's timeout answers.
    const resumed = await sseEvents(await agent.resume(posted.at(-1)!.id!));
    const answers = answersTo(resumed, 1);
    assert.equal(answers.length, 1);
    assert.match(answers[0]!.data, /timed out|UNAVAILABLE/i);

    const calls = await newCalls(gateway, 'never_answers', new Set());
    assert.deepEqual(
      calls.map((steps) => steps.length),
      [2],
      `one call, allowed then ended: ${JSON.stringify(calls)}`,
    );
    assert.equal(upstream.cancelled, 1, 'the timeout cancelled the call upstream');

    const { resumptions } = upstream;
    assert.ok(resumptions.length >= 2, `${resumptions.length} resumptions`);
    const gaps = resumptions.slice(1).map((at, i) => at - resumptions[i]!);
    // Timers never fire early; a few ms off for the two clocks' reading points.
    assert.ok(Math.min(...gaps) >= MIN_RESUME_DELAY_MS - 15, `gaps ${gaps.map(Math.round).join(', ')} ms despite retry: 1`);

    // Watching for something that must not happen: several resumption delays with no more of them.
    const seen = resumptions.length;
    await sleep(MIN_RESUME_DELAY_MS * 6);
    assert.ok(upstream.resumptions.length <= seen + 1, `${upstream.resumptions.length - seen} resumptions after the call ended`);
  });
});

describe('resumption is offered only where a server may close a stream early', () => {
  let fixture: RunningFixture;
  let gateway: RunningGateway;
  before(async () => {
    fixture = await startFixture(SUITES['0.1.16'].fixture);
    const policy = '    policy: fx.json';
    gateway = await startGateway({
      config: [
        'servers:',
        '  fx:',
        `    url: ${fixture.url}`,
        policy,
        '  local:',
        `    command: ${process.execPath}`,
        `    args: [--import, ${TSX_LOADER}, ${SUITES['0.1.16'].fixture}, --stdio]`,
        policy,
        '',
      ].join('\n'),
      files: { 'fx.json': JSON.stringify({ version: '1', default: 'allow' }) },
    });
  });
  after(async () => {
    await gateway?.stop();
    await fixture?.stop();
  });

  for (const [path, resumable] of [
    ['/mcp/local', false],
    ['/mcp/fx', true],
    ['/mcp', true],
  ] as const) {
    test(`${path}: ${resumable ? 'a priming event with an id and retry, and ids on every message' : 'no priming event and no ids: a stdio server never closes a stream early'}`, async () => {
      const agent = await session(`${gateway.url}${path}`);
      const tool = path === '/mcp' ? 'local__test_simple_text' : 'test_simple_text';
      const events = await sseEvents(await agent.post(toolCall(1, tool, {})));
      assert.equal(answersTo(events, 1).length, 1, JSON.stringify(events));
      if (resumable) {
        assert.deepEqual({ data: events[0]?.data, retry: events[0]?.retry }, { data: '', retry: RESUME_RETRY_MS });
        assert.ok(events.every((e) => e.id !== undefined));
      } else {
        assert.deepEqual(
          events.map((e) => e.id),
          events.map(() => undefined),
        );
        assert.notEqual(events[0]?.data, '');
      }
    });
  }
});
