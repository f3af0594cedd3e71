import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { FIXTURE_SERVER, TSX_LOADER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';
import { only, openSession, post, toolCall } from '../support/raw-mcp.js';

let gateway: RunningGateway;
before(async () => {
  gateway = await startGateway({
    config: [
      'listen: { host: 127.0.0.1, port: 0, session_idle_timeout: 1s }',
      'servers:',
      '  fixture:',
      `    command: ${process.execPath}`,
      `    args: [--import, ${TSX_LOADER}, ${FIXTURE_SERVER}]`,
      '    policy: fixture.yaml',
      '',
    ].join('\n'),
    files: { 'fixture.yaml': 'version: "1"\ndefault: deny\ntools:\n  echo: {}\n  sleep: {}\n' },
  });
});
after(() => gateway.stop());

test('a session left without any open request is closed after session_idle_timeout; a busy one is not', async () => {
  const url = `${gateway.url}/mcp/fixture`;
  const forgotten = await openSession(url);
  // The SDK client keeps a GET stream open for notifications, so its session is never idle while connected.
  const connected = await gateway.connect('/mcp/fixture');
  // A call longer than the idle timeout keeps its own session open too.
  const longCall = connected.callTool({ name: 'sleep', arguments: { ms: 2_500 } });

  await until('the idle session to be closed', () =>
    gateway.logs.some((l) => l.msg === 'closing an idle session' && l.session === forgotten),
  );
  await until(
    'its id to be refused',
    async () => (await post(url, toolCall(1, 'echo', { text: 'x' }), { 'mcp-session-id': forgotten })).status === 404,
  );

  assert.deepEqual(await longCall, { content: [{ type: 'text', text: 'slept 2500 ms' }] });
  assert.deepEqual(await connected.callTool({ name: 'echo', arguments: { text: 'still here' } }), {
    content: [{ type: 'text', text: 'still here' }],
  });
  assert.equal(gateway.logs.filter((l) => l.msg === 'closing an idle session').length, 1);
});

test('a session in use is not closed: requests keep it active', async () => {
  const url = `${gateway.url}/mcp/fixture`;
  const session = await openSession(url);
  const started = Date.now();
  while (Date.now() - started < 2_500) {
    const answer = await post(url, toolCall(2, 'echo', { text: 'tick' }), { 'mcp-session-id': session });
    assert.equal(answer.status, 200);
    assert.deepEqual(only(answer).result, { content: [{ type: 'text', text: 'tick' }] });
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  assert.ok(!gateway.logs.some((l) => l.msg === 'closing an idle session' && l.session === session));
});
