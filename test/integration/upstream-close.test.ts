import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FIXTURE_SERVER, TSX_LOADER } from '../support/mcp-servers.js';

const UPSTREAM = fileURLToPath(new URL('../../src/proxy/index.ts', import.meta.url));

/** A port nothing listens on (taken, then freed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Runs `body` (module code with `Upstream`, `server` and `pino` in scope) in
 * a fresh Node process and returns how it exited: a process that ends by
 * itself has nothing left running, a timer or a child process would keep
 * it alive. `timeoutMs` only keeps a test from hanging: on a loaded 2-core
 * machine, compiling the sources alone has taken over 8 s.
 */
function runAlone(server: object, body: string, timeoutMs = 30_000): Promise<{ code: number | null; ms: number; out: string }> {
  const source = [
    `import { Upstream } from ${JSON.stringify(UPSTREAM)};`,
    "import { pino } from 'pino';",
    `const server = ${JSON.stringify(server)};`,
    'const started = Date.now();',
    body,
    "process.on('exit', () => console.log(`exit after close ${Date.now() - started} ms`));",
  ].join('\n');
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', TSX_LOADER, '--input-type=module', '-e', source], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, ms: Date.now() - started, out });
    });
  });
}

const UPSTREAM_OPTIONS = "{ name: 'x', server, logger: pino({ level: 'silent' }), onNotification: () => undefined }";

test('an HTTP upstream that refuses the connection leaves nothing running once closed (no SSE fallback reconnecting)', async () => {
  const server = { transport: 'http', url: `http://127.0.0.1:${await closedPort()}/mcp`, headers: {}, call_timeout_ms: 1_000, policy: '' };
  const run = await runAlone(
    server,
    [`const u = new Upstream(${UPSTREAM_OPTIONS});`, 'await u.start();', "console.log('status', u.status);", 'await u.close();'].join('\n'),
  );
  assert.match(run.out, /status disconnected/);
  assert.equal(run.code, 0, `the process must exit by itself: ${run.out}`);
});

test('close() while a stdio upstream is still starting stops it: the attempt does not come back connected, and its process is gone', async () => {
  const server = {
    transport: 'stdio',
    command: process.execPath,
    args: ['--import', TSX_LOADER, FIXTURE_SERVER],
    env: {},
    call_timeout_ms: 1_000,
    policy: '',
  };
  const run = await runAlone(
    server,
    [
      `const u = new Upstream(${UPSTREAM_OPTIONS});`,
      'const starting = u.start();',
      'await u.close();',
      'await starting;',
      "console.log('status', u.status);",
    ].join('\n'),
  );
  assert.match(run.out, /status closed/);
  assert.equal(run.code, 0, `the process must exit by itself (the fixture server would keep it alive): ${run.out}`);
});
