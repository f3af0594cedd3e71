/**
 * `/mcp`, the aggregated endpoint: server-filesystem and server-everything
 * behind one session, tools and prompts named `server__name`, resources
 * merged and routed back to the server that owns them. Every answer is
 * compared with what the same server says to a direct client.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { ReadResourceResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { EVERYTHING_SERVER, FILESYSTEM_SERVER } from '../support/mcp-servers.js';

const HIDDEN = { filesystem: ['write_file', 'move_file'], everything: ['get-env', 'simulate-research-query'] };
const policy = (hide: string[]) => `version: "1"\ndefault: allow\nhide: ${JSON.stringify(hide)}\n`;

let gateway: RunningGateway;
let agent: Client;
const direct: { filesystem?: Client; everything?: Client } = {};
let hello: string;

before(async () => {
  gateway = await startGateway({
    config: [
      'servers:',
      '  filesystem:',
      `    command: ${JSON.stringify(process.execPath)}`,
      `    args: [${JSON.stringify(FILESYSTEM_SERVER)}, ./sandbox]`,
      '    policy: filesystem.yaml',
      '  everything:',
      `    command: ${JSON.stringify(process.execPath)}`,
      `    args: [${JSON.stringify(EVERYTHING_SERVER)}, stdio]`,
      '    policy: everything.yaml',
      '',
    ].join('\n'),
    files: {
      'filesystem.yaml': policy(HIDDEN.filesystem),
      'everything.yaml': policy(HIDDEN.everything),
      'sandbox/hello.txt': 'hello from the sandbox\n',
    },
  });
  hello = join(gateway.dir, 'sandbox', 'hello.txt');
  [agent, direct.filesystem, direct.everything] = await Promise.all([
    gateway.connect('/mcp'),
    connectDirect([FILESYSTEM_SERVER, join(gateway.dir, 'sandbox')]),
    connectDirect([EVERYTHING_SERVER, 'stdio']),
  ]);
});
after(async () => {
  await Promise.all([direct.filesystem?.close(), direct.everything?.close()]);
  await gateway?.stop();
});

/** Declaring what Airlock declares on a stdio server's shared process, so servers list the same tools (see docs/configuration.md). */
async function connectDirect(args: string[]): Promise<Client> {
  const client = new Client({ name: 'direct', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: { form: {}, url: {} } } });
  await client.connect(new StdioClientTransport({ command: process.execPath, args, stderr: 'ignore' }));
  return client;
}

function fs(): Client {
  return direct.filesystem!;
}
function everything(): Client {
  return direct.everything!;
}

function withoutTimestamps(result: ReadResourceResult): ReadResourceResult {
  return {
    ...result,
    contents: result.contents.map((c) => ('text' in c ? { ...c, text: c.text.replace(/created at .*$/, 'created at <time>') } : c)),
  };
}

/** The JSON-RPC error an MCP server answers for a tool it does not have. */
function unknown(kind: 'tool' | 'prompt', name: string) {
  return (err: { code?: number; message?: string }) => {
    assert.equal(err.code, -32602);
    assert.equal(err.message, `MCP error -32602: Unknown ${kind}: ${name}`);
    return true;
  };
}

describe('tools', () => {
  test('tools/list names every visible tool server__tool, in config order, hidden ones absent', async () => {
    const visible = (server: 'filesystem' | 'everything', tools: Tool[]) =>
      tools.filter((t) => !HIDDEN[server].includes(t.name)).map((t) => ({ ...t, name: `${server}__${t.name}` }));
    const expected = [
      ...visible('filesystem', (await fs().listTools()).tools),
      ...visible('everything', (await everything().listTools()).tools),
    ];
    const { tools } = await agent.listTools();
    const names = tools.map((t) => t.name);
    for (const name of ['filesystem__read_text_file', 'filesystem__list_directory', 'everything__echo', 'everything__get-sum'])
      assert.ok(names.includes(name), name);
    for (const name of ['filesystem__write_file', 'filesystem__move_file', 'everything__get-env', 'everything__simulate-research-query'])
      assert.ok(!names.includes(name), name);
    assert.deepEqual(tools, expected);
  });

  test('filesystem__read_text_file and everything__echo answer what the servers answer directly', async () => {
    const read = { path: hello };
    const got = await agent.callTool({ name: 'filesystem__read_text_file', arguments: read });
    assert.match(JSON.stringify(got), /hello from the sandbox/);
    assert.deepEqual(got, await fs().callTool({ name: 'read_text_file', arguments: read }));

    const echo = { message: 'through the aggregate' };
    assert.deepEqual(
      await agent.callTool({ name: 'everything__echo', arguments: echo }),
      await everything().callTool({ name: 'echo', arguments: echo }),
    );
  });

  test('a server’s error result passes through under its prefixed name', async () => {
    const read = { path: '/etc/passwd' };
    const expected = await fs().callTool({ name: 'read_text_file', arguments: read });
    assert.equal(expected.isError, true);
    assert.deepEqual(await agent.callTool({ name: 'filesystem__read_text_file', arguments: read }), expected);
  });

  for (const name of [
    'echo',
    'read_text_file',
    'nope__echo',
    '__echo',
    'everything_echo',
    'everything__',
    'everything__nope',
    'everything__get-env',
    'filesystem__write_file',
  ]) {
    test(`calling "${name}" answers the JSON-RPC error Unknown tool`, async () => {
      await assert.rejects(agent.callTool({ name, arguments: { message: 'x', path: hello, content: 'x' } }), unknown('tool', name));
    });
  }
});

describe('prompts', () => {
  test('prompts/list names every prompt server__prompt', async () => {
    const expected = (await everything().listPrompts()).prompts.map((p) => ({ ...p, name: `everything__${p.name}` }));
    assert.ok(expected.length > 0);
    assert.deepEqual(await agent.listPrompts(), { prompts: expected });
  });

  test('prompts/get through the prefix', async () => {
    const args = { city: 'Porto' };
    const expected = await everything().getPrompt({ name: 'args-prompt', arguments: args });
    assert.deepEqual(await agent.getPrompt({ name: 'everything__args-prompt', arguments: args }), expected);
  });

  test('prompts/get without a prefix answers Unknown prompt', async () => {
    await assert.rejects(agent.getPrompt({ name: 'args-prompt', arguments: { city: 'Porto' } }), unknown('prompt', 'args-prompt'));
  });

  test('completion/complete of a prompt argument through the prefix', async () => {
    const params = { argument: { name: 'department', value: 'M' } };
    const expected = await everything().complete({ ref: { type: 'ref/prompt', name: 'completable-prompt' }, ...params });
    assert.deepEqual(expected.completion.values, ['Marketing']);
    assert.deepEqual(await agent.complete({ ref: { type: 'ref/prompt', name: 'everything__completable-prompt' }, ...params }), expected);
  });
});

describe('resources', () => {
  test('resources/list and resources/templates/list merge the servers that have resources', async () => {
    // server-filesystem offers no resources, so the merged lists are server-everything's.
    const [resources, templates] = await Promise.all([everything().listResources(), everything().listResourceTemplates()]);
    assert.ok(resources.resources.length > 0);
    assert.deepEqual(await agent.listResources(), { resources: resources.resources });
    assert.deepEqual(await agent.listResourceTemplates(), { resourceTemplates: templates.resourceTemplates });
  });

  test('resources/read of a listed resource goes to the server that listed it', async () => {
    const { resources } = await everything().listResources();
    const uri = resources.at(-1)!.uri;
    assert.deepEqual(await agent.readResource({ uri }), await everything().readResource({ uri }));
  });

  test('resources/read of a templated resource goes to the server whose template matches (timestamps masked)', async () => {
    // A fresh session: it has listed nothing yet, so the URI is routed by template alone.
    const fresh = await gateway.connect('/mcp');
    const uri = 'demo://resource/dynamic/text/3';
    const [got, expected] = await Promise.all([fresh.readResource({ uri }), everything().readResource({ uri })]);
    assert.match((got.contents[0] as { text: string }).text, /^Resource 3: /);
    assert.deepEqual(withoutTimestamps(got), withoutTimestamps(expected));
  });

  test('completion/complete of a resource template variable', async () => {
    const params = {
      ref: { type: 'ref/resource' as const, uri: 'demo://resource/dynamic/blob/{resourceId}' },
      argument: { name: 'resourceId', value: '5' },
    };
    const expected = await everything().complete(params);
    assert.deepEqual(expected.completion.values, ['5']);
    assert.deepEqual(await agent.complete(params), expected);
  });

  test('resources/read of a URI no server owns answers Unknown resource', async () => {
    await assert.rejects(agent.readResource({ uri: 'nowhere://x' }), (err: { code?: number; message?: string }) => {
      assert.equal(err.code, -32602);
      assert.equal(err.message, 'MCP error -32602: Unknown resource: nowhere://x');
      return true;
    });
  });
});
