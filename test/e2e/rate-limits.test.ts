import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LEASE_MS } from '../../src/limits/index.js';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Redis } from 'ioredis';
import { startGateway, startGateways, type RunningGateway } from '../support/gateway.js';
import { until } from '../support/poll.js';
import { RECORDING_ENTRY, RECORDING_SOURCE, recordingServer, upstreamCalls } from '../support/recording-upstream.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { assertRefusal, firstText } from '../support/refusal.js';

const TOKEN = 'agent-token-0123456789';
/** The seed policy's document, byte for byte. */
const SEED_POLICY = `{"version":"1","default":"deny","tools":{"start_dicom_export_job":{"limits":[{"counter":"start_dicom_export_job_rate","window":"minute","max":10,"scope":"grant"}]}}}`;

function config(servers: Record<string, string>, extra = ''): string {
  const list = Object.entries(servers).map(([name, policy]) => recordingServer(name, policy));
  return `servers:\n${list.join('')}grants:\n  - name: agent\n    token: ${TOKEN}\n${extra}`;
}

/** How many `tools/call` requests for `tool` the server `name` of `gateway` has received. */
const reached = (gateway: RunningGateway, name: string, tool: string): number => upstreamCalls(gateway, name, tool).length;

const echo = (client: Client, text: string) => client.callTool({ name: 'echo', arguments: { text } });

const FIXTURE_POLICY = JSON.stringify({
  version: '1',
  default: 'deny',
  tools: { echo: { limits: [{ counter: 'echo_calls', window: 'minute', max: 1000, scope: 'global' }] } },
});

let gateway: RunningGateway;
/** The gateway whose Redis the fault tests stop and pause, with a short redis.timeout to refuse by. */
let faulty: RunningGateway;
before(async () => {
  const files = {
    [RECORDING_ENTRY]: RECORDING_SOURCE,
    'seed.json': SEED_POLICY,
    'session.json': JSON.stringify({ version: '1', default: 'deny', tools: { echo: { rate_limit: { max: 2, window: 60 } } } }),
    'fixture.json': FIXTURE_POLICY,
  };
  const configs = [
    config({ seed: 'seed.json', session: 'session.json' }),
    config({ fixture: 'fixture.json' }, 'redis: { timeout: 300ms }\n'),
  ];
  [gateway, faulty] = (await startGateways(2, (i) => startGateway({ config: configs[i]!, files }))) as [RunningGateway, RunningGateway];
});
after(() => Promise.all([gateway?.stop(), faulty?.stop()]));

test('the seed policy: 10 exports a minute reach the server, the 11th is [RATE LIMITED] with a retry within 60 s', async () => {
  const client = await gateway.connect('/mcp/seed', TOKEN);
  for (let i = 0; i < 5; i++) assertRefusal(await client.callTool({ name: 'pid', arguments: {} }), 'POLICY DENIED', { decision: 'deny' });

  const results = [];
  for (let i = 0; i < 11; i++) results.push(await client.callTool({ name: 'start_dicom_export_job', arguments: { datastore: `ds-${i}` } }));
  const admitted = results.filter((r) => r.isError !== true && firstText(r).startsWith('export job')).length;
  const serverSaw = reached(gateway, 'seed', 'start_dicom_export_job');
  console.log(
    `seed policy: ${admitted} of 11 admitted, ${11 - admitted} refused; the server received ${serverSaw} exports and ${reached(gateway, 'seed', 'pid')} pid calls`,
  );
  assert.equal(admitted, 10, 'the 5 calls refused by policy first must not count against the limit');
  for (const r of results.slice(0, 10)) assert.match(firstText(r), /^export job /);

  const { text, meta } = assertRefusal(results[10], 'RATE LIMITED', {
    decision: 'rate_limited',
    counter: 'start_dicom_export_job_rate',
    scope: 'grant',
    max: 10,
    window: 'minute',
    tool: 'start_dicom_export_job',
  });
  const match = /^\[RATE LIMITED\] start_dicom_export_job_rate \(scope grant\) allows 10 calls per minute; retry in (\d+) s\.$/.exec(text);
  assert.ok(match, text);
  assert.ok(Number(match[1]) >= 1 && Number(match[1]) <= 60, text);
  assert.equal(typeof meta.retry_after_ms, 'number');
  assert.ok((meta.retry_after_ms as number) > 0 && (meta.retry_after_ms as number) <= 60_000, String(meta.retry_after_ms));
  assert.equal(serverSaw, 10);
  assert.equal(reached(gateway, 'seed', 'pid'), 0);
});

test("session scope: two MCP sessions of one grant each get the rate_limit shorthand's 2 calls", async () => {
  const sessions = [await gateway.connect('/mcp/session', TOKEN), await gateway.connect('/mcp/session', TOKEN)];
  const admitted: number[] = [];
  for (const [s, client] of sessions.entries()) {
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await echo(client, `s${s}-${i}`));
    admitted.push(results.filter((r, i) => r.isError !== true && firstText(r) === `s${s}-${i}`).length);
    assertRefusal(results[2], 'RATE LIMITED', { decision: 'rate_limited', counter: 'echo_rate', scope: 'session', max: 2, window: 60 });
  }
  assertRefusal(await echo(sessions[0]!, 'again'), 'RATE LIMITED', { counter: 'echo_rate', scope: 'session' });
  console.log(
    `session scope: admitted ${admitted.join(' and ')} of 3 per session; the server received ${reached(gateway, 'session', 'echo')}`,
  );
  assert.deepEqual(admitted, [2, 2]);
  assert.equal(reached(gateway, 'session', 'echo'), 4);
});

test('Redis killed: calls are refused [UNAVAILABLE] at once and never reach the server; Redis back: admitted again, no restart', async () => {
  const client = await faulty.connect('/mcp/fixture', TOKEN);
  assert.equal(firstText(await echo(client, 'before')), 'before');
  const pid = faulty.process.pid;
  const before = reached(faulty, 'fixture', 'echo');
  await faulty.redis.restart(async () => {
    const { text } = assertRefusal(await echo(client, 'while down'), 'UNAVAILABLE', { decision: 'unavailable', tool: 'echo' });
    // At once: refused because the connection is gone, not after waiting out redis.timeout for an answer.
    assert.doesNotMatch(text, /did not answer within/);
    assert.equal(reached(faulty, 'fixture', 'echo'), before, 'nothing reaches the server while Redis is down');
  });

  let refusedWhileReconnecting = 0;
  await until(
    'a call to be admitted once Redis is back',
    async () => {
      const result = await echo(client, 'after');
      if (result.isError === true) refusedWhileReconnecting++;
      return firstText(result) === 'after';
    },
    30_000,
    50,
  );
  console.log(`Redis back: admitted again after ${refusedWhileReconnecting} refusals while reconnecting`);
  assert.equal(reached(faulty, 'fixture', 'echo'), before + 1);
  assert.equal(faulty.process.pid, pid);
  assert.equal(faulty.process.exitCode, null);
});

test('Redis paused (SIGSTOP): a call is refused [UNAVAILABLE] once redis.timeout (300 ms) has passed, while Redis is still paused, then admitted once it resumes', async () => {
  const client = await faulty.connect('/mcp/fixture', TOKEN);
  // After the calls of the test before, the counter is left idle for a while: 'before' is then charged on its own,
  // with no slot charged ahead to admit the next call and no top-up on its way whose deadline that call would share.
  await sleep(3 * LEASE_MS);
  assert.equal(firstText(await echo(client, 'before')), 'before');
  const before = reached(faulty, 'fixture', 'echo');
  let pausedMs: number;
  faulty.redis.pause();
  try {
    const started = performance.now();
    const { text } = assertRefusal(await echo(client, 'while paused'), 'UNAVAILABLE', { decision: 'unavailable' });
    pausedMs = performance.now() - started;
    assert.match(text, /Redis did not answer within 300 ms/);
  } finally {
    faulty.redis.resume();
  }
  console.log(`Redis paused: [UNAVAILABLE] after ${Math.round(pausedMs)} ms (redis.timeout 300 ms, default 500 ms)`);
  assert.ok(pausedMs >= 280, `refused after ${pausedMs} ms, before redis.timeout`);
  assert.equal(reached(faulty, 'fixture', 'echo'), before);
  await until('a call to be admitted once Redis resumes', async () => firstText(await echo(client, 'after')) === 'after', 30_000, 50);
  assert.equal(reached(faulty, 'fixture', 'echo'), before + 1);
});

interface Tally {
  admitted: number;
  limited: number;
  unavailable: number;
  serverSaw: number;
  /** What the counter holds once both gateways have stopped (given back the slots they charged ahead). */
  counted: number;
  refusal: unknown;
}

/** Two gateways on one Redis with a global limit of `max` on echo: `drive` makes the calls over their sessions. */
async function onTwoGateways(
  max: number,
  sessionsEach: number,
  drive: (sessions: Client[]) => Promise<{ result: Awaited<ReturnType<typeof echo>>; text: string }[]>,
): Promise<Tally> {
  const shared: TestRedis = await startRedis();
  const policy = JSON.stringify({
    version: '1',
    default: 'deny',
    tools: { echo: { limits: [{ counter: 'echo_global', window: 'minute', max, scope: 'global' }] } },
  });
  const options = {
    config: config({ fixture: 'fixture.json' }),
    files: { [RECORDING_ENTRY]: RECORDING_SOURCE, 'fixture.json': policy },
    redis: shared,
  };
  const gateways = await Promise.all([startGateway(options), startGateway(options)]);
  try {
    const sessions = await Promise.all(
      gateways.flatMap((g) => Array.from({ length: sessionsEach }, () => g.connect('/mcp/fixture', TOKEN))),
    );
    const results = await drive(sessions);
    const serverSaw = gateways.reduce((n, g) => n + reached(g, 'fixture', 'echo'), 0);
    await Promise.all(gateways.map((g) => g.stop()));
    const counted = await countOf(shared, '{airlock}:limit:global:-:echo_global');
    return {
      admitted: results.filter(({ result, text }) => result.isError !== true && firstText(result) === text).length,
      limited: results.filter(({ result }) => firstText(result).startsWith('[RATE LIMITED] ')).length,
      unavailable: results.filter(({ result }) => firstText(result).startsWith('[UNAVAILABLE] ')).length,
      serverSaw,
      counted,
      refusal: results.find(({ result }) => result.isError === true)?.result,
    };
  } finally {
    await Promise.all(gateways.map((g) => g.stop()));
    await shared.stop();
  }
}

async function countOf(server: TestRedis, key: string): Promise<number> {
  const redis = new Redis(server.url, { lazyConnect: true });
  try {
    await redis.connect();
    return await redis.zcard(key);
  } finally {
    redis.disconnect();
  }
}

test('two gateways on one Redis: 500 concurrent calls against a global max of 50 admit exactly 50', async () => {
  // 10 sessions per gateway, 25 calls in flight on each.
  const tally = await onTwoGateways(50, 10, (sessions) =>
    Promise.all(
      sessions.flatMap((client, s) =>
        Array.from({ length: 25 }, (_, i) => echo(client, `call ${s}-${i}`).then((result) => ({ result, text: `call ${s}-${i}` }))),
      ),
    ),
  );
  console.log(
    `two gateways: ${tally.admitted} admitted, ${tally.limited} [RATE LIMITED], ${tally.unavailable} [UNAVAILABLE] of 500; the servers received ${tally.serverSaw}`,
  );
  assert.equal(
    tally.unavailable,
    0,
    'calls were answered [UNAVAILABLE] though Redis was up: a gateway took its own stall for a slow Redis',
  );
  assert.equal(tally.admitted, 50);
  assert.equal(tally.limited, 450);
  assert.equal(tally.serverSaw, 50);
  assertRefusal(tally.refusal, 'RATE LIMITED', {
    decision: 'rate_limited',
    counter: 'echo_global',
    scope: 'global',
    max: 50,
    window: 'minute',
  });
});

const loops =
  (callsEach: number) =>
  async (sessions: Client[]): Promise<{ result: Awaited<ReturnType<typeof echo>>; text: string }[]> => {
    const results: { result: Awaited<ReturnType<typeof echo>>; text: string }[] = [];
    await Promise.all(
      sessions.map(async (client, s) => {
        for (let i = 0; i < callsEach; i++) results.push({ result: await echo(client, `loop ${s}-${i}`), text: `loop ${s}-${i}` });
      }),
    );
    return results;
  };

test('two gateways on one Redis: runaway loops against a global max of 640 (charged ahead) admit exactly 640', async () => {
  // 4 sessions per gateway, each calling in a loop as fast as answers come: busy enough for slots to be charged ahead.
  const tally = await onTwoGateways(640, 4, loops(120));
  console.log(
    `runaway loops: ${tally.admitted} admitted, ${tally.limited} [RATE LIMITED], ${tally.unavailable} [UNAVAILABLE] of 960; the servers received ${tally.serverSaw}`,
  );
  assert.equal(tally.unavailable, 0);
  assert.equal(tally.admitted, 640);
  assert.equal(tally.limited, 320);
  assert.equal(tally.serverSaw, 640);
  assert.equal(tally.counted, 640);
});

test('two gateways on one Redis: loops far below max leave the counter holding exactly the calls made once the gateways stop', async () => {
  const tally = await onTwoGateways(100_000, 4, loops(60));
  assert.equal(tally.admitted, 480);
  assert.equal(tally.counted, 480, 'slots charged ahead and never used are given back');
});
