import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FIXTURE_ADMIN, FIXTURE_AGENT, startFixtureGateway } from '../support/fixture-gateway.js';
import type { RunningGateway } from '../support/gateway.js';
import { until } from '../support/poll.js';
import { metricValue, scrape } from '../support/prometheus.js';
import { only, openSession, post, toolCall } from '../support/raw-mcp.js';

/**
 * Within a 2025 session a JSON-RPC id names one request until it is
 * answered: its answer and its withdrawal are found by it. A second request
 * with the id of one still in flight is refused, and the first is answered
 * as if the second had never come.
 */

let gateway: RunningGateway;
let url: string;
const auth = { Authorization: `Bearer ${FIXTURE_AGENT}` };

before(async () => {
  gateway = await startFixtureGateway({ version: '1', default: 'allow' });
  url = `${gateway.url}/mcp/fx`;
});
after(() => gateway?.stop());

const inFlight = async () => metricValue((await scrape(gateway.url, FIXTURE_ADMIN)).samples, 'airlock_calls_in_flight');

test('an id still in flight in the session is refused -32600 for a second request; once answered it may be used again', async () => {
  const session = await openSession(url, auth);
  const headers = { ...auth, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' };
  const slow = post(url, toolCall(7, 'sleep', { ms: 1_500 }), headers);
  await until('the first call to be in flight', async () => (await inFlight()) === 1);

  const second = await post(url, toolCall(7, 'echo', { text: 'second' }), headers);
  assert.equal(second.status, 400);
  const refused = only(second);
  assert.equal(refused.error?.code, -32600);
  assert.match(
    refused.error?.message ?? '',
    /^Invalid Request: id 7 is already used by a request of this session still being answered; send each request with an id of its own$/,
  );
  await until('the refusal to be logged', () =>
    gateway.logs.some((l) => l.msg === 'request refused' && /id 7 is already used/.test(String(l.reason))),
  );

  // The string "7" is another id than the number 7.
  const other = only(await post(url, { ...toolCall(0, 'echo', { text: 'string id' }), id: '7' }, headers));
  assert.equal(other.id, '7');
  assert.deepEqual(other.result?.content, [{ type: 'text', text: 'string id' }]);

  const first = only(await slow);
  assert.equal(first.id, 7);
  assert.equal(first.result?.isError, undefined, JSON.stringify(first));

  const again = only(await post(url, toolCall(7, 'echo', { text: 'again' }), headers));
  assert.deepEqual(again.result?.content, [{ type: 'text', text: 'again' }]);
});

test('ids are per session: another session may use the id a session has in flight', async () => {
  const [a, b] = [await openSession(url, auth), await openSession(url, auth)];
  const headersOf = (session: string) => ({ ...auth, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' });
  const slow = post(url, toolCall(9, 'sleep', { ms: 1_000 }), headersOf(a));
  await until('the call of session a to be in flight', async () => (await inFlight()) >= 1);
  const answer = only(await post(url, toolCall(9, 'echo', { text: 'b' }), headersOf(b)));
  assert.deepEqual(answer.result?.content, [{ type: 'text', text: 'b' }]);
  assert.equal(only(await slow).id, 9);
});
