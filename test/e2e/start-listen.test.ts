/**
 * Where `airlock start` listens: --host and --port, else AIRLOCK_HOST and
 * AIRLOCK_PORT, else the config file's listen; what doctor sees of them; and
 * that no flag or variable opens a grant-less gateway beyond loopback.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../support/free-port.js';
import { startGateway } from '../support/gateway.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { airlock, cli } from '../support/run-cli.js';

// An upstream that exits at once: the gateway still starts (reporting it in /readyz), which is all these tests need.
const SERVERS = 'servers:\n  fixture:\n    command: node\n    args: [--version]\n    policy: p.yaml\n';
const FILES = { 'p.yaml': 'version: "1"\ndefault: deny\n' };
const GRANTS = 'grants:\n  - name: agent\n    token: "${AGENT_TOKEN}"\n';

let redis: TestRedis;
let dir: string;
before(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'airlock-listen-'));
  writeFileSync(join(dir, 'airlock.yaml'), `listen: { host: 127.0.0.1, port: 0 }\n${SERVERS}`);
  writeFileSync(join(dir, 'open.yaml'), `listen: { host: 0.0.0.0, port: 0 }\n${SERVERS}`);
  writeFileSync(join(dir, 'p.yaml'), FILES['p.yaml']);
});
after(async () => {
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Starts a gateway (its config has port 0 and host 127.0.0.1 unless `config` says otherwise), asserts where it listens and that it answers there. */
async function assertListens(options: { args?: string[]; env?: NodeJS.ProcessEnv; config?: string }, host: string, port?: number) {
  const gateway = await startGateway({ config: options.config ?? SERVERS, files: FILES, redis, args: options.args, env: options.env });
  try {
    const url = new URL(gateway.url);
    assert.equal(url.hostname, host);
    if (port !== undefined) assert.equal(url.port, String(port));
    assert.equal((await fetch(`http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${url.port}/healthz`)).status, 200);
  } finally {
    await gateway.stop();
  }
}

test('airlock start --port N listens on N, over the config file', async () => {
  const port = await freePort();
  await assertListens({ args: ['--port', String(port)] }, '127.0.0.1', port);
});

test('AIRLOCK_PORT moves it likewise, and --port wins over it', async () => {
  const [port, other] = [await freePort(), await freePort()];
  const third = await freePort();
  await Promise.all([
    assertListens({ env: { AIRLOCK_PORT: String(port) } }, '127.0.0.1', port),
    assertListens({ env: { AIRLOCK_PORT: String(other) }, args: ['--port', String(third)] }, '127.0.0.1', third),
  ]);
});

test('AIRLOCK_HOST and --host move the address (--host wins), and an empty variable counts as unset', async () => {
  await Promise.all([
    assertListens({ env: { AIRLOCK_HOST: '127.0.0.2' } }, '127.0.0.2'),
    assertListens({ env: { AIRLOCK_HOST: '127.0.0.2' }, args: ['--host', '127.0.0.3'] }, '127.0.0.3'),
    assertListens({ env: { AIRLOCK_HOST: '', AIRLOCK_PORT: '' } }, '127.0.0.1'),
  ]);
});

test('without grants, --host or AIRLOCK_HOST off loopback is refused naming what set it; the file alone still names the file', async () => {
  const cases = [
    { args: ['--host', '0.0.0.0'], env: {}, says: '--host: 0.0.0.0' },
    { args: ['--host', '::'], env: {}, says: '--host: ::' },
    { args: [], env: { AIRLOCK_HOST: '0.0.0.0' }, says: 'AIRLOCK_HOST: 0.0.0.0' },
    // A flag for a loopback address does not make the variable count.
    { args: ['--port', '0'], env: { AIRLOCK_HOST: '0.0.0.0' }, says: 'AIRLOCK_HOST: 0.0.0.0' },
  ];
  const file = join(dir, 'airlock.yaml');
  await Promise.all(
    cases.map(async (c) => {
      const { code, stderr } = await airlock(['start', '-c', file, ...c.args], dir, { ...process.env, REDIS_URL: redis.url, ...c.env });
      assert.equal(code, 1, stderr);
      assert.equal(
        stderr.trim(),
        `airlock: ${c.says} is not loopback and no grants are configured in ${file}, so anyone who reaches the port could call tools; add grants or listen on 127.0.0.1`,
      );
    }),
  );
  const open = await airlock(['start', '-c', join(dir, 'open.yaml')], dir, { ...process.env, REDIS_URL: redis.url });
  assert.equal(open.code, 1);
  assert.match(
    open.stderr,
    new RegExp(`^airlock: ${join(dir, 'open.yaml')}: listen\\.host: 0\\.0\\.0\\.0 is not loopback and no grants are configured, `),
  );
});

test('with grants, --host 0.0.0.0 listens on every interface', async () => {
  await assertListens(
    { config: `${SERVERS}${GRANTS}`, env: { AGENT_TOKEN: 'a-token-only-this-test-knows' }, args: ['--host', '0.0.0.0'] },
    '0.0.0.0',
  );
});

test('a bad --port or --host is a usage error naming the flag; a bad AIRLOCK_PORT or AIRLOCK_HOST fails naming the variable', async () => {
  const file = join(dir, 'airlock.yaml');
  const cases = [
    {
      args: ['--port', 'abc'],
      env: {},
      code: 2,
      says: /^error: option '--port <port>' argument 'abc' is invalid\. expected a port number from 0 to 65535/,
    },
    { args: ['--port', '70000'], env: {}, code: 2, says: /^error: option '--port <port>' argument '70000' is invalid\./ },
    { args: ['--port', '-1'], env: {}, code: 2, says: /--port/ },
    { args: ['--port', '80.5'], env: {}, code: 2, says: /argument '80\.5' is invalid/ },
    {
      args: ['--host', 'a b'],
      env: {},
      code: 2,
      says: /^error: option '--host <host>' argument 'a b' is invalid\. expected a host name or IP address/,
    },
    { args: ['--host', ''], env: {}, code: 2, says: /^error: option '--host <host>' argument '' is invalid/ },
    {
      args: [],
      env: { AIRLOCK_PORT: 'junk' },
      code: 1,
      says: /^airlock: AIRLOCK_PORT is "junk": expected a port number from 0 to 65535 \(0: any free port\)$/,
    },
    { args: [], env: { AIRLOCK_PORT: '0x1f90' }, code: 1, says: /^airlock: AIRLOCK_PORT is "0x1f90": expected a port number/ },
    { args: [], env: { AIRLOCK_PORT: '99999' }, code: 1, says: /^airlock: AIRLOCK_PORT is "99999"/ },
    {
      args: [],
      env: { AIRLOCK_HOST: '127.0.0.1 evil' },
      code: 1,
      says: /^airlock: AIRLOCK_HOST is "127\.0\.0\.1 evil": expected a host name or IP address/,
    },
  ];
  await Promise.all(
    cases.map(async (c) => {
      const { code, stderr } = await airlock(['start', '-c', file, ...c.args], dir, { ...process.env, REDIS_URL: redis.url, ...c.env });
      assert.equal(code, c.code, `${JSON.stringify(c)}: ${stderr}`);
      assert.match(stderr.trim(), c.says);
    }),
  );
});

test('--port on a port already taken names --port; --host on a name that does not resolve names --host', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const { port } = taken.address() as { port: number };
  try {
    await assert.rejects(
      startGateway({ config: SERVERS, files: FILES, redis, args: ['--port', String(port)] }),
      new RegExp(
        `airlock: --port: 127\\.0\\.0\\.1:${port} is already in use \\(another airlock, or another program\\); stop it or choose another port`,
      ),
    );
  } finally {
    taken.close();
  }
  await assert.rejects(
    startGateway({ config: `${SERVERS}${GRANTS}`, files: FILES, redis, env: { AGENT_TOKEN: 'x' }, args: ['--host', 'nosuch.invalid'] }),
    /airlock: --host: cannot listen on nosuch\.invalid:0 \(ENOTFOUND\)/,
  );
});

test('airlock start --help shows --port and --host and names AIRLOCK_PORT and AIRLOCK_HOST', async () => {
  const { code, stdout } = await airlock(['start', '--help']);
  assert.equal(code, 0);
  for (const word of ['--port <port>', '--host <host>', 'AIRLOCK_PORT', 'AIRLOCK_HOST'])
    assert.ok(stdout.includes(word), `${word} in\n${stdout}`);
});

test('airlock doctor sees --host, --port, AIRLOCK_HOST and AIRLOCK_PORT as start does: the refusal start would give is an error, a bad value too', async () => {
  const doctor = async (config: string, env: NodeJS.ProcessEnv, flags: string[] = []) => {
    const { code, stdout } = await cli(['doctor', '-c', join(dir, config), ...flags], dir, { REDIS_URL: redis.url, ...env });
    return { code, lines: stdout.split('\n').filter((line) => /^\S+ +listen/.test(line)) };
  };
  writeFileSync(join(dir, 'granted.yaml'), `${SERVERS}${GRANTS}`);
  const [open, junk, granted, plain, flagged, loopbackFlag] = await Promise.all([
    doctor('airlock.yaml', { AIRLOCK_HOST: '0.0.0.0' }),
    doctor('airlock.yaml', { AIRLOCK_PORT: 'junk' }),
    doctor('granted.yaml', { AGENT_TOKEN: 'x', AIRLOCK_HOST: '0.0.0.0' }),
    doctor('granted.yaml', { AGENT_TOKEN: 'x' }),
    doctor('airlock.yaml', {}, ['--host', '0.0.0.0']),
    // The flag wins over the variable, as for start: the variable's junk is not even read.
    doctor('airlock.yaml', { AIRLOCK_HOST: '0.0.0.0', AIRLOCK_PORT: 'junk' }, ['--host', '127.0.0.1', '--port', '0']),
  ]);
  assert.equal(open.code, 1);
  assert.deepEqual(open.lines, [
    `error listen: AIRLOCK_HOST: 0.0.0.0 is not loopback and no grants are configured in ${join(dir, 'airlock.yaml')}, so anyone who reaches the port could call tools; add grants or listen on 127.0.0.1`,
  ]);
  assert.deepEqual(junk.lines, ['error listen: AIRLOCK_PORT is "junk": expected a port number from 0 to 65535 (0: any free port)']);

  assert.equal(granted.lines.length, 1);
  assert.match(
    granted.lines[0] ?? '',
    /^warn {2}listen \(AIRLOCK_HOST\): 0\.0\.0\.0 is not loopback and neither public_url nor listen\.allowed_hosts is set/,
  );
  assert.deepEqual(plain.lines, []);

  assert.equal(flagged.code, 1);
  assert.deepEqual(flagged.lines, [
    `error listen: --host: 0.0.0.0 is not loopback and no grants are configured in ${join(dir, 'airlock.yaml')}, so anyone who reaches the port could call tools; add grants or listen on 127.0.0.1`,
  ]);
  assert.deepEqual(loopbackFlag.lines, []);
});
