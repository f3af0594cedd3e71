import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Redis } from 'ioredis';
import type { ApprovalRequest, ApprovalStatus } from '../../src/approvals/index.js';
import { builtInChannels, channelRefOf, type Channel, type ChannelKind } from '../../src/channels/index.js';
import { durationMs, loadConfig } from '../../src/config/index.js';
import { Gateway } from '../../src/gateway/index.js';
import { connectRedis } from '../../src/redis/index.js';
import { api } from '../support/approvals-api.js';
import { waitForEvents } from '../support/audit-stream.js';
import { configTree } from '../support/config-tree.js';
import { TEST_REDIS_TIMEOUT } from '../support/gateway.js';
import { track } from '../support/held-call.js';
import { captureLogger } from '../support/log.js';
import { FIXTURE_SERVER, TSX_LOADER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { assertRefusal, firstText } from '../support/refusal.js';

const AGENT = 'agent-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';

/** What a throwaway channel saw of one request's end. */
interface Told {
  id: string;
  state: string;
  reason: string | undefined;
  execution: string | undefined;
  /** Its own handle, as the status handed to `update` carries it. */
  ref: string | undefined;
}

/**
 * A channel that exists only in this test: what a new kind of channel is,
 * a class and its registry entry. It keeps what it was shown and told; one
 * made with `refuse` cannot show anything.
 */
class TrayChannel implements Channel {
  readonly routers = [];
  readonly posted: ApprovalRequest[] = [];
  readonly told: Told[] = [];
  closed = false;

  constructor(
    readonly name: string,
    private readonly refuse = false,
  ) {}

  async post(request: ApprovalRequest): Promise<string> {
    if (this.refuse) throw new Error(`the ${this.name} is full`);
    this.posted.push(request);
    return `${this.name}-${this.posted.length}`;
  }

  async update(request: ApprovalRequest, status: ApprovalStatus): Promise<void> {
    this.told.push({
      id: request.id,
      state: status.state,
      reason: status.reason,
      execution: status.execution?.result,
      ref: channelRefOf(status, this.name),
    });
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

function trayKind(name: string, refuse = false): { kind: ChannelKind; opened: TrayChannel[] } {
  const opened: TrayChannel[] = [];
  const kind: ChannelKind = {
    kind: name,
    open: async () => {
      const channel = new TrayChannel(name, refuse);
      opened.push(channel);
      return channel;
    },
  };
  return { kind, opened };
}

let testRedis: TestRedis;
let redis: Redis;
const log = captureLogger();
const stops: (() => Promise<void>)[] = [];

before(async () => {
  testRedis = await startRedis();
  // The client's own deadline is the backstop behind redis.timeout's, twice as long, as `airlock start` sets it.
  redis = await connectRedis({ url: testRedis.url, logger: log.logger, commandTimeoutMs: 2 * durationMs(TEST_REDIS_TIMEOUT) });
});
after(async () => {
  for (const stop of stops.reverse()) await stop();
  redis?.disconnect();
  await testRedis?.stop();
});

/**
 * A gateway in this process in front of the fixture server (`fx`, whose
 * `echo` needs approval), with the built-in channels and the given
 * throwaway kinds registered, and `approvals.channels: [listed]`; an SDK
 * client connected to it as the agent.
 */
async function start(listed: string[], kinds: ChannelKind[]): Promise<{ gateway: Gateway; client: Client; stop: () => Promise<void> }> {
  const channels = builtInChannels();
  for (const kind of kinds) channels.register(kind);
  const { file } = configTree(
    [
      'listen: { host: 127.0.0.1, port: 0 }',
      'servers:',
      '  fx:',
      `    command: ${process.execPath}`,
      `    args: [--import, ${TSX_LOADER}, ${FIXTURE_SERVER}]`,
      '    policy: fx.json',
      `grants:\n  - { name: agent, token: ${AGENT} }`,
      `admins:\n  - { name: alice, token: ${ALICE} }`,
      `approvals: { channels: [${listed.join(', ')}], timeout: 10m }`,
      `redis: { timeout: ${TEST_REDIS_TIMEOUT} }`,
      '',
    ].join('\n'),
    {
      'fx.json': JSON.stringify({
        version: '1',
        default: 'deny',
        tools: { echo: { action: 'require_approval', reason: 'Echoes need a person' } },
      }),
    },
  );
  const config = loadConfig(file, {}, { channels: channels.names });
  const gateway = await Gateway.start({ config, logger: log.logger, redis, channels });
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= gateway.stop());
  stops.push(stop);
  const client = new Client({ name: 'airlock-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL('/mcp/fx', gateway.url), { requestInit: { headers: { Authorization: `Bearer ${AGENT}` } } }),
  );
  stops.push(() => client.close().catch(() => undefined));
  return { gateway, client, stop };
}

const decide = (gateway: Gateway, id: string, verdict: 'approve' | 'reject', reason?: string) =>
  api(gateway.url, `/api/approvals/${id}/${verdict}`, ALICE, { method: 'POST', ...(reason !== undefined && { body: { reason } }) });

test('a channel registered through the registry receives a held call; approved from the console API, the call is released and the channel told what it answered', async () => {
  const tray = trayKind('tray');
  const { gateway, client, stop } = await start(['tray'], [tray.kind]);
  const [channel] = tray.opened;
  assert.ok(channel, 'the gateway opened the tray');

  const call = track(client.callTool({ name: 'echo', arguments: { text: 'through the tray' } }));
  await until('the held call shown in the tray', () => channel.posted.length === 1);
  const [request] = channel.posted;
  assert.equal(request?.server, 'fx');
  assert.equal(request?.tool, 'echo');
  assert.deepEqual(request?.arguments, { text: 'through the tray' });
  assert.equal(call.settled, false, 'the call waits for a decision');

  const answer = await decide(gateway, request!.id, 'approve');
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(firstText(await call.promise), 'through the tray');
  await until('the tray told the call ran', () => channel.told.some((t) => t.execution !== undefined));
  assert.deepEqual(channel.told.at(-1), { id: request!.id, state: 'approved', reason: undefined, execution: 'ok', ref: 'tray-1' });

  const events = await waitForEvents(testRedis.url, 'the approval audited', (all) =>
    all.some((e) => e.approval_id === request!.id && e.event === 'approved'),
  );
  const requested = events.find((e) => e.approval_id === request!.id && e.event === 'approval_requested');
  assert.equal(requested?.channel, 'tray', 'the audit trail names the channel the call was shown in');

  await stop();
  assert.equal(channel.closed, true, 'the gateway closes its channels when it stops');
});

test('with several channels a held call is shown in every one; each keeps its own handle and is told when a rejection ends it', async () => {
  const tray = trayKind('tray');
  const box = trayKind('box');
  const { gateway, client } = await start(['tray', 'box', 'console'], [tray.kind, box.kind]);
  const [trayChannel, boxChannel] = [tray.opened[0]!, box.opened[0]!];

  const call = track(client.callTool({ name: 'echo', arguments: { text: 'shown twice' } }));
  await until('the held call shown in both throwaway channels', () => trayChannel.posted.length === 1 && boxChannel.posted.length === 1);
  const id = trayChannel.posted[0]!.id;
  assert.equal(boxChannel.posted[0]?.id, id, 'one request, shown in both');
  assert.ok(
    log.lines.some((l) => l.approval_id === id && String(l.msg).startsWith('approval needed: fx/echo')),
    'and on the console',
  );

  const answer = await decide(gateway, id, 'reject', 'not today');
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const { text } = assertRefusal(await call.promise, 'APPROVAL REJECTED', { decision: 'rejected', approval_id: id });
  assert.match(text, /by alice: not today/);

  await until('both throwaway channels told of the rejection', () => trayChannel.told.length > 0 && boxChannel.told.length > 0);
  assert.deepEqual(trayChannel.told.at(-1), { id, state: 'rejected', reason: 'not today', execution: undefined, ref: 'tray-1' });
  assert.deepEqual(boxChannel.told.at(-1), { id, state: 'rejected', reason: 'not today', execution: undefined, ref: 'box-1' });
  assert.ok(
    log.lines.some((l) => l.approval_id === id && l.msg === `approval ${id} rejected by alice`),
    'the console says so too',
  );

  const events = await waitForEvents(testRedis.url, 'the rejection audited', (all) =>
    all.some((e) => e.approval_id === id && e.event === 'rejected'),
  );
  assert.equal(events.find((e) => e.approval_id === id && e.event === 'rejected')?.channel, 'tray, box, console');
});

test('when one channel cannot show a held call, the call is refused [UNAVAILABLE] naming it, and the request is withdrawn from the channels that showed it', async () => {
  const tray = trayKind('tray');
  const broken = trayKind('drawer', true);
  const { gateway, client } = await start(['tray', 'drawer'], [tray.kind, broken.kind]);
  const trayChannel = tray.opened[0]!;

  const result = await client.callTool({ name: 'echo', arguments: { text: 'never shown in the drawer' } });
  const { text, meta } = assertRefusal(result, 'UNAVAILABLE', { decision: 'unavailable' });
  assert.match(
    text,
    /could not be shown to reviewers in tray, drawer \(drawer: the drawer is full\)\. The call was not sent; retry later\./,
  );

  const id = String(meta.approval_id);
  assert.equal(trayChannel.posted[0]?.id, id);
  assert.deepEqual(trayChannel.told.at(-1), {
    id,
    state: 'withdrawn',
    reason: 'it could not be posted to drawer',
    execution: undefined,
    ref: 'tray-1',
  });
  const shown = await api(gateway.url, `/api/approvals/${id}`, ALICE);
  assert.equal(shown.body.approval?.state, 'withdrawn');
  const late = await decide(gateway, id, 'approve');
  assert.equal(late.status, 409, 'nobody can approve the refused call afterwards');
});
