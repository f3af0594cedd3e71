import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startGateway, startGateways, type RunningGateway } from '../support/gateway.js';
import { startHaproxy, type RunningHaproxy } from '../support/haproxy.js';
import { TSX_LOADER, V2_FIXTURE_SERVER } from '../support/mcp-servers.js';
import { startRedis, type TestRedis } from '../support/redis.js';

/**
 * Two `airlock start` processes on one Redis behind HAProxy, round robin,
 * no stickiness: what a platform team runs. Each instance has its own
 * upstream process, so the `pid` tool tells which instance served a call.
 */
const AGENT = 'agent-token-0123456789abcdef';
const CONFIG = [
  'servers:',
  '  fx:',
  `    command: ${process.execPath}`,
  `    args: [--import, ${TSX_LOADER}, ${V2_FIXTURE_SERVER}]`,
  '    protocol: 2025-11-25',
  '    policy: policy.json',
  'grants:',
  `  - { name: agent, token: ${AGENT} }`,
  '',
].join('\n');
const FILES = { 'policy.json': JSON.stringify({ version: '1', default: 'allow' }) };

let redis: TestRedis;
let instances: RunningGateway[];
let haproxy: RunningHaproxy;

before(async () => {
  redis = await startRedis();
  instances = await startGateways(2, () => startGateway({ config: CONFIG, files: FILES, redis }));
  haproxy = await startHaproxy(instances.map((g) => g.url));
});
after(async () => {
  await haproxy?.stop();
  await Promise.all((instances ?? []).map((g) => g.stop()));
  await redis?.stop();
});

const opened = () => instances.flatMap((g) => g.logs.filter((l) => l.msg === 'session opened'));

test('a v1 SDK client behind HAProxy: 100 calls alternate between the instances and all succeed; the instance that opened the session is SIGKILLed and the next 20 succeed on the same session', async () => {
  const transport = new StreamableHTTPClientTransport(new URL('/mcp/fx', haproxy.url), {
    requestInit: { headers: { Authorization: `Bearer ${AGENT}` } },
  });
  const client = new Client({ name: 'haproxy-test', version: '1.0.0' });
  await client.connect(transport);
  const id = transport.sessionId;
  assert.ok(id);

  const served = new Map<string, number>();
  const call = async () => {
    const result = await client.callTool({ name: 'pid', arguments: {} });
    assert.notEqual(result.isError, true, JSON.stringify(result));
    const pid = (result.content as { text: string }[])[0]!.text;
    served.set(pid, (served.get(pid) ?? 0) + 1);
    return pid;
  };
  const started = performance.now();
  for (let i = 0; i < 100; i++) await call();
  const hundredMs = performance.now() - started;
  const split = [...served.values()];
  // Round robin without stickiness: both instances served calls, about half each (the GET stream and notifications take turns too).
  assert.equal(served.size, 2, `calls by upstream pid: ${JSON.stringify([...served])}`);
  for (const [pid, count] of served) assert.ok(count >= 30, `instance with upstream ${pid} served ${count} of 100`);
  assert.equal(transport.sessionId, id);
  assert.equal(opened().length, 1, 'one initialize reached an instance');

  const owner = instances.find((g) => g.logs.some((l) => l.msg === 'session opened' && l.session === id))!;
  const survivor = instances.find((g) => g !== owner)!;
  owner.process.kill('SIGKILL');
  await new Promise((resolve) => owner.process.once('exit', resolve));

  served.clear();
  const afterKill = performance.now();
  for (let i = 0; i < 20; i++) await call();
  const twentyMs = performance.now() - afterKill;
  assert.equal(served.size, 1, `after the kill every call is served by the survivor: ${JSON.stringify([...served])}`);
  assert.equal(transport.sessionId, id, 'the client did not re-initialise');
  assert.equal(opened().length, 1, 'no second initialize reached any instance');
  assert.ok(survivor.logs.some((l) => l.msg === 'session rebuilt from its record (opened on another instance)' && l.session === id));
  console.log(
    `100 calls through HAProxy: ${hundredMs.toFixed(0)} ms, served ${split.join(' / ')}; 20 calls after the SIGKILL: ${twentyMs.toFixed(0)} ms`,
  );
  await client.close();
});
