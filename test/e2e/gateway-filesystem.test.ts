import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Client as SdkClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { FILESYSTEM_SERVER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';
import { only, openSession, post, toolCall } from '../support/raw-mcp.js';
import { assertRefusal } from '../support/refusal.js';

const POLICY = {
  version: '1',
  default: 'deny',
  hide: ['move_file'],
  tools: {
    read_text_file: { deny_if: [{ path: 'args.path', op: 'regex', value: '(^|/)\\.git(/|$)' }] },
    list_directory: {},
    get_file_info: {},
    search_files: {},
    list_allowed_directories: {},
    write_file: { action: 'require_approval', reason: 'Writing files needs a person' },
    create_directory: { action: 'deny', reason: 'Agents may not create folders' },
  },
};

let gateway: RunningGateway;
let airlock: Client;
/** The same server, on the same folder, without Airlock in between. */
let direct: Client;
let sandbox: string;

before(async () => {
  gateway = await startGateway({
    config: `servers:\n  filesystem:\n    command: ${process.execPath}\n    args: [${FILESYSTEM_SERVER}, ./sandbox]\n    policy: policies/filesystem.json\n`,
    files: {
      'policies/filesystem.json': JSON.stringify(POLICY, null, 2),
      'sandbox/notes.txt': 'first line\nsecond line\nthird line\n',
      'sandbox/info.txt': 'only ever stat()ed, so its access time stays put\n',
      'sandbox/docs/a.md': '# A\n',
      'sandbox/docs/deeper/b.md': '# B\n',
      'sandbox/.git/config': '[core]\n\tbare = false\n',
    },
  });
  sandbox = join(gateway.dir, 'sandbox');
  airlock = await gateway.connect('/mcp/filesystem');
  direct = new SdkClient({ name: 'airlock-test-direct', version: '1.0.0' });
  await direct.connect(new StdioClientTransport({ command: process.execPath, args: [FILESYSTEM_SERVER, sandbox], stderr: 'ignore' }));
});
after(async () => {
  await direct?.close();
  await gateway?.stop();
});

test('allowed calls return exactly what the server returns without Airlock', async () => {
  const calls: [string, Record<string, unknown>][] = [
    ['read_text_file', { path: join(sandbox, 'notes.txt') }],
    ['read_text_file', { path: join(sandbox, 'notes.txt'), head: 2 }],
    ['list_directory', { path: sandbox }],
    ['get_file_info', { path: join(sandbox, 'info.txt') }],
    ['search_files', { path: sandbox, pattern: '**/*.md' }],
    ['list_allowed_directories', {}],
  ];
  for (const [name, args] of calls) {
    const expected = await direct.callTool({ name, arguments: args });
    const actual = await airlock.callTool({ name, arguments: args });
    assert.notEqual(expected.isError, true, `${name} should succeed on the server itself: ${JSON.stringify(expected)}`);
    assert.deepEqual(actual, expected, name);
    assert.equal(JSON.stringify(actual), JSON.stringify(expected), name);
  }
});

test("an allowed call the server fails comes back as the server's own error result, not a refusal", async () => {
  const args = { path: join(sandbox, 'missing.txt') };
  const expected = await direct.callTool({ name: 'read_text_file', arguments: args });
  assert.equal(expected.isError, true);
  assert.deepEqual(await airlock.callTool({ name: 'read_text_file', arguments: args }), expected);
});

test('a tool denied by its rule is refused with the rule and its reason, and does not run', async () => {
  const path = join(sandbox, 'made-by-agent');
  const result = await airlock.callTool({ name: 'create_directory', arguments: { path } });
  const { text } = assertRefusal(result, 'POLICY DENIED', {
    decision: 'deny',
    rule: 'tools.create_directory',
    reason: 'Agents may not create folders',
    server: 'filesystem',
    tool: 'create_directory',
  });
  assert.equal(text, '[POLICY DENIED] Agents may not create folders');
  assert.equal(existsSync(path), false);
});

test('a tool the policy does not list is refused under default deny', async () => {
  const result = await airlock.callTool({ name: 'directory_tree', arguments: { path: sandbox } });
  const { text } = assertRefusal(result, 'POLICY DENIED', {
    decision: 'deny',
    rule: 'default',
    reason: 'directory_tree is not listed in the policy and the default is deny',
    server: 'filesystem',
    tool: 'directory_tree',
  });
  assert.equal(text, '[POLICY DENIED] directory_tree is not listed in the policy and the default is deny');
});

test('deny_if on the arguments refuses a read under .git and says which condition held', async () => {
  const path = join(sandbox, '.git', 'config');
  const result = await airlock.callTool({ name: 'read_text_file', arguments: { path } });
  const { text, meta } = assertRefusal(result, 'POLICY DENIED', {
    decision: 'deny',
    rule: 'tools.read_text_file.deny_if[0]',
    server: 'filesystem',
    tool: 'read_text_file',
  });
  // A reason quotes at most 32 characters of an argument; the sandbox path is longer.
  assert.ok(path.length > 32, path);
  assert.equal(
    meta.reason,
    `args.path is ${JSON.stringify(path.slice(0, 32))}…(${path.length} characters), which is matching /(^|/)\\.git(/|$)/`,
  );
  assert.equal(text, `[POLICY DENIED] ${meta.reason}`);
  assert.doesNotMatch(text, /bare = false/);
});

test('every refusal has its own request id', async () => {
  const ids = new Set<string>();
  for (let i = 0; i < 3; i++) {
    const result = await airlock.callTool({ name: 'directory_tree', arguments: { path: sandbox } });
    ids.add(assertRefusal(result, 'POLICY DENIED', {}).meta.request_id);
  }
  assert.equal(ids.size, 3);
});

test('a hidden tool and a tool that does not exist get the same JSON-RPC error, but for the name', async () => {
  const url = new URL('/mcp/filesystem', gateway.url).href;
  const session = { 'mcp-session-id': await openSession(url) };
  const hidden = await post(
    url,
    toolCall(7, 'move_file', { source: join(sandbox, 'notes.txt'), destination: join(sandbox, 'moved.txt') }),
    session,
  );
  const unknown = await post(
    url,
    toolCall(7, 'no_such_tool', { source: join(sandbox, 'notes.txt'), destination: join(sandbox, 'moved.txt') }),
    session,
  );
  assert.equal(hidden.status, unknown.status);
  assert.deepEqual(only(hidden).error, { code: -32602, message: 'Unknown tool: move_file' });
  assert.deepEqual(only(hidden), JSON.parse(JSON.stringify(only(unknown)).replaceAll('no_such_tool', 'move_file')));
  assert.equal(existsSync(join(sandbox, 'moved.txt')), false);
  assert.equal(existsSync(join(sandbox, 'notes.txt')), true);

  for (const name of ['move_file', 'no_such_tool']) {
    await assert.rejects(airlock.callTool({ name, arguments: {} }), (err: unknown) => {
      assert.ok(err instanceof McpError);
      assert.equal(err.code, -32602);
      assert.equal(err.message, `MCP error -32602: Unknown tool: ${name}`);
      return true;
    });
  }
});

test('tools/list drops hidden tools, keeps denied ones and passes the rest through unchanged', async () => {
  const { tools: upstream } = await direct.listTools();
  const { tools } = await airlock.listTools();
  const names = tools.map((t) => t.name);
  assert.ok(
    upstream.some((t) => t.name === 'move_file'),
    'the server itself has move_file',
  );
  assert.ok(!names.includes('move_file'), 'hidden');
  for (const kept of ['create_directory', 'directory_tree', 'write_file', 'read_text_file']) assert.ok(names.includes(kept), kept);
  assert.deepEqual(
    tools,
    upstream.filter((t) => t.name !== 'move_file'),
  );
});

test('an edit of the policy file allows a denied tool once the gateway reloads it, without a restart', async () => {
  const path = join(sandbox, 'allowed-after-reload');
  assertRefusal(await airlock.callTool({ name: 'create_directory', arguments: { path } }), 'POLICY DENIED', {
    rule: 'tools.create_directory',
  });
  const pid = gateway.process.pid;

  writeFileSync(
    join(gateway.dir, 'policies/filesystem.json'),
    JSON.stringify({ ...POLICY, tools: { ...POLICY.tools, create_directory: {} } }, null, 2),
  );
  await until(
    'create_directory to be allowed',
    async () => (await airlock.callTool({ name: 'create_directory', arguments: { path } })).isError !== true,
  );

  assert.equal(existsSync(path), true);
  assert.equal(gateway.process.pid, pid);
  assert.equal(gateway.process.exitCode, null);
});
