import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { FIXTURE_SERVER, TSX_LOADER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';
import { only, openSession, post, INITIALIZE, type RawAnswer } from '../support/raw-mcp.js';
import { airlock } from '../support/run-cli.js';

const ALPHA = 'alpha-token-0123456789';
const BETA = 'beta-token-9876543210';
const LIMITED = 'limited-token-abcdef';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const fixture = (policy: string) =>
  `    command: ${process.execPath}\n    args: [--import, ${TSX_LOADER}, ${FIXTURE_SERVER}]\n    policy: ${policy}\n`;
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

let gateway: RunningGateway;
const url = (path: string) => new URL(path, gateway.url).href;

before(async () => {
  gateway = await startGateway({
    config: [
      'servers:',
      '  a:',
      fixture('a.yaml'),
      '  b:',
      fixture('b.yaml'),
      'grants:',
      '  - name: alpha',
      '    token: "${AIRLOCK_TOKEN_ALPHA}"',
      '  - name: beta',
      `    token_sha256: ${sha256(BETA)}`,
      '  - name: limited',
      `    token: ${LIMITED}`,
      '    servers: [a]',
      '',
    ].join('\n'),
    files: {
      'a.yaml': 'version: "1"\ndefault: deny\ntools:\n  echo: {}\n',
      'b.yaml': 'version: "1"\ndefault: deny\ntools:\n  echo: {}\n  pid: {}\n',
    },
    env: { AIRLOCK_TOKEN_ALPHA: ALPHA },
  });
});
after(() => gateway?.stop());

/** A transport-level refusal: the HTTP status and a JSON-RPC error body with a null id. */
function assertHttpError(answer: RawAnswer, status: number, message: RegExp): void {
  assert.equal(answer.status, status, JSON.stringify(answer.messages));
  assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
  const body = only(answer);
  assert.equal(body.jsonrpc, '2.0');
  assert.equal(body.id, null);
  assert.equal(body.result, undefined);
  assert.equal(typeof body.error?.code, 'number');
  assert.match(body.error?.message ?? '', message);
}

test('a request without a bearer token gets 401, a JSON-RPC error and WWW-Authenticate', async () => {
  for (const path of ['/mcp/a', '/mcp']) {
    const answer = await post(url(path), INITIALIZE);
    assertHttpError(answer, 401, /^Unauthorized: missing bearer token/);
    assert.match(answer.headers.get('www-authenticate') ?? '', /^Bearer /);
    assert.equal(answer.headers.get('mcp-session-id'), null);
  }
});

test('a token that matches no grant, or a header that is not a bearer token, gets 401', async () => {
  for (const authorization of [
    'Bearer not-a-grant-token',
    `Bearer ${ALPHA}x`,
    `Basic ${Buffer.from(`alpha:${ALPHA}`).toString('base64')}`,
    ALPHA,
  ]) {
    const answer = await post(url('/mcp/a'), INITIALIZE, { Authorization: authorization });
    assertHttpError(answer, 401, /^Unauthorized: /);
    assert.match(answer.headers.get('www-authenticate') ?? '', /^Bearer /);
  }
});

test('a grant limited to one server gets 403 on the endpoint of another', async () => {
  assertHttpError(await post(url('/mcp/b'), INITIALIZE, bearer(LIMITED)), 403, /^Forbidden: grant limited may not use server b$/);
  const allowed = await post(url('/mcp/a'), INITIALIZE, bearer(LIMITED));
  assert.equal(allowed.status, 200);
  assert.ok(only(allowed).result);
});

test('a grant configured by token_sha256 is reached with the token itself, not with its digest', async () => {
  const client = await gateway.connect('/mcp/b', BETA);
  assert.deepEqual(await client.callTool({ name: 'echo', arguments: { text: 'via sha256 grant' } }), {
    content: [{ type: 'text', text: 'via sha256 grant' }],
  });
  assertHttpError(await post(url('/mcp/b'), INITIALIZE, bearer(sha256(BETA))), 401, /^Unauthorized: /);
});

test('a token given as an environment variable in the config works', async () => {
  const client = await gateway.connect('/mcp/a', ALPHA);
  assert.deepEqual(await client.callTool({ name: 'echo', arguments: { text: 'alpha' } }), { content: [{ type: 'text', text: 'alpha' }] });
});

test('a server name that is not configured gets 404', async () => {
  assertHttpError(await post(url('/mcp/nope'), INITIALIZE, bearer(ALPHA)), 404, /^Not Found: no server named "nope"/);
});

test("a session opened by one grant is unknown to another grant's token", async () => {
  const session = await openSession(url('/mcp/a'), bearer(ALPHA));
  const list = { jsonrpc: '2.0', id: 1, method: 'tools/list' };
  assertHttpError(await post(url('/mcp/a'), list, { ...bearer(BETA), 'mcp-session-id': session }), 404, /^Session not found$/);
  assertHttpError(await post(url('/mcp/a'), list, { ...bearer(LIMITED), 'mcp-session-id': session }), 404, /^Session not found$/);

  const deleted = await fetch(url('/mcp/a'), { method: 'DELETE', headers: { ...bearer(BETA), 'mcp-session-id': session } });
  assert.equal(deleted.status, 404);
  await deleted.body?.cancel();

  const own = await post(url('/mcp/a'), list, { ...bearer(ALPHA), 'mcp-session-id': session });
  assert.equal(own.status, 200, 'the session still works for the grant that opened it');
  assert.deepEqual(
    (only(own).result?.tools as { name: string }[]).map((t) => t.name),
    ['echo', 'sleep', 'pid', 'start_dicom_export_job'],
  );
});

test('a session opened on one endpoint is unknown on another', async () => {
  const session = await openSession(url('/mcp/a'), bearer(ALPHA));
  const list = { jsonrpc: '2.0', id: 1, method: 'tools/list' };
  for (const path of ['/mcp/b', '/mcp']) {
    assertHttpError(await post(url(path), list, { ...bearer(ALPHA), 'mcp-session-id': session }), 404, /^Session not found$/);
  }
  assert.equal((await post(url('/mcp/a'), list, { ...bearer(ALPHA), 'mcp-session-id': session })).status, 200);
});

test('on /mcp a limited grant sees and reaches only its own servers, as server__tool', async () => {
  const limited = await gateway.connect('/mcp', LIMITED);
  const names = (await limited.listTools()).tools.map((t) => t.name);
  assert.deepEqual(names, ['a__echo', 'a__sleep', 'a__pid', 'a__start_dicom_export_job']);
  assert.deepEqual(await limited.callTool({ name: 'a__echo', arguments: { text: 'aggregated' } }), {
    content: [{ type: 'text', text: 'aggregated' }],
  });
  await assert.rejects(
    limited.callTool({ name: 'b__echo', arguments: { text: 'x' } }),
    (err: unknown) => err instanceof McpError && err.message === 'MCP error -32602: Unknown tool: b__echo',
  );

  const everything = await gateway.connect('/mcp', ALPHA);
  const all = (await everything.listTools()).tools.map((t) => t.name);
  assert.deepEqual(all, [...names, 'b__echo', 'b__sleep', 'b__pid', 'b__start_dicom_export_job']);
});

test('every refused request is logged with its status and grant, and no log line holds a token', async () => {
  const mark = gateway.logs.length;
  await post(url('/mcp/a'), INITIALIZE, bearer('wrong-token'));
  await post(url('/mcp/b'), INITIALIZE, bearer(LIMITED));
  await post(url('/mcp/nope'), INITIALIZE, bearer(ALPHA));
  const refused = () => gateway.logs.slice(mark).filter((l) => l.msg === 'request refused');
  await until('three refusals in the log', () => refused().length === 3);
  assert.deepEqual(
    refused().map((l) => [l.status, l.grant, l.path, l.level]),
    [
      [401, undefined, '/mcp/a', 40],
      [403, 'limited', '/mcp/b', 40],
      [404, 'alpha', '/mcp/nope', 40],
    ],
  );
  const everything = JSON.stringify(gateway.logs);
  for (const secret of [ALPHA, BETA, LIMITED, 'wrong-token']) assert.ok(!everything.includes(secret), 'a token was logged');
});

test('airlock start refuses to listen beyond loopback without grants', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-exposed-'));
  try {
    writeFileSync(join(dir, 'p.yaml'), 'version: "1"\ndefault: deny\n');
    writeFileSync(
      join(dir, 'airlock.yaml'),
      'listen: { host: 0.0.0.0, port: 0 }\nservers:\n  fs:\n    command: node\n    policy: p.yaml\n',
    );
    // Nothing answers on port 1: should the exposure check ever be skipped, start fails on Redis instead of hanging.
    const result = await airlock(['start', '-c', join(dir, 'airlock.yaml')], dir, { ...process.env, REDIS_URL: 'redis://127.0.0.1:1' });
    assert.equal(result.code, 1);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /airlock\.yaml: listen\.host: 0\.0\.0\.0 is not loopback and no grants are configured/);
    assert.equal(result.stdout, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
