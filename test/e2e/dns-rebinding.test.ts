import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { pendingFor } from '../support/approvals-api.js';
import { streamEvents, type AuditRecord } from '../support/audit-stream.js';
import { FIXTURE_ADMIN, FIXTURE_AGENT, startFixtureGateway } from '../support/fixture-gateway.js';
import type { RunningGateway } from '../support/gateway.js';
import { assertStillHeld, track, type Tracked } from '../support/held-call.js';
import { until } from '../support/poll.js';
import { metricValue, scrape } from '../support/prometheus.js';
import { INITIALIZE, MCP_HEADERS } from '../support/raw-mcp.js';
import { httpRequest, rawExchange, type HttpAnswer } from '../support/raw-http.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const EVIL = 'evil.example.com';
const POLICY = { version: '1', default: 'allow', tools: { sleep: { action: 'require_approval', reason: 'Sleeping needs a person' } } };
const LISTEN =
  'listen: { host: 127.0.0.1, port: 0, allowed_hosts: [airlock.test, "gw.test:8443"] }\nmetrics: { listen: { host: 127.0.0.1, port: 0 } }';

let redis: TestRedis;
let gateway: RunningGateway;
let agent: Client;
let held: Tracked<unknown>;
let approvalId: string;
let port: string;
let metricsUrl: string;
/** Every refusal this file provoked, by the header refused: the metrics and the audit must account for each. */
const refused = { host: 0, origin: 0 };

before(async () => {
  redis = await startRedis();
  gateway = await startFixtureGateway(POLICY, LISTEN, redis);
  port = new URL(gateway.url).port;
  metricsUrl = String(gateway.logs.find((l) => l.msg === 'metrics listening')?.url).replace(/\/metrics$/, '');
  agent = await gateway.connect('/mcp/fx', FIXTURE_AGENT);
  held = track(agent.callTool({ name: 'sleep', arguments: { ms: 1 } }));
  approvalId = (await pendingFor(gateway.url, FIXTURE_ADMIN, 'sleep')).id;
});
after(async () => {
  await gateway?.stop();
  await redis?.stop();
});

type Shape = 'json-rpc' | 'api';

/** An MCP initialize on `path` (`/mcp/fx` by default) with the agent's token and the given headers. */
function initialize(headers: Record<string, string> | string[], path = '/mcp/fx'): Promise<HttpAnswer> {
  const base = Array.isArray(headers) ? headers : Object.entries(headers).flat();
  return httpRequest(`${gateway.url}${path}`, {
    method: 'POST',
    headers: [...Object.entries(MCP_HEADERS).flat(), 'Authorization', `Bearer ${FIXTURE_AGENT}`, ...base],
    body: JSON.stringify(INITIALIZE),
  });
}

/** Asserts a 403 AIRLOCK_HOST_NOT_ALLOWED in the given shape whose message matches, and counts it. */
function assertRefused(
  answer: HttpAnswer | { status: number; text: string },
  kind: 'host' | 'origin',
  shape: Shape,
  message: RegExp,
): void {
  assert.equal(answer.status, 403, answer.text);
  const body = JSON.parse(answer.text) as Record<string, unknown>;
  if (shape === 'api') {
    const error = body.error as { code: string; message: string };
    assert.deepEqual(Object.keys(body), ['error']);
    assert.equal(error.code, 'AIRLOCK_HOST_NOT_ALLOWED');
    assert.match(error.message, message);
  } else {
    assert.equal(body.jsonrpc, '2.0');
    assert.equal(body.id, null);
    const error = body.error as { code: number; message: string; data?: { airlock_code?: string } };
    assert.equal(error.code, -32000);
    assert.equal(error.data?.airlock_code, 'AIRLOCK_HOST_NOT_ALLOWED');
    assert.match(error.message, message);
  }
  refused[kind] += 1;
}

const sessionsOpened = () => gateway.logs.filter((l) => l.msg === 'session opened').length;
const FOREIGN_HOST =
  /^Forbidden: Host "evil\.example\.com" is not one of Airlock's names \(DNS rebinding protection\); if it is a name for this gateway, add it to listen\.allowed_hosts$/;
const FOREIGN_ORIGIN =
  /^Forbidden: Origin "http:\/\/evil\.example\.com" is not one of Airlock's names \(DNS rebinding protection: a page of another site may not call Airlock\); if it is a name for this gateway, add its host to listen\.allowed_hosts$/;

test('a rebinding page (foreign Host and Origin) is refused 403 on /mcp/:server, /mcp, /api/approvals and /metrics, valid tokens or not, and nothing happens', async () => {
  const foreign = { Host: `${EVIL}:${port}`, Origin: `http://${EVIL}:${port}` };
  const opened = sessionsOpened();
  for (const path of ['/mcp/fx', '/mcp']) {
    const answer = await initialize(foreign, path);
    assertRefused(answer, 'host', 'json-rpc', /^Forbidden: Host "evil\.example\.com:\d+" is not one of Airlock's names/);
    assert.equal(answer.headers['mcp-session-id'], undefined, `${path}: no session id`);
  }
  assert.equal(sessionsOpened(), opened, 'no session was opened');

  const admin = { Authorization: `Bearer ${FIXTURE_ADMIN}`, 'Content-Type': 'application/json' };
  const approve = await httpRequest(`${gateway.url}/api/approvals/${approvalId}/approve`, {
    method: 'POST',
    headers: { ...admin, Host: EVIL, Origin: `http://${EVIL}` },
    body: '{}',
  });
  assertRefused(approve, 'host', 'api', FOREIGN_HOST);
  assertRefused(await httpRequest(`${gateway.url}/api/approvals`, { headers: { ...admin, Host: EVIL } }), 'host', 'api', FOREIGN_HOST);
  // Express routes /API as /api: the refusal keeps /api's shape.
  assertRefused(await httpRequest(`${gateway.url}/API/approvals`, { headers: { ...admin, Host: EVIL } }), 'host', 'api', FOREIGN_HOST);
  await assertStillHeld(gateway, FIXTURE_ADMIN, approvalId, held, 'an approval sent under a foreign Host');

  assertRefused(await httpRequest(`${gateway.url}/metrics`, { headers: { ...admin, Host: EVIL } }), 'host', 'json-rpc', FOREIGN_HOST);
  assertRefused(await httpRequest(`${metricsUrl}/metrics`, { headers: { Host: EVIL } }), 'host', 'json-rpc', FOREIGN_HOST);
  assertRefused(await httpRequest(`${gateway.url}/no/such/path`, { headers: { Host: EVIL } }), 'host', 'json-rpc', FOREIGN_HOST);
});

test('a foreign Origin with a local Host (a page of another site calling 127.0.0.1) is refused the same way', async () => {
  const origin = { Host: `127.0.0.1:${port}`, Origin: `http://${EVIL}` };
  const opened = sessionsOpened();
  for (const path of ['/mcp/fx', '/mcp']) assertRefused(await initialize(origin, path), 'origin', 'json-rpc', FOREIGN_ORIGIN);
  assert.equal(sessionsOpened(), opened, 'no session was opened');
  const admin = { Authorization: `Bearer ${FIXTURE_ADMIN}`, 'Content-Type': 'application/json' };
  assertRefused(
    await httpRequest(`${gateway.url}/api/approvals/${approvalId}/approve`, {
      method: 'POST',
      headers: { ...admin, ...origin },
      body: '{}',
    }),
    'origin',
    'api',
    FOREIGN_ORIGIN,
  );
  assertRefused(await httpRequest(`${gateway.url}/metrics`, { headers: { ...admin, ...origin } }), 'origin', 'json-rpc', FOREIGN_ORIGIN);
  assertRefused(
    await httpRequest(`${metricsUrl}/metrics`, { headers: { Host: new URL(metricsUrl).host, Origin: `http://${EVIL}` } }),
    'origin',
    'json-rpc',
    FOREIGN_ORIGIN,
  );
  assertRefused(
    await initialize({ Host: `localhost:${port}`, Origin: 'null' }),
    'origin',
    'json-rpc',
    /^Forbidden: Origin "null" \(a sandboxed page, a local file, a redirect\)/,
  );
  await assertStillHeld(gateway, FIXTURE_ADMIN, approvalId, held, 'an approval sent from a foreign Origin');
});

test('the usual local names open sessions: 127.0.0.1, localhost and [::1] at the port, an allowed host, with local Origins', async () => {
  const good: Record<string, string>[] = [
    { Host: `127.0.0.1:${port}` },
    { Host: `localhost:${port}` },
    { Host: `LOCALHOST.:${port}` },
    { Host: `[::1]:${port}` },
    { Host: `127.0.0.1:${port}`, Origin: `http://127.0.0.1:${port}` },
    { Host: `localhost:${port}`, Origin: 'http://localhost:6274' },
    { Host: `airlock.test:${port}`, Origin: 'https://airlock.test' },
    { Host: 'gw.test:8443' },
  ];
  for (const headers of good) {
    const answer = await initialize(headers);
    assert.equal(answer.status, 200, `${JSON.stringify(headers)}: ${answer.text}`);
    assert.match(String(answer.headers['mcp-session-id']), /^[0-9a-f-]{36}$/, JSON.stringify(headers));
  }
  const { status } = await scrape(metricsUrl);
  assert.equal(status, 200, 'the metrics port answers its own address');
});

test('hostile Host headers are refused: look-alikes, user info, another port of a host:port entry, two Hosts, a long one (echoed cut), none at all', async () => {
  const hostile = [
    `127.0.0.1.${EVIL}:${port}`,
    `localhost.${EVIL}:${port}`,
    `127.0.0.1.nip.io:${port}`,
    `localhost:${port}@${EVIL}`,
    `${EVIL}@localhost`,
    'gw.test:8080',
    `localhost:${port}/`,
  ];
  for (const host of hostile)
    assertRefused(await initialize({ Host: host }), 'host', 'json-rpc', /^Forbidden: Host ".+" is not one of Airlock's names/);
  assertRefused(
    await initialize(['Host', `localhost:${port}`, 'Host', `${EVIL}:${port}`]),
    'host',
    'json-rpc',
    /^Forbidden: the request has 2 Host headers \(DNS rebinding protection\); send one$/,
  );
  const long = `${'a'.repeat(5_000)}.${EVIL}`;
  const answer = await initialize({ Host: long });
  assertRefused(answer, 'host', 'json-rpc', /^Forbidden: Host "a{100}"… \(5017 characters, cut\) is not one of Airlock's names/);
  assert.ok(answer.text.length < 600, `the refusal does not echo the whole Host: ${answer.text.length} characters`);
  const noHost = await rawExchange(gateway.url, 'GET /api/approvals HTTP/1.0');
  assertRefused(noHost, 'host', 'api', /^Forbidden: the request has no Host header/);
  const opened = gateway.logs.filter((l) => l.msg === 'request refused: Host or Origin not allowed');
  assert.ok(
    opened.every((l) => String(l.header).length < 160),
    'the log lines carry the Host cut too',
  );
});

test('/healthz and /readyz answer whatever the Host (probes send their own); POST /slack/events is not refused for its Host', async () => {
  for (const path of ['/healthz', '/readyz']) {
    const answer = await httpRequest(`${gateway.url}${path}`, { headers: { Host: EVIL, Origin: `http://${EVIL}` } });
    assert.equal(answer.status, 200, `${path}: ${answer.text}`);
    assert.deepEqual(JSON.parse(answer.text), path === '/readyz' ? { ready: true } : { status: 'ok' });
  }
  // No Slack here: the path falls through to "not found", not to a refusal of its Host.
  const slack = await httpRequest(`${gateway.url}/slack/events`, {
    method: 'POST',
    headers: { Host: EVIL, 'Content-Type': 'application/json' },
    body: '{}',
  });
  assert.equal(slack.status, 404, slack.text);
});

test('every refusal is counted in /metrics and logged; the audit has the first of each kind in full and the rest in summaries, written at the latest when the gateway stops', async () => {
  const { samples } = await scrape(gateway.url, FIXTURE_ADMIN);
  assert.ok(refused.host > 10 && refused.origin > 5, JSON.stringify(refused));
  assert.equal(metricValue(samples, 'airlock_requests_refused_total', { reason: 'host' }), refused.host);
  assert.equal(metricValue(samples, 'airlock_requests_refused_total', { reason: 'origin' }), refused.origin);
  const refusedLines = () => gateway.logs.filter((l) => l.msg === 'request refused: Host or Origin not allowed');
  // The log is read from the gateway's stdout as it comes: the last lines may still be on their way.
  await until('every refusal is logged', () => refusedLines().length >= refused.host + refused.origin);
  const logged = refusedLines();
  assert.equal(logged.length, refused.host + refused.origin);
  assert.ok(logged.every((l) => l.level === 40));

  // A stop writes the summaries still pending (the minute has not ended).
  await gateway.stop();
  const events = (await streamEvents(redis.url)).filter((e) => e.event === 'request_refused');
  for (const kind of ['host', 'origin'] as const) {
    const mine = events.filter((e) => kindOf(e) === kind);
    // Each window opens with one event in full and may close with a summary of the rest: "F S F F S …".
    const shape = mine.map((e) => (isSummary(e) ? 'S' : 'F')).join('');
    assert.match(shape, /^(FS?)+$/, `${kind}: ${shape}`);
    assert.ok(shape.includes('S'), `${kind}: the refusals after the first were summarized`);
    const accounted = mine.reduce((sum, e) => sum + (isSummary(e) ? Number(/^(\d+) more request/.exec(e.reason ?? '')?.[1]) : 1), 0);
    assert.equal(accounted, refused[kind], `${kind}: every refusal is in the trail, in full or counted`);
  }
  const first = events[0]!;
  assert.match(first.reason ?? '', /^Forbidden: Host "evil\.example\.com:\d+" is not one of Airlock's names/);
  assert.match(first.detail ?? '', /^POST \/mcp\/fx: Host "evil\.example\.com:\d+"$/);
  const summary = events.find((e) => isSummary(e) && kindOf(e) === 'origin')!;
  assert.match(
    summary.reason ?? '',
    /^\d+ more requests? refused the same way \(Origin not one of Airlock's names\) from \S+ to \S+, not audited one by one/,
  );
  assert.equal(summary.detail, 'Origin refused; answered 403');
});

function isSummary(e: AuditRecord): boolean {
  return /^\d+ more request/.test(e.reason ?? '');
}

/** A summary names its kind first; an event in full ends with the header it refused. */
function kindOf(e: AuditRecord): 'host' | 'origin' {
  const detail = e.detail ?? '';
  if (isSummary(e)) return detail.startsWith('Origin') ? 'origin' : 'host';
  return /: (Origin |\d+ Origin headers)/.test(detail) ? 'origin' : 'host';
}
