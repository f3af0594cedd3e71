/**
 * The policy covers resources and prompts, on `/mcp/:server` and on `/mcp`.
 * Two copies of server-everything behind one gateway: `closed` under a
 * PolicyLayer-shaped policy (`default: deny`, tools only), `open` under one
 * with `resources` and `prompts` sections. Each grant reaches one of them, so
 * `/mcp` shows one server's resources and no URI has two owners.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { parseCsv } from '../support/audit-csv.js';
import { waitForEvents, type AuditRecord } from '../support/audit-stream.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { EVERYTHING_SERVER } from '../support/mcp-servers.js';
import { assertRefusal, UUID } from '../support/refusal.js';
import { cli } from '../support/run-cli.js';

const CLOSED_TOKEN = 'closed-agent-token-0123456789';
const OPEN_TOKEN = 'open-agent-token-0123456789';
const DOCS = 'demo://resource/static/document';

const CLOSED_POLICY = 'version: "1"\ndefault: deny\ntools:\n  echo: {}\n';
const OPEN_POLICY = `version: "1"
default: deny
tools:
  echo: {}
resources:
  allow: ["${DOCS}/*", "demo://resource/dynamic/text/*"]
  deny: ["${DOCS}/features.md"]
  hide: ["${DOCS}/structure.md", "demo://resource/dynamic/blob/**"]
prompts:
  allow: [simple-prompt, "completable-*"]
  hide: [resource-prompt]
`;

const everything = (name: string) => [
  `  ${name}:`,
  `    command: ${JSON.stringify(process.execPath)}`,
  `    args: [${JSON.stringify(EVERYTHING_SERVER)}, stdio]`,
  `    policy: ${name}.yaml`,
];

let gateway: RunningGateway;
let direct: Client;
const clients = {} as Record<'closed' | 'closedAll' | 'open' | 'openAll', Client>;

before(async () => {
  [gateway, direct] = await Promise.all([
    startGateway({
      config: [
        'servers:',
        ...everything('closed'),
        ...everything('open'),
        'grants:',
        `  - { name: closed-agent, token: ${CLOSED_TOKEN}, servers: [closed] }`,
        `  - { name: open-agent, token: ${OPEN_TOKEN}, servers: [open] }`,
        // Each refusal's own event is checked below, so none is only counted.
        'audit: { sample_refusals: false }',
        '',
      ].join('\n'),
      files: { 'closed.yaml': CLOSED_POLICY, 'open.yaml': OPEN_POLICY },
    }),
    connectDirect(),
  ]);
  [clients.closed, clients.closedAll, clients.open, clients.openAll] = await Promise.all([
    gateway.connect('/mcp/closed', CLOSED_TOKEN),
    gateway.connect('/mcp', CLOSED_TOKEN),
    gateway.connect('/mcp/open', OPEN_TOKEN),
    gateway.connect('/mcp', OPEN_TOKEN),
  ]);
});
after(async () => {
  await direct?.close();
  await gateway?.stop();
});

async function connectDirect(): Promise<Client> {
  const client = new Client({ name: 'direct', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [EVERYTHING_SERVER, 'stdio'], stderr: 'ignore' }));
  return client;
}

interface RpcError {
  code: number;
  message: string;
  data?: Record<string, unknown>;
}

async function rejection(promise: Promise<unknown>): Promise<RpcError> {
  return promise.then(
    (result) => assert.fail(`expected a JSON-RPC error, got ${JSON.stringify(result).slice(0, 300)}`),
    (err: RpcError) => err,
  );
}

/** A policy refusal: the tool refusal's first words, and its facts as `data`. */
async function assertDenied(promise: Promise<unknown>, facts: Record<string, unknown>): Promise<RpcError> {
  const err = await rejection(promise);
  assert.equal(err.code, -32003, err.message);
  assert.ok(err.message.startsWith('MCP error -32003: [POLICY DENIED] '), err.message);
  assert.ok(err.data, 'the refusal carries data');
  assert.match(String(err.data.request_id), UUID);
  assert.equal(err.data.decision, 'deny');
  assert.equal(err.data.airlock_code, 'AIRLOCK_POLICY_DENIED');
  assert.equal(`[POLICY DENIED] ${String(err.data.reason)}`, err.message.replace(/^MCP error -32003: /, ''));
  for (const [key, value] of Object.entries(facts)) assert.deepEqual(err.data[key], value, `data.${key}`);
  return err;
}

/** The audit event of one refused request, by the request_id its refusal carries. */
async function auditedAs(requestId: unknown): Promise<AuditRecord> {
  const events = await waitForEvents(gateway.redis.url, `the audit event of ${String(requestId)}`, (all) =>
    all.some((e) => e.request_id === requestId),
  );
  const mine = events.filter((e) => e.request_id === requestId);
  assert.equal(mine.length, 1, JSON.stringify(mine));
  return mine[0]!;
}

describe('a PolicyLayer policy (default: deny, tools only) denies resources and prompts', () => {
  for (const endpoint of ['/mcp/closed', '/mcp'] as const) {
    const agent = () => (endpoint === '/mcp' ? clients.closedAll : clients.closed);
    const prompt = (name: string) => (endpoint === '/mcp' ? `closed__${name}` : name);

    test(`${endpoint}: resources/read of a listed resource is refused, and audited with the URI`, async () => {
      const uri = `${DOCS}/architecture.md`;
      const err = await assertDenied(agent().readResource({ uri }), {
        rule: 'default',
        server: 'closed',
        method: 'resources/read',
        resource: uri,
      });
      assert.match(String(err.data!.reason), /no resources section, so resources follow its default, deny/);
      const event = await auditedAs(err.data!.request_id);
      assert.equal(event.event, 'denied');
      assert.equal(event.server, 'closed');
      assert.equal(event.method, 'resources/read');
      assert.equal(event.resource, uri);
      assert.equal(event.tool, undefined, 'a resource is not a tool: airlock audit --tool does not list it');
      assert.equal(event.grant, 'closed-agent');
      assert.equal(event.rule, 'default');
    });

    test(`${endpoint}: a templated resource, a subscription and a resource completion are refused`, async () => {
      await assertDenied(agent().readResource({ uri: 'demo://resource/dynamic/text/3' }), { method: 'resources/read' });
      await assertDenied(agent().subscribeResource({ uri: `${DOCS}/architecture.md` }), { method: 'resources/subscribe' });
      const ref = { type: 'ref/resource' as const, uri: 'demo://resource/dynamic/text/{resourceId}' };
      await assertDenied(agent().complete({ ref, argument: { name: 'resourceId', value: '1' } }), {
        method: 'completion/complete',
        resource: ref.uri,
      });
    });

    test(`${endpoint}: prompts/get and the completion of a denied prompt are refused`, async () => {
      const err = await assertDenied(agent().getPrompt({ name: prompt('simple-prompt') }), {
        rule: 'default',
        method: 'prompts/get',
        prompt: 'simple-prompt',
        server: 'closed',
      });
      const event = await auditedAs(err.data!.request_id);
      assert.deepEqual([event.event, event.prompt, event.method, event.tool], ['denied', 'simple-prompt', 'prompts/get', undefined]);
      const completion = await assertDenied(
        agent().complete({ ref: { type: 'ref/prompt', name: prompt('completable-prompt') }, argument: { name: 'department', value: 'S' } }),
        {
          method: 'completion/complete',
          prompt: 'completable-prompt',
        },
      );
      assert.equal((await auditedAs(completion.data!.request_id)).event, 'denied');
    });

    test(`${endpoint}: denied resources and prompts are still listed, as denied tools are`, async () => {
      const [resources, prompts] = await Promise.all([direct.listResources(), direct.listPrompts()]);
      assert.deepEqual((await agent().listResources()).resources, resources.resources);
      assert.deepEqual(
        (await agent().listPrompts()).prompts.map((p) => p.name),
        prompts.prompts.map((p) => prompt(p.name)),
      );
    });
  }

  test('tools keep their meaning: echo is allowed, an unlisted tool denied by default', async () => {
    assert.deepEqual(
      await clients.closed.callTool({ name: 'echo', arguments: { message: 'hi' } }),
      await direct.callTool({ name: 'echo', arguments: { message: 'hi' } }),
    );
    assertRefusal(await clients.closed.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } }), 'POLICY DENIED', {
      rule: 'default',
      tool: 'get-sum',
    });
  });
});

describe('resources and prompts sections', () => {
  for (const endpoint of ['/mcp/open', '/mcp'] as const) {
    const agent = () => (endpoint === '/mcp' ? clients.openAll : clients.open);
    const prompt = (name: string) => (endpoint === '/mcp' ? `open__${name}` : name);

    test(`${endpoint}: an allow glob lets exactly its resources through`, async () => {
      const uri = `${DOCS}/architecture.md`;
      assert.deepEqual(await agent().readResource({ uri }), await direct.readResource({ uri }));
      const templated = await agent().readResource({ uri: 'demo://resource/dynamic/text/4' });
      assert.match((templated.contents[0] as { text: string }).text, /^Resource 4: /);
      // `*` stops at "/": the folder's glob does not reach below it, and nothing else is allowed. On /mcp no
      // server lists or has a template for these, so Airlock answers Unknown resource before any policy.
      for (const uri of [`${DOCS}/sub/architecture.md`, 'demo://resource/static/other']) {
        if (endpoint === '/mcp')
          assert.equal((await rejection(agent().readResource({ uri }))).message, `MCP error -32602: Unknown resource: ${uri}`);
        else await assertDenied(agent().readResource({ uri }), { rule: 'default' });
      }
    });

    test(`${endpoint}: a denied resource is listed, and its read refused naming the glob`, async () => {
      const uri = `${DOCS}/features.md`;
      assert.ok((await agent().listResources()).resources.some((r) => r.uri === uri));
      const err = await assertDenied(agent().readResource({ uri }), { rule: 'resources.deny[0]', resource: uri, server: 'open' });
      assert.match(String(err.data!.reason), /denied by resources\.deny\[0\]/);
    });

    test(`${endpoint}: a hidden resource and template are not listed`, async () => {
      const [resources, templates] = await Promise.all([direct.listResources(), direct.listResourceTemplates()]);
      const hidden = `${DOCS}/structure.md`;
      assert.ok(
        resources.resources.some((r) => r.uri === hidden),
        'the server lists it',
      );
      assert.deepEqual(
        (await agent().listResources()).resources,
        resources.resources.filter((r) => r.uri !== hidden),
      );
      assert.deepEqual(
        (await agent().listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate),
        templates.resourceTemplates.map((t) => t.uriTemplate).filter((t) => !t.startsWith('demo://resource/dynamic/blob/')),
      );
    });

    test(`${endpoint}: a hidden resource is answered as one that does not exist, and audited as hidden`, async () => {
      const hidden = `${DOCS}/structure.md`;
      // On /mcp/:server the server answers for a URI it does not have; on /mcp, Airlock, for a URI no server lists.
      const missing = endpoint === '/mcp' ? 'nowhere://x' : `${DOCS}/no-such.md`;
      const expected = await rejection(agent().readResource({ uri: missing }));
      const got = await rejection(agent().readResource({ uri: hidden }));
      assert.deepEqual(
        { code: got.code, message: got.message, data: got.data },
        { code: expected.code, message: expected.message.replace(missing, hidden), data: expected.data },
      );
      const events = await waitForEvents(gateway.redis.url, 'the hidden read', (all) =>
        all.some((e) => e.event === 'hidden' && e.resource === hidden && e.method === 'resources/read'),
      );
      assert.equal(events.filter((e) => e.event === 'hidden' && e.resource === hidden).at(-1)?.rule, 'resources.hide[0]');
      const subscribe = await rejection(agent().subscribeResource({ uri: hidden }));
      assert.equal(subscribe.message, got.message);
    });

    test(`${endpoint}: completion of a hidden template answers as for one that does not exist`, async () => {
      const hidden = 'demo://resource/dynamic/blob/{resourceId}';
      const missing = endpoint === '/mcp' ? 'nowhere://{x}' : 'demo://resource/none/{resourceId}';
      const expected = await rejection(
        agent().complete({ ref: { type: 'ref/resource', uri: missing }, argument: { name: 'resourceId', value: '1' } }),
      );
      const got = await rejection(
        agent().complete({ ref: { type: 'ref/resource', uri: hidden }, argument: { name: 'resourceId', value: '1' } }),
      );
      assert.deepEqual([got.code, got.message], [expected.code, expected.message.replace(missing, hidden)]);
      const allowed = {
        ref: { type: 'ref/resource' as const, uri: 'demo://resource/dynamic/text/{resourceId}' },
        argument: { name: 'resourceId', value: '12' },
      };
      assert.deepEqual(await agent().complete(allowed), await direct.complete(allowed));
    });

    test(`${endpoint}: a URI that could be read as another is refused`, async () => {
      // Each matches the text template, so /mcp routes it to the server too.
      for (const uri of [
        'demo://resource/dynamic/text/..%2F..%2Fblob%2F1',
        'demo://resource/dynamic/text/%31',
        'demo://resource/dynamic/text/..',
      ]) {
        const err = await assertDenied(agent().readResource({ uri }), { rule: 'resources', resource: uri });
        assert.match(String(err.data!.reason), /plain form/);
      }
    });

    test(`${endpoint}: prompts: allowed, denied by default, hidden`, async () => {
      const names = (await agent().listPrompts()).prompts.map((p) => p.name);
      assert.deepEqual(
        names,
        (await direct.listPrompts()).prompts
          .map((p) => p.name)
          .filter((n) => n !== 'resource-prompt')
          .map(prompt),
      );
      assert.deepEqual(await agent().getPrompt({ name: prompt('simple-prompt') }), await direct.getPrompt({ name: 'simple-prompt' }));
      await assertDenied(agent().getPrompt({ name: prompt('args-prompt'), arguments: { city: 'Porto' } }), {
        rule: 'default',
        prompt: 'args-prompt',
      });

      const expected = await rejection(agent().getPrompt({ name: prompt('no-such-prompt') }));
      const got = await rejection(
        agent().getPrompt({ name: prompt('resource-prompt'), arguments: { resourceType: 'Text', resourceId: '1' } }),
      );
      // Nothing allows either name, so the one that does not exist is refused by default: the hidden one is too.
      const facts = (err: RpcError, name: string) =>
        JSON.parse(JSON.stringify({ ...err.data, request_id: undefined }).replaceAll(name, '<name>')) as unknown;
      assert.deepEqual(
        [got.code, got.message, facts(got, 'resource-prompt')],
        [expected.code, expected.message.replace('no-such-prompt', 'resource-prompt'), facts(expected, 'no-such-prompt')],
      );

      const completion = {
        ref: { type: 'ref/prompt' as const, name: prompt('completable-prompt') },
        argument: { name: 'department', value: 'M' },
      };
      assert.deepEqual(
        await agent().complete(completion),
        await direct.complete({ ...completion, ref: { type: 'ref/prompt', name: 'completable-prompt' } }),
      );
      const hiddenCompletion = await rejection(
        agent().complete({ ref: { type: 'ref/prompt', name: prompt('resource-prompt') }, argument: { name: 'resourceId', value: '1' } }),
      );
      assert.equal(hiddenCompletion.message, got.message);
    });
  }

  test('allowed reads and prompts are audited once each; allowed completions are not', async () => {
    const uri = `${DOCS}/how-it-works.md`;
    await clients.open.readResource({ uri });
    await clients.open.getPrompt({ name: 'simple-prompt' });
    await clients.open.complete({
      ref: { type: 'ref/prompt', name: 'completable-prompt' },
      argument: { name: 'department', value: 'Eng' },
    });
    await clients.open.callTool({ name: 'echo', arguments: { message: 'the last of these' } });
    const events = await waitForEvents(gateway.redis.url, 'the echo after them', (all) =>
      all.some((e) => e.tool === 'echo' && e.event === 'executed' && e.server === 'open'),
    );
    const read = events.filter((e) => e.resource === uri);
    assert.deepEqual(
      read.map((e) => [e.event, e.method, e.rule, e.decision]),
      [['allowed', 'resources/read', 'resources.allow[0]', 'allow']],
    );
    assert.ok(events.some((e) => e.event === 'allowed' && e.prompt === 'simple-prompt' && e.method === 'prompts/get'));
    assert.ok(!events.some((e) => e.method === 'completion/complete' && e.event === 'allowed'));
  });

  test('a huge URI with control characters is refused, and stored cut and escaped', async () => {
    const uri = `demo://resource/static/document/\u001b[2J${'a'.repeat(200_000)}`;
    const err = await assertDenied(clients.open.readResource({ uri }), { rule: 'resources' });
    assert.ok(err.message.length < 1_000, `the refusal is ${err.message.length} characters long`);
    assert.doesNotMatch(err.message, /\p{Cc}/u);
    const event = await auditedAs(err.data!.request_id);
    assert.ok(event.resource!.length <= 1_040, `stored ${event.resource!.length} characters`);
    assert.ok(event.resource!.startsWith('demo://resource/static/document/\\u001b[2Jaaa'), event.resource!.slice(0, 60));
    assert.ok(event.resource!.endsWith('…'));
    assert.doesNotMatch(event.reason!, /\p{Cc}/u);
    assert.equal(err.data!.resource, event.resource);
  });
});

describe('airlock audit', () => {
  const audit = (...argv: string[]) =>
    cli(['audit', ...argv, '-c', join(gateway.dir, 'airlock.yaml')], gateway.dir, { REDIS_URL: gateway.redis.url });

  test('--resource and --prompt find the requests for one resource or prompt; --tool does not list them', async () => {
    const uri = `${DOCS}/features.md`;
    const err = await assertDenied(clients.open.readResource({ uri }), { rule: 'resources.deny[0]' });
    await auditedAs(err.data!.request_id);
    const byResource = await audit('--resource', uri, '--json');
    assert.equal(byResource.code, 0, byResource.stderr);
    const events = (JSON.parse(byResource.stdout) as { events: AuditRecord[] }).events;
    assert.ok(events.some((e) => e.request_id === err.data!.request_id));
    assert.ok(
      events.every((e) => e.resource === uri && e.event === 'denied'),
      JSON.stringify(events),
    );

    const text = await audit('--resource', uri, '--decision', 'denied');
    assert.match(
      text.stdout,
      new RegExp(`denied +open resources/read ${uri.replaceAll('.', '\\.')} +grant=open-agent +rule=resources\\.deny\\[0\\]`),
    );

    const byPrompt = await audit('--prompt', 'args-prompt', '--json');
    assert.ok(
      (JSON.parse(byPrompt.stdout) as { events: AuditRecord[] }).events.every(
        (e) => e.prompt === 'args-prompt' && e.method === 'prompts/get',
      ),
    );
    const byTool = await audit('--tool', uri, '--json');
    assert.deepEqual((JSON.parse(byTool.stdout) as { events: AuditRecord[] }).events, []);
  });

  test('CSV export has method, resource and prompt columns', async () => {
    const csv = await audit('export', '--format', 'csv', '--resource', `${DOCS}/features.md`);
    const [columns, cells] = parseCsv(csv.stdout);
    for (const column of ['method', 'resource', 'prompt']) assert.ok(columns!.includes(column), columns!.join(','));
    assert.ok(cells, csv.stdout);
    assert.equal(cells[columns!.indexOf('resource')], `${DOCS}/features.md`);
    assert.equal(cells[columns!.indexOf('method')], 'resources/read');
  });
});
