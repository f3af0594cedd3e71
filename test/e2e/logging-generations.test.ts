import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { LoggingMessageNotificationSchema, type LoggingMessageNotification } from '@modelcontextprotocol/sdk/types.js';
import { startFixture, SUITES, type RunningFixture } from '../support/conformance.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { until } from '../support/poll.js';

/**
 * A 2025 session's `logging/setLevel` through Airlock to a 2026 server,
 * which has no such method: Airlock answers it, and sends the level with
 * each of the session's requests to that server. The v2 conformance
 * fixture's `test_logging_tool` logs at `info`, and only when its request
 * names a level that lets `info` through.
 */

let fixture: RunningFixture;
let gateway: RunningGateway;
before(async () => {
  fixture = await startFixture(SUITES['0.2.0-alpha'].fixture);
  gateway = await startGateway({
    config: `servers:\n  modern:\n    url: ${fixture.url}\n    protocol: 2026-07-28\n    policy: policies/modern.json\n`,
    files: { 'policies/modern.json': JSON.stringify({ version: '1', default: 'allow' }) },
  });
});
after(async () => {
  await gateway?.stop();
  await fixture?.stop();
});

for (const path of ['/mcp/modern', '/mcp']) {
  test(`${path}: a 2025 session's log level reaches a 2026 server with each call, and the server's messages reach the session`, async () => {
    const client = await gateway.connect(path);
    try {
      const logs: LoggingMessageNotification['params'][] = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params));
      const tool = path === '/mcp' ? 'modern__test_logging_tool' : 'test_logging_tool';
      const call = () => client.callTool({ name: tool, arguments: {} });

      await call(); // no level set: the server is not asked to log
      assert.deepEqual(await client.setLoggingLevel('error'), {});
      await call(); // `error` keeps the `info` message back
      await client.setLoggingLevel('info');
      await call();
      await until('the first message', () => logs.length >= 1);
      await call();
      // The server's messages reach the session in the order it sent them, so a message of the first two calls would be here by now.
      await until('the second message', () => logs.length >= 2);
      assert.equal(logs.length, 2, JSON.stringify(logs));
      for (const log of logs) assert.deepEqual({ level: log.level, data: log.data }, { level: 'info', data: 'test_logging_tool ran' });
    } finally {
      await client.close();
    }
  });
}
