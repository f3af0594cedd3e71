import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { withRequestSignals } from '../../src/proxy/request-signal.js';

// A local HTTP server: /hello answers at once, /stream sends one chunk and holds the response open.
let server: Server;
let base: string;
const held: ServerResponse[] = [];
before(async () => {
  server = createServer((req, res) => {
    if (req.url === '/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      held.push(res);
      return;
    }
    if (req.url === '/empty') {
      res.writeHead(204).end();
      return;
    }
    res.writeHead(201, 'Made', { 'content-type': 'text/plain', 'x-test': 'yes' }).end('hello');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  for (const res of held) res.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

test('a thousand requests on one shared signal leave at most one listener on it', async () => {
  const shared = new AbortController().signal;
  const fetchFn = withRequestSignals();
  for (let i = 0; i < 1_000; i++) assert.equal(await (await fetchFn(`${base}/hello`, { signal: shared })).text(), 'hello');
  assert.ok(getEventListeners(shared, 'abort').length <= 1, `${getEventListeners(shared, 'abort').length} listeners`);
});

test('status, status text, headers and body pass through unchanged', async () => {
  const response = await withRequestSignals()(`${base}/hello`, { signal: new AbortController().signal });
  assert.equal(response.status, 201);
  assert.equal(response.statusText, 'Made');
  assert.equal(response.headers.get('x-test'), 'yes');
  assert.equal(await response.text(), 'hello');
  const empty = await withRequestSignals()(`${base}/empty`, { signal: new AbortController().signal });
  assert.equal(empty.status, 204);
});

test('aborting the shared signal ends a stream that is still open', async () => {
  const shared = new AbortController();
  const response = await withRequestSignals()(`${base}/stream`, { signal: shared.signal });
  const reader = response.body!.getReader();
  assert.equal(new TextDecoder().decode((await reader.read()).value), 'data: first\n\n');
  const next = reader.read();
  shared.abort(new Error('transport closed'));
  await assert.rejects(next, /transport closed|aborted/);
});

test('a request started after the shared signal aborted is refused', async () => {
  const shared = new AbortController();
  shared.abort(new Error('already closed'));
  await assert.rejects(withRequestSignals()(`${base}/hello`, { signal: shared.signal }), /already closed|aborted/);
});

test('without a signal the request goes through as is', async () => {
  assert.equal(await (await withRequestSignals()(`${base}/hello`)).text(), 'hello');
});
