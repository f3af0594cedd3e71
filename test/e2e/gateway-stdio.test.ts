/**
 * `airlock stdio SERVER`: one configured server served to a stdio MCP
 * client, the way Claude Desktop runs it (spawned by the SDK's
 * StdioClientTransport), under the same policy as over HTTP.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { Client as V2Client } from '@modelcontextprotocol/client';
import { StdioClientTransport as V2StdioTransport } from '@modelcontextprotocol/client/stdio';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { TEST_REDIS_TIMEOUT } from '../support/gateway.js';
import { FILESYSTEM_SERVER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { AIRLOCK_BIN, airlock } from '../support/run-cli.js';

const POLICY = [
  'version: "1"',
  'default: deny',
  'hide: [write_file, move_file]',
  'tools:',
  '  read_text_file: {}',
  '  create_directory: { action: deny, reason: No new folders }',
  '',
].join('\n');

let dir: string;
let config: string;
let direct: Client;
let redis: TestRedis;

before(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'airlock-stdio-'));
  mkdirSync(join(dir, 'sandbox'));
  writeFileSync(join(dir, 'sandbox', 'notes.txt'), 'read me over stdio\n');
  writeFileSync(join(dir, 'filesystem.yaml'), POLICY);
  config = join(dir, 'airlock.yaml');
  writeFileSync(
    config,
    `servers:\n  filesystem:\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(FILESYSTEM_SERVER)}, ./sandbox]\n    policy: filesystem.yaml\nredis: { timeout: ${TEST_REDIS_TIMEOUT} }\n`,
  );
  direct = new Client({ name: 'direct', version: '1.0.0' });
  await direct.connect(
    new StdioClientTransport({ command: process.execPath, args: [FILESYSTEM_SERVER, join(dir, 'sandbox')], stderr: 'ignore' }),
  );
});
after(async () => {
  await direct?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('serves one server to a stdio client under its policy, logs only on stderr, and exits 0 when the client closes', async () => {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [AIRLOCK_BIN, 'stdio', 'filesystem', '-c', config],
    cwd: dir,
    env: { ...getDefaultEnvironment(), REDIS_URL: redis.url },
    stderr: 'pipe',
  });
  let stderr = '';
  (transport.stderr as Readable).on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const client = new Client({ name: 'stdio-agent', version: '1.0.0' });
  // A line on stdout that is not a JSON-RPC message surfaces here (the SDK reports it and reads on).
  const protocolErrors: Error[] = [];
  client.onerror = (err) => protocolErrors.push(err);
  await client.connect(transport);
  // The SDK keeps its child private; it is needed for the exit code.
  const child = (transport as unknown as { _process: ChildProcess })._process;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );

  try {
    const expectedTools = (await direct.listTools()).tools.filter((t) => t.name !== 'write_file' && t.name !== 'move_file');
    assert.ok(expectedTools.some((t) => t.name === 'read_text_file'));
    assert.deepEqual((await client.listTools()).tools, expectedTools);

    const read = { path: join(dir, 'sandbox', 'notes.txt') };
    const got = await client.callTool({ name: 'read_text_file', arguments: read });
    assert.match(JSON.stringify(got), /read me over stdio/);
    assert.deepEqual(got, await direct.callTool({ name: 'read_text_file', arguments: read }));

    const denied = await client.callTool({ name: 'create_directory', arguments: { path: join(dir, 'sandbox', 'new') } });
    assert.equal(denied.isError, true);
    assert.deepEqual(denied.content, [{ type: 'text', text: '[POLICY DENIED] No new folders' }]);
    assert.equal((denied._meta?.['airlock/decision'] as { decision?: string }).decision, 'deny');

    const unlisted = await client.callTool({ name: 'list_directory', arguments: { path: join(dir, 'sandbox') } });
    assert.match((unlisted.content as { text: string }[])[0]!.text, /^\[POLICY DENIED\] /);

    await assert.rejects(
      client.callTool({ name: 'write_file', arguments: { path: join(dir, 'sandbox', 'x'), content: 'x' } }),
      /Unknown tool: write_file/,
    );
  } finally {
    await client.close();
  }
  assert.deepEqual(await exited, { code: 0, signal: null });
  assert.deepEqual(protocolErrors, []);

  const lines = stderr.split('\n').filter((line) => line.trim() !== '');
  const logs = lines.map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      assert.fail(`stderr has a line that is not a JSON log line: ${line}`);
    }
  });
  const messages = logs.map((l) => l.msg);
  for (const msg of ['upstream connected', 'call executed', 'call denied by policy'])
    assert.ok(messages.includes(msg), `stderr logs "${msg}": ${messages.join(', ')}`);
});

test('airlock stdio with a server that is not configured exits 1 naming it', async () => {
  const result = await airlock(['stdio', 'nope', '-c', config], dir);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /unknown server "nope".*configured: filesystem/);
  assert.equal(result.stdout, '');
});

test('SIGTERM to airlock stdio withdraws a held call with the reason, writes nothing, and exits 0', async () => {
  const heldConfig = join(dir, 'held.yaml');
  writeFileSync(
    join(dir, 'held-policy.yaml'),
    ['version: "1"', 'default: allow', 'tools:', '  write_file: { action: require_approval, reason: Writes need a person }', ''].join('\n'),
  );
  writeFileSync(
    heldConfig,
    `servers:\n  filesystem:\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(FILESYSTEM_SERVER)}, ./sandbox]\n    policy: held-policy.yaml\napprovals: { channel: console }\nredis: { timeout: ${TEST_REDIS_TIMEOUT} }\n`,
  );
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [AIRLOCK_BIN, 'stdio', 'filesystem', '-c', heldConfig],
    cwd: dir,
    env: { ...getDefaultEnvironment(), REDIS_URL: redis.url },
    stderr: 'pipe',
  });
  let stderr = '';
  (transport.stderr as Readable).on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const client = new Client({ name: 'stdio-agent', version: '1.0.0' });
  await client.connect(transport);
  const child = (transport as unknown as { _process: ChildProcess })._process;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const target = join(dir, 'sandbox', 'never.txt');
  const call = client.callTool({ name: 'write_file', arguments: { path: target, content: 'no' } });
  await until('the call to be held', () => stderr.includes('call held for approval'));
  child.kill('SIGTERM');
  const result = await call;
  assert.equal(result.isError, true);
  assert.match(
    JSON.stringify(result.content),
    /\[UNAVAILABLE\] The approval request was withdrawn: Airlock is shutting down; call again and a new request will be opened/,
  );
  assert.equal(await exited, 0, stderr);
  assert.equal(existsSync(target), false);
  await client.close();
});

test('a 2026-07-28 client (the SDK v2 client, pinned) is served over stdio too, under the same policy, and the audit records its protocol', async () => {
  const transport = new V2StdioTransport({
    command: process.execPath,
    args: [AIRLOCK_BIN, 'stdio', 'filesystem', '-c', config],
    cwd: dir,
    env: { ...getDefaultEnvironment(), REDIS_URL: redis.url },
    stderr: 'ignore',
  });
  const client = new V2Client({ name: 'stdio-2026', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(transport);
  assert.equal(client.getNegotiatedProtocolVersion(), '2026-07-28');
  const read = await client.callTool({ name: 'read_text_file', arguments: { path: join(dir, 'sandbox', 'notes.txt') } });
  assert.match(JSON.stringify(read.content), /read me over stdio/);
  const denied = await client.callTool({ name: 'create_directory', arguments: { path: join(dir, 'sandbox', 'new') } });
  assert.equal(denied.isError, true);
  assert.match(JSON.stringify(denied.content), /\[POLICY DENIED\] No new folders/);
  await client.close();
  // The trail is written in batches, and the last one when the process ends.
  let events: { event: string; tool?: string; protocol?: string; session?: string }[] = [];
  await until('the 2026 calls to be audited', async () => {
    const { stdout } = await airlock(['audit', 'export', '--format', 'jsonl', '-c', config], dir, { ...process.env, REDIS_URL: redis.url });
    events = stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as (typeof events)[number])
      .filter((e) => e.protocol === '2026-07-28');
    return events.some((e) => e.event === 'denied') && events.some((e) => e.event === 'executed');
  });
  // One run of airlock stdio is one session, for scope: session limits and the trail alike.
  assert.match(String(events[0]?.session), /^stdio-[0-9a-f-]{36}$/);
});
