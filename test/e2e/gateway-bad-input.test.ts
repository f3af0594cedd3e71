import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { FILESYSTEM_SERVER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';
import { only, openSession, post, toolCall, type JsonRpcAnswer, type RawAnswer } from '../support/raw-mcp.js';
import { assertRefusal } from '../support/refusal.js';

// Debug level, so the test can also see what the gateway logs only at debug (and check that level).
const CONFIG = `listen: { host: 127.0.0.1, port: 0, body_limit: 2kb }
log: { level: debug }
servers:
  filesystem:
    command: ${process.execPath}
    args: [${FILESYSTEM_SERVER}, ./sandbox]
    policy: policy.yaml
`;
const POLICY =
  'version: "1"\ndefault: deny\ntools:\n  read_text_file: {}\n  list_allowed_directories: {}\n  write_file: { action: deny, reason: No writes }\n';
const LEVEL = { debug: 20, info: 30, warn: 40 };

let gateway: RunningGateway;
let endpoint: string;
let session: Record<string, string>;
let sandbox: string;

before(async () => {
  gateway = await startGateway({ config: CONFIG, files: { 'policy.yaml': POLICY, 'sandbox/hello.txt': 'hello\n' } });
  endpoint = new URL('/mcp/filesystem', gateway.url).href;
  sandbox = join(gateway.dir, 'sandbox');
  session = { 'mcp-session-id': await openSession(endpoint) };
});
after(() => gateway?.stop());

function assertError(message: JsonRpcAnswer, code: number, text?: RegExp): void {
  assert.equal(message.jsonrpc, '2.0');
  assert.equal(message.result, undefined, JSON.stringify(message));
  assert.equal(message.error?.code, code, JSON.stringify(message));
  if (text) assert.match(message.error?.message ?? '', text);
}

/** Waits for a log line written since `mark` that `matches`; returns it. */
async function loggedSince(
  mark: number,
  what: string,
  matches: (line: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await until(`a log line about ${what}`, () => (found = gateway.logs.slice(mark).find(matches)) !== undefined);
  return found!;
}

interface Case {
  name: string;
  request: () => Promise<RawAnswer>;
  check: (answer: RawAnswer) => void;
  /** The log line the gateway writes about it, and at which level; null where only the SDK answers and nothing is logged. */
  log: { what: string; level: number; matches: (line: Record<string, unknown>) => boolean } | null;
}

const cases: Case[] = [
  {
    name: 'malformed JSON gets 400 with a JSON-RPC parse error',
    request: () => post(endpoint, '{"jsonrpc": "2.0", "id": 1, "method": ', session),
    check: (answer) => {
      assert.equal(answer.status, 400);
      assertError(only(answer), -32700, /^Parse error/);
    },
    log: { what: 'the unparsable body', level: LEVEL.warn, matches: (l) => l.msg === 'request body is not JSON' },
  },
  {
    name: 'a body over listen.body_limit gets 413 with a JSON-RPC error',
    request: () => post(endpoint, toolCall(2, 'read_text_file', { path: 'x'.repeat(4_096) }), session),
    check: (answer) => {
      assert.equal(answer.status, 413);
      assertError(only(answer), -32600, /larger than the 2kb limit/);
    },
    log: { what: 'the oversized body', level: LEVEL.warn, matches: (l) => l.msg === 'request body over the limit' },
  },
  {
    name: 'a message whose jsonrpc is not "2.0" gets a JSON-RPC error',
    request: () => post(endpoint, { jsonrpc: '1.0', id: 3, method: 'tools/list' }, session),
    check: (answer) => {
      assert.equal(answer.status, 400);
      assertError(only(answer), -32700, /Invalid JSON-RPC message/);
    },
    log: {
      what: 'the invalid JSON-RPC message',
      level: LEVEL.debug,
      // The SDK v2 transport reports the schema's own error (which names the field), v1 said "Invalid JSON-RPC message".
      matches: (l) => l.msg === 'session protocol error' && /jsonrpc/.test(String(l.err)),
    },
  },
  {
    name: 'an unknown method gets -32601 Method not found',
    request: () => post(endpoint, { jsonrpc: '2.0', id: 4, method: 'tools/destroy', params: {} }, session),
    check: (answer) => {
      assert.equal(answer.status, 200);
      assertError(only(answer), -32601, /^Method not found$/);
    },
    log: null,
  },
  {
    name: 'tools/call without a name gets -32602',
    request: () => post(endpoint, { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { arguments: {} } }, session),
    check: (answer) => assertError(only(answer), -32602, /Invalid tools\/call request: /),
    log: null,
  },
  ...[
    ['a string', 'path=hello.txt'],
    ['an array', ['hello.txt']],
    ['null', null],
  ].map(([kind, args]): Case => ({
    name: `tools/call with arguments that are ${String(kind)} gets -32602`,
    request: () => post(endpoint, toolCall(6, 'read_text_file', args), session),
    check: (answer) => assertError(only(answer), -32602, /Invalid tools\/call request: /),
    log: null,
  })),
  {
    name: 'an unknown Mcp-Session-Id gets 404',
    request: () =>
      post(endpoint, { jsonrpc: '2.0', id: 7, method: 'tools/list' }, { 'mcp-session-id': '4f4a4b8e-0000-4000-8000-000000000000' }),
    check: (answer) => {
      assert.equal(answer.status, 404);
      assertError(only(answer), -32001, /^Session not found$/);
    },
    log: { what: 'the unknown session', level: LEVEL.warn, matches: (l) => l.status === 404 && /Session not found/.test(String(l.reason)) },
  },
  {
    name: 'a request without a session id that is not initialize gets 400',
    request: () => post(endpoint, { jsonrpc: '2.0', id: 8, method: 'tools/list' }),
    check: (answer) => {
      assert.equal(answer.status, 400);
      assertError(only(answer), -32000, /Mcp-Session-Id header is required/);
    },
    log: { what: 'the missing session id', level: LEVEL.warn, matches: (l) => l.status === 400 && /Mcp-Session-Id/.test(String(l.reason)) },
  },
];

for (const c of cases) {
  test(c.name, async () => {
    const mark = gateway.logs.length;
    c.check(await c.request());
    if (c.log) {
      const line = await loggedSince(mark, c.log.what, c.log.matches);
      assert.equal(line.level, c.log.level, JSON.stringify(line));
    }
  });
}

test('a JSON-RPC batch is answered message by message, and the policy still refuses what it denies', async () => {
  const path = join(sandbox, 'written-in-a-batch.txt');
  const mark = gateway.logs.length;
  const answer = await post(
    endpoint,
    [toolCall(11, 'write_file', { path, content: 'no' }), toolCall(12, 'list_allowed_directories', {})],
    session,
  );

  if (answer.messages.length === 1 && answer.messages[0]!.id === null) {
    assert.ok(answer.messages[0]!.error, 'a batch refused as a whole is refused with a JSON-RPC error');
  } else {
    assert.equal(answer.status, 200);
    const byId = new Map(answer.messages.map((m) => [m.id, m]));
    assert.deepEqual([...byId.keys()].sort(), [11, 12]);
    assertRefusal(byId.get(11)!.result, 'POLICY DENIED', { decision: 'deny', rule: 'tools.write_file', tool: 'write_file' });
    assert.notEqual(byId.get(12)!.result?.isError, true);
    await loggedSince(mark, 'the denied call in the batch', (l) => l.msg === 'call denied by policy' && l.tool === 'write_file');
  }
  assert.equal(existsSync(path), false, 'the denied write did not run');
});

test('after all that the gateway still serves, on the same session and on a new one', async () => {
  const path = join(sandbox, 'hello.txt');
  const same = only(await post(endpoint, toolCall(20, 'read_text_file', { path }), session));
  assert.deepEqual((same.result?.content as unknown[])[0], { type: 'text', text: 'hello\n' });

  const client = await gateway.connect('/mcp/filesystem');
  const result = await client.callTool({ name: 'read_text_file', arguments: { path } });
  assert.deepEqual(result.content, [{ type: 'text', text: 'hello\n' }]);
  assert.equal(gateway.process.exitCode, null);
});
