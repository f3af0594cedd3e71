import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { streamEvents, waitForEvents, withRedis, AUDIT_STREAM } from '../support/audit-stream.js';
import { FIXTURE_ADMIN, FIXTURE_AGENT, startFixtureGateway } from '../support/fixture-gateway.js';
import type { RunningGateway } from '../support/gateway.js';
import { metricValue, scrape } from '../support/prometheus.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { until } from '../support/poll.js';
import { assertRefusal } from '../support/refusal.js';

const POLICY = { version: '1', default: 'deny', tools: { echo: {}, pid: { action: 'deny', reason: 'No pids today' } } };
const HUGE = `t${'x'.repeat(900 * 1024)}`;

let redis: TestRedis;
let gateway: RunningGateway;
let client: Client;

before(async () => {
  redis = await startRedis();
  gateway = await startFixtureGateway(POLICY, 'audit: { file: ./audit.jsonl }', redis);
  client = await gateway.connect('/mcp/fx', FIXTURE_AGENT);
});
after(async () => {
  await gateway?.stop();
  await redis?.stop();
});

const usedMemory = () => withRedis(redis.url, async (r) => Number(/used_memory:(\d+)/.exec(await r.info('memory'))?.[1]));
const logBytes = () => gateway.logs.reduce((n, line) => n + JSON.stringify(line).length, 0);

test('100 calls with a 900 KB tool name are refused as unknown, with the name cut; Redis, the mirror and the logs grow by less than 1 MB', async () => {
  await client.callTool({ name: 'echo', arguments: { text: 'warm up' } });
  await waitForEvents(redis.url, 'the warm-up call', (events) => events.some((e) => e.event === 'executed'));
  const [memoryBefore, logsBefore] = [await usedMemory(), logBytes()];
  for (let i = 0; i < 100; i++) {
    await assert.rejects(client.callTool({ name: HUGE, arguments: {} }), (err: unknown) => {
      assert.ok(err instanceof McpError, String(err));
      assert.equal(err.code, -32602);
      assert.match(err.message, /Unknown tool: tx{255}…\[921345 more characters\]$/);
      return true;
    });
  }
  const events = await waitForEvents(redis.url, 'the first refusal', (all) => all.some((e) => e.rule === 'tool_name_length'));
  const refusals = events.filter((e) => e.rule === 'tool_name_length');
  assert.equal(refusals.length, 1, 'the first is audited in full; the rest are counted for a summary');
  assert.ok(refusals[0]!.tool!.length < 300, `the stored tool name is cut (${refusals[0]!.tool!.length} characters)`);
  assert.match(refusals[0]!.tool!, /…\[\d+ more characters\]$/);
  const grown = (await usedMemory()) - memoryBefore;
  console.log(
    `100 refused calls with a 900 KB tool name: Redis used_memory grew ${grown} bytes, the logs ${logBytes() - logsBefore} bytes`,
  );
  assert.ok(grown < 1024 * 1024, `Redis grew ${grown} bytes`);
  assert.ok(logBytes() - logsBefore < 1024 * 1024, 'the log lines are bounded too');
  const mirror = join(gateway.dir, 'audit.jsonl');
  await until('the mirror to copy the refusal', () => existsSync(mirror) && readFileSync(mirror, 'utf8').includes('tool_name_length'));
  assert.ok(readFileSync(mirror).length < 64 * 1024, `the mirror holds ${readFileSync(mirror).length} bytes`);
  const samples = (await scrape(gateway.url, FIXTURE_ADMIN)).samples;
  assert.equal(
    metricValue(samples, 'airlock_calls_total', { server: 'fx', tool: '(unknown)', decision: 'unknown' }),
    100,
    'metrics count every call',
  );
});

test('repeated refusals from one grant: the first of each kind is audited in full, the rest counted into one summary, each still counted in metrics', async () => {
  for (let i = 0; i < 30; i++)
    assertRefusal(await client.callTool({ name: 'pid', arguments: { n: i } }), 'POLICY DENIED', { decision: 'deny', rule: 'tools.pid' });
  // Another kind (a tool the policy does not list) is audited in full too.
  assertRefusal(await client.callTool({ name: 'sleep', arguments: { ms: 1 } }), 'POLICY DENIED', { decision: 'deny', rule: 'default' });
  const events = await waitForEvents(
    redis.url,
    'the first denial of each kind',
    (all) => all.some((e) => e.rule === 'tools.pid') && all.some((e) => e.rule === 'default'),
  );
  assert.equal(events.filter((e) => e.rule === 'tools.pid').length, 1);
  const samples = (await scrape(gateway.url, FIXTURE_ADMIN)).samples;
  assert.equal(metricValue(samples, 'airlock_calls_total', { server: 'fx', tool: 'pid', decision: 'denied' }), 30);
  const info = gateway.logs.filter((l) => l.msg === 'call denied by policy' && l.rule === 'tools.pid');
  assert.equal(info.length, 1, 'and logged once at info (the rest at debug)');
});

test('at shutdown the counted refusals are written as one summary event each, naming how many, when and which tools', async () => {
  await gateway.stop();
  const summaries = (await streamEvents(redis.url)).filter((e) => /^\d+ more calls? /.test(e.reason ?? ''));
  const pid = summaries.find((e) => e.rule === 'tools.pid');
  assert.ok(pid, JSON.stringify(summaries));
  assert.match(
    pid.reason ?? '',
    /^29 more calls denied the same way \(grant agent, rule tools\.pid\) from \d{4}-.* to \d{4}-.*, not audited one by one/,
  );
  assert.deepEqual([pid.event, pid.grant, pid.server, pid.detail], ['denied', 'agent', 'fx', 'tools: pid']);
  const long = summaries.find((e) => e.rule === 'tool_name_length');
  assert.match(long?.reason ?? '', /^99 more calls denied the same way/);
  assert.ok((long?.detail ?? '').length < 400, 'the tools it names are cut too');
  const raw = await withRedis(redis.url, (r) => r.xrange(AUDIT_STREAM, '-', '+'));
  assert.ok(JSON.stringify(raw).length < 64 * 1024, 'the whole trail stays small');
});
