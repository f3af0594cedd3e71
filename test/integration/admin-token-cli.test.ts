import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { adminNamed, givenAdminToken } from '../../src/cli/console-access.js';
import type { Io } from '../../src/cli/output.js';
import { loadConfig, type LoadedConfig } from '../../src/config/index.js';
import { publishTokenDigest } from '../../src/local-admin/index.js';
import { captureLogger } from '../support/log.js';
import { until } from '../support/poll.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'airlock-admin-token-cli-'));
const policy = 'policies/fs.yaml';
mkdirSync(join(dir, 'policies'));
writeFileSync(join(dir, policy), 'version: "1"\n');
const SERVER = `servers:\n  fs:\n    command: node\n    policy: ${policy}\n`;
writeFileSync(join(dir, 'bare.yaml'), `${SERVER}redis: { prefix: "{bare}:" }\n`);
writeFileSync(
  join(dir, 'admins.yaml'),
  `${SERVER}redis: { prefix: "{admins}:" }\nadmins:\n  - { name: alice, token: alice-token-0123456789 }\n`,
);
const bare = loadConfig(join(dir, 'bare.yaml'), {});
const withAdmins = loadConfig(join(dir, 'admins.yaml'), {});
const files = { a: join(dir, 'a.token'), b: join(dir, 'b.token'), empty: join(dir, 'empty.token') };
writeFileSync(files.a, 'token-from-flag\n');
writeFileSync(files.b, 'token-from-env-file\n');
writeFileSync(files.empty, '\n');

let server: TestRedis;
let redis: Redis;
before(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});
after(async () => {
  redis?.disconnect();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const io = (env: NodeJS.ProcessEnv): Io => ({ out: () => undefined, err: () => undefined, cwd: dir, env });
const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');

const precedence: { name: string; flag?: string; env: NodeJS.ProcessEnv; token: string; from: string }[] = [
  {
    name: '--token-file wins over both variables',
    flag: files.a,
    env: { AIRLOCK_ADMIN_TOKEN_FILE: files.b, AIRLOCK_ADMIN_TOKEN: 'token-from-env' },
    token: 'token-from-flag',
    from: `--token-file ${files.a}`,
  },
  {
    name: 'a relative --token-file is read from the current folder',
    flag: 'a.token',
    env: {},
    token: 'token-from-flag',
    from: '--token-file a.token',
  },
  {
    name: 'AIRLOCK_ADMIN_TOKEN_FILE wins over AIRLOCK_ADMIN_TOKEN',
    env: { AIRLOCK_ADMIN_TOKEN_FILE: files.b, AIRLOCK_ADMIN_TOKEN: 'token-from-env' },
    token: 'token-from-env-file',
    from: `AIRLOCK_ADMIN_TOKEN_FILE=${files.b}`,
  },
  {
    name: 'AIRLOCK_ADMIN_TOKEN alone',
    env: { AIRLOCK_ADMIN_TOKEN: 'token-from-env' },
    token: 'token-from-env',
    from: 'AIRLOCK_ADMIN_TOKEN',
  },
  {
    name: 'an empty AIRLOCK_ADMIN_TOKEN_FILE counts as unset',
    env: { AIRLOCK_ADMIN_TOKEN_FILE: '', AIRLOCK_ADMIN_TOKEN: 'token-from-env' },
    token: 'token-from-env',
    from: 'AIRLOCK_ADMIN_TOKEN',
  },
];
for (const c of precedence) {
  test(`admin token: ${c.name}`, () => {
    assert.deepEqual(givenAdminToken(bare, io(c.env), c.flag), { token: c.token, from: c.from });
  });
}

const refusals: { name: string; config: LoadedConfig; flag?: string; env: NodeJS.ProcessEnv; message: RegExp }[] = [
  {
    name: 'none given, no admins: asks for one and names the gateway token file',
    config: bare,
    env: {},
    message: new RegExp(
      `^no admin token given: pass --token-file FILE, or set AIRLOCK_ADMIN_TOKEN_FILE to a file holding it, or AIRLOCK_ADMIN_TOKEN to the token itself: .*bare\\.yaml has no admins, so it is the local admin's token, which a gateway started without AIRLOCK_ADMIN_TOKEN keeps in ${join(dir, '.airlock', 'admin-token')}`,
    ),
  },
  {
    name: 'none given, admins configured: asks for one of theirs',
    config: withAdmins,
    env: {},
    message: /^no admin token given: .*the token of one of the admins in .*admins\.yaml, whose name is recorded/,
  },
  {
    name: 'a missing --token-file, even with AIRLOCK_ADMIN_TOKEN set',
    config: bare,
    flag: join(dir, 'nope'),
    env: { AIRLOCK_ADMIN_TOKEN: 'token-from-env' },
    message: new RegExp(`^--token-file: cannot read the token file ${join(dir, 'nope')}: it does not exist$`),
  },
  {
    name: 'an empty AIRLOCK_ADMIN_TOKEN_FILE file',
    config: bare,
    env: { AIRLOCK_ADMIN_TOKEN_FILE: files.empty },
    message: new RegExp(`^AIRLOCK_ADMIN_TOKEN_FILE: the token file ${files.empty} is empty`),
  },
];
for (const c of refusals) {
  test(`admin token refused: ${c.name}`, () => {
    assert.throws(
      () => givenAdminToken(c.config, io(c.env), c.flag),
      (err: Error) => c.message.test(err.message),
    );
  });
}

test("admin token: the gateway's token file is never read unless it is named", () => {
  mkdirSync(join(dir, '.airlock'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, '.airlock', 'admin-token'), 'the-gateway-token\n', { mode: 0o600 });
  assert.throws(() => givenAdminToken(bare, io({}), undefined), /^AirlockError: no admin token given/);
  assert.equal(givenAdminToken(bare, io({}), '.airlock/admin-token').token, 'the-gateway-token');
});

test('without admins, a command knows the local admin by the digests gateways published, and only once one has', async () => {
  await assert.rejects(
    adminNamed(bare, redis, { token: 'gateway-one-token', from: 'AIRLOCK_ADMIN_TOKEN' }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'AIRLOCK_UNAUTHORIZED');
      assert.match(
        err.message,
        /bare\.yaml has no admins, and no gateway has published a local admin token in this Redis \(\{bare\}:local-admin\): start the gateway \(airlock start, or airlock stdio\) with this config first, or configure admins$/,
      );
      return true;
    },
  );
  const { logger } = captureLogger();
  const stops = [
    await publishTokenDigest(redis, {
      prefix: '{bare}:',
      source: 'host-a:/srv/a/.airlock/admin-token',
      sha256: sha256('gateway-one-token'),
      timeoutMs: 5_000,
      logger,
    }),
    await publishTokenDigest(redis, {
      prefix: '{bare}:',
      source: 'host-b:AIRLOCK_ADMIN_TOKEN',
      sha256: sha256('gateway-two-token'),
      timeoutMs: 5_000,
      logger,
    }),
  ];
  stops.forEach((stop) => stop());
  // A value that is no digest (written by hand) is left out, not compared.
  await redis.hset('{bare}:local-admin', 'by-hand', 'not-a-digest');
  assert.deepEqual(await redis.hgetall('{bare}:local-admin'), {
    'host-a:/srv/a/.airlock/admin-token': sha256('gateway-one-token'),
    'host-b:AIRLOCK_ADMIN_TOKEN': sha256('gateway-two-token'),
    'by-hand': 'not-a-digest',
  });
  assert.equal(await adminNamed(bare, redis, { token: 'gateway-one-token', from: 'x' }), 'local');
  assert.equal(await adminNamed(bare, redis, { token: 'gateway-two-token', from: 'x' }), 'local');
  for (const wrong of ['gateway-three-token', 'not-a-digest', sha256('gateway-one-token')]) {
    await assert.rejects(
      adminNamed(bare, redis, { token: wrong, from: '--token-file /tmp/t' }),
      /^AirlockError: --token-file \/tmp\/t: the token matches no admin$/,
    );
  }
});

test('with admins configured, a command checks against them and ignores published local tokens', async () => {
  await redis.hset('{admins}:local-admin', 'host:AIRLOCK_ADMIN_TOKEN', sha256('published-token'));
  assert.equal(await adminNamed(withAdmins, redis, { token: 'alice-token-0123456789', from: 'x' }), 'alice');
  await assert.rejects(
    adminNamed(withAdmins, redis, { token: 'published-token', from: 'AIRLOCK_ADMIN_TOKEN' }),
    /AIRLOCK_ADMIN_TOKEN: the token matches no admin/,
  );
});

test('a Redis that comes back without its data gets the digest published again', async () => {
  const client = new Redis(server.url);
  const { logger } = captureLogger();
  const stop = await publishTokenDigest(client, {
    prefix: '{again}:',
    source: 'host:AIRLOCK_ADMIN_TOKEN',
    sha256: sha256('again'),
    timeoutMs: 5_000,
    logger,
  });
  try {
    await redis.del('{again}:local-admin'); // what a restart without persistence leaves
    client.disconnect(true);
    await until(
      'the digest to be published again',
      async () => (await redis.hget('{again}:local-admin', 'host:AIRLOCK_ADMIN_TOKEN')) === sha256('again'),
    );
  } finally {
    stop();
    client.disconnect();
  }
});
