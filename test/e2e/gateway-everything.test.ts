/**
 * The reference server `@modelcontextprotocol/server-everything` behind
 * Airlock: everything besides tool calls (resources, templates, prompts,
 * completion) passes through unchanged, progress and cancellation work, and
 * the server's own notifications reach the agent, and what its sampling and
 * elicitation tools ask reaches the agent that called them. The server offers
 * those tools only to a client that declares the capabilities, as Airlock
 * does on a stdio server's shared process (never roots, see the docs), so the
 * direct client declares the same.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  type ReadResourceResult,
} from '@modelcontextprotocol/sdk/types.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { EVERYTHING_SERVER } from '../support/mcp-servers.js';
import { until, within } from '../support/poll.js';

const HIDDEN = ['get-env', 'simulate-research-query'];
const POLICY = `version: "1"\ndefault: allow\nhide: ${JSON.stringify(HIDDEN)}\n`;

let gateway: RunningGateway;
let direct: Client;
let proxied: Client;

before(async () => {
  [gateway, direct] = await Promise.all([
    startGateway({
      config: `servers:\n  everything:\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(EVERYTHING_SERVER)}, stdio]\n    policy: everything.yaml\n`,
      files: { 'everything.yaml': POLICY },
    }),
    connectDirect(),
  ]);
  proxied = await gateway.connect('/mcp/everything');
});
after(async () => {
  await direct?.close();
  await gateway?.stop();
});

/** The same server, reached without Airlock, for the expected answers. */
async function connectDirect(): Promise<Client> {
  const client = new Client({ name: 'direct', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: { form: {}, url: {} } } });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [EVERYTHING_SERVER, 'stdio'], stderr: 'ignore' }));
  return client;
}

/** Dynamic resources carry the time they were made (`... created at 10:41:07 AM`): everything else must match. */
function withoutTimestamps(result: ReadResourceResult): ReadResourceResult {
  return {
    ...result,
    contents: result.contents.map((c) => ('text' in c ? { ...c, text: c.text.replace(/created at .*$/, 'created at <time>') } : c)),
  };
}

describe('passes through unchanged', () => {
  test('tools/list shows the server’s tools minus the hidden ones', async () => {
    const expected = (await direct.listTools()).tools.filter((t) => !HIDDEN.includes(t.name));
    const { tools } = await proxied.listTools();
    assert.ok(expected.some((t) => t.name === 'echo'));
    assert.deepEqual(tools, expected);
  });

  test('resources/list', async () => {
    const expected = await direct.listResources();
    assert.ok(expected.resources.length > 0);
    assert.deepEqual(await proxied.listResources(), expected);
  });

  test('resources/templates/list', async () => {
    const expected = await direct.listResourceTemplates();
    assert.ok(expected.resourceTemplates.some((t) => t.uriTemplate === 'demo://resource/dynamic/text/{resourceId}'));
    assert.deepEqual(await proxied.listResourceTemplates(), expected);
  });

  test('resources/read of a listed resource', async () => {
    const uri = (await direct.listResources()).resources[0]!.uri;
    const expected = await direct.readResource({ uri });
    assert.ok(expected.contents.length > 0);
    assert.deepEqual(await proxied.readResource({ uri }), expected);
  });

  test('resources/read of a templated resource (timestamps masked)', async () => {
    const uri = 'demo://resource/dynamic/text/7';
    const [got, expected] = await Promise.all([proxied.readResource({ uri }), direct.readResource({ uri })]);
    assert.match((got.contents[0] as { text: string }).text, /^Resource 7: This is a plaintext resource created at /);
    assert.deepEqual(withoutTimestamps(got), withoutTimestamps(expected));
  });

  test('resources/read of a URI the server rejects answers the server’s own error', async () => {
    const uri = 'demo://resource/dynamic/text/0';
    const expected = await direct.readResource({ uri }).then(
      () => assert.fail('the server accepted resource id 0'),
      (err: { code: number; message: string }) => err,
    );
    await assert.rejects(proxied.readResource({ uri }), (err: { code: number; message: string }) => {
      assert.equal(err.code, expected.code);
      assert.equal(err.message, expected.message);
      return true;
    });
  });

  test('prompts/list', async () => {
    const expected = await direct.listPrompts();
    assert.ok(expected.prompts.some((p) => p.name === 'args-prompt'));
    assert.deepEqual(await proxied.listPrompts(), expected);
  });

  test('prompts/get with arguments', async () => {
    const params = { name: 'args-prompt', arguments: { city: 'Lisbon', state: 'Lisboa' } };
    const expected = await direct.getPrompt(params);
    assert.match(JSON.stringify(expected), /What's weather in Lisbon, Lisboa\?/);
    assert.deepEqual(await proxied.getPrompt(params), expected);
  });

  test('completion/complete of a prompt argument, with context', async () => {
    const cases = [
      { ref: { type: 'ref/prompt' as const, name: 'completable-prompt' }, argument: { name: 'department', value: 'S' } },
      {
        ref: { type: 'ref/prompt' as const, name: 'completable-prompt' },
        argument: { name: 'name', value: '' },
        context: { arguments: { department: 'Sales' } },
      },
    ];
    for (const params of cases) {
      const expected = await direct.complete(params);
      assert.ok(expected.completion.values.length > 0, JSON.stringify(params));
      assert.deepEqual(await proxied.complete(params), expected);
    }
  });

  test('completion/complete of a resource template variable', async () => {
    const params = {
      ref: { type: 'ref/resource' as const, uri: 'demo://resource/dynamic/text/{resourceId}' },
      argument: { name: 'resourceId', value: '12' },
    };
    const expected = await direct.complete(params);
    assert.deepEqual(expected.completion.values, ['12']);
    assert.deepEqual(await proxied.complete(params), expected);
  });
});

describe('questions the server asks mid-call', () => {
  test("its sampling and elicitation tools reach the calling agent's model and user, and get their answers", async () => {
    const agent = new Client({ name: 'asked', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: {} } });
    const prompts: string[] = [];
    agent.setRequestHandler(CreateMessageRequestSchema, async (request) => {
      prompts.push(JSON.stringify(request.params.messages));
      return { role: 'assistant', content: { type: 'text', text: 'a sampled answer' }, model: 'test-model' };
    });
    agent.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'decline' }));
    await agent.connect(new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp/everything`)));
    try {
      const sampled = await agent.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'the sea', maxTokens: 20 } });
      assert.match(JSON.stringify(sampled.content), /a sampled answer/);
      assert.match(prompts.join(), /the sea/);
      const elicited = await agent.callTool({ name: 'trigger-elicitation-request', arguments: {} });
      assert.match(JSON.stringify(elicited.content), /declined/);
    } finally {
      await agent.close();
    }
  });
});

describe('long calls', () => {
  test('progress notifications reach the client, in order, before the result', async () => {
    const steps = 5;
    const call = async (client: Client) => {
      const progress: Progress[] = [];
      const result = await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.5, steps } }, undefined, {
        onprogress: (p) => progress.push(p),
        resetTimeoutOnProgress: true,
      });
      return { progress, result };
    };
    const [got, expected] = await Promise.all([call(proxied), call(direct)]);
    // The server sends its last progress right before the result. SDK 1.32's client dispatches a notification a
    // microtask later than a response that arrives in the same read, so that last one can be dropped ("unknown
    // token", typescript-sdk#2580) by any SDK client on the way, Airlock's upstream client included, and by the
    // direct client too. Every other one must arrive, in order, with its total.
    const all = Array.from({ length: steps }, (_, i) => ({ progress: i + 1, total: steps }));
    assert.ok(got.progress.length >= steps - 1, `${got.progress.length} of ${steps} progress notifications arrived`);
    assert.deepEqual(got.progress, all.slice(0, got.progress.length));
    assert.deepEqual(expected.progress, all.slice(0, expected.progress.length));
    assert.deepEqual(got.result, expected.result);
    assert.match(JSON.stringify(got.result), /Long running operation completed/);
  });

  test('a call the client cancels rejects at once and the gateway keeps serving', async () => {
    const controller = new AbortController();
    let firstProgress!: () => void;
    const started = new Promise<void>((resolve) => (firstProgress = resolve));
    let progressed = 0;
    const call = proxied.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 10, steps: 100 } }, undefined, {
      signal: controller.signal,
      onprogress: () => (progressed++, firstProgress()),
    });
    // Abort once the upstream is demonstrably running the call.
    await within(30_000, 'the first progress notification', started);
    controller.abort(new Error('the agent gave up'));
    await assert.rejects(call, /the agent gave up/);
    assert.ok(progressed < 100, `the cancelled call did not wait for the operation's 100 steps (${progressed} came)`);
    // Logged as the agent's doing, not as the server's failure.
    await until(
      'the cancellation in the log',
      () => gateway.logs.some((l) => l.msg === 'call cancelled by the client' && l.tool === 'trigger-long-running-operation'),
      30_000,
    );
    assert.equal(gateway.logs.filter((l) => l.msg === 'upstream unavailable').length, 0);

    assert.deepEqual(
      await proxied.callTool({ name: 'echo', arguments: { message: 'still here' } }),
      await direct.callTool({ name: 'echo', arguments: { message: 'still here' } }),
    );
    // A second session opened afterwards is served too.
    const other = await gateway.connect('/mcp/everything');
    assert.deepEqual(await other.callTool({ name: 'echo', arguments: { message: 'new session' } }), {
      content: [{ type: 'text', text: 'Echo: new session' }],
    });
  });
});

/**
 * The server acknowledges a subscription with a log message. The client opens its
 * notification stream in the background after connecting, so subscribe until one arrives.
 */
async function subscribeUntilAcknowledged(client: Client, uri: string, messages: string[]): Promise<void> {
  await until(
    'the subscription acknowledgement',
    async () => {
      await client.subscribeResource({ uri });
      return messages.some((m) => m.startsWith(`Received Subscribe Resource request for URI: ${uri}`));
    },
    30_000,
    100,
  );
}

describe('upstream notifications', () => {
  test('log messages and resource updates the server sends reach the client through Airlock', async () => {
    const client = await gateway.connect('/mcp/everything');
    const messages: string[] = [];
    const updated: string[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void messages.push(String(n.params.data)));
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updated.push(n.params.uri));

    const uri = (await client.listResources()).resources[0]!.uri;
    await subscribeUntilAcknowledged(client, uri, messages);

    // The server then sends notifications/resources/updated for it at once, and every 5 s.
    const toggle = () => client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
    assert.match(JSON.stringify(await toggle()), /Started simulated resource updated notifications/);
    try {
      await until('notifications/resources/updated', () => updated.includes(uri));
    } finally {
      await toggle();
      await client.unsubscribeResource({ uri });
    }
  });

  test('a resource update reaches only the sessions that subscribed to it', async () => {
    const subscriber = await gateway.connect('/mcp/everything');
    const bystander = await gateway.connect('/mcp/everything');
    const acknowledged: string[] = [];
    const updated = { subscriber: [] as string[], bystander: [] as string[] };
    subscriber.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void acknowledged.push(String(n.params.data)));
    subscriber.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updated.subscriber.push(n.params.uri));
    bystander.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updated.bystander.push(n.params.uri));
    // The bystander's session is set up and answering before any update is sent.
    await bystander.ping();

    const uri = (await subscriber.listResources()).resources[0]!.uri;
    await subscribeUntilAcknowledged(subscriber, uri, acknowledged);
    const toggle = () => subscriber.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
    await toggle();
    try {
      await until('the subscriber to get the update', () => updated.subscriber.includes(uri));
      // The server sends its updates to Airlock's one upstream connection; the bystander never asked.
      await bystander.ping();
      assert.deepEqual(updated.bystander, []);
    } finally {
      await toggle();
      await subscriber.unsubscribeResource({ uri });
    }
  });

  test('simulated logging reaches the client', async () => {
    const client = await gateway.connect('/mcp/everything');
    const messages: string[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void messages.push(String(n.params.data)));
    const toggle = () => client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
    assert.match(JSON.stringify(await toggle()), /Started simulated, random-leveled logging/);
    try {
      // One message at once, then one every 5 s: the first may go out before the client's stream is open.
      await until('a simulated log message', () => messages.some((m) => /level[- ]message/i.test(m)));
    } finally {
      await toggle();
    }
  });
});
