import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { AirlockError, ErrorCode } from '../../src/errors.js';
import { ensureRedis, findExecutable, freePort, probeRedis, startRedisServer, type EnsuredRedis } from '../../src/redis/index.js';
import { captureLogger, LEVEL } from '../support/log.js';
import { until } from '../support/poll.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const REDIS_INDEX = fileURLToPath(new URL('../../src/redis/index.ts', import.meta.url));
const REDIS_SERVER = findExecutable('redis-server', process.env.PATH);
/** A PATH with node but without redis-server (on this machine they live in different folders, or there is none to hide). */
const PATH_WITHOUT_REDIS = dirname(process.execPath) === dirname(REDIS_SERVER ?? '') ? '' : dirname(process.execPath);

let shared: TestRedis;
const cleanups: (() => Promise<void> | void)[] = [];
before(async () => {
  shared = await startRedis();
});
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await shared.stop();
});

function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-state-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function deadUrl(): Promise<string> {
  return `redis://127.0.0.1:${await freePort()}`;
}

async function ensured(options: Partial<Parameters<typeof ensureRedis>[0]> & { url: string; stateDir: string }): Promise<EnsuredRedis> {
  const result = await ensureRedis({ explicit: false, logger: captureLogger().logger, ...options });
  cleanups.push(() => result.stop());
  return result;
}

async function refusal(run: Promise<unknown>): Promise<AirlockError> {
  const err = await run.then(
    () => assert.fail('ensureRedis succeeded'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof AirlockError, String(err));
  assert.equal(err.code, ErrorCode.RedisUnavailable);
  assert.doesNotMatch(err.message, /\n/, 'the message is one line');
  return err;
}

/** A Node process running `body` with the Redis module's exports and a silent `logger` in scope. */
function airlockLike(body: string): ChildProcessByStdio<null, Readable, null> {
  const script = `
    const { connectRedis, ensureRedis, probeRedis } = await import(${JSON.stringify(REDIS_INDEX)});
    const logger = { info() {}, warn() {}, error() {} };
    ${body}
  `;
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
}

/** Waits for the process to exit and returns its code, and what it wrote to stdout; kills it after 30 s. */
async function exitOf(child: ChildProcessByStdio<null, Readable, null>): Promise<{ code: number | null; stdout: string }> {
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  assert.equal(signal, null, 'the process was still running after 30 s');
  return { code, stdout };
}

/** The `url` of the first JSON line the process prints. */
async function firstLine(child: ChildProcessByStdio<null, Readable, null>): Promise<string> {
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  return (JSON.parse(line.toString()) as { url: string }).url;
}

async function withClient<T>(url: string, use: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url, { lazyConnect: true, retryStrategy: () => null, disconnectTimeout: 100 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}

test('a Redis that answers at the URL is used as is, and nothing is started', async () => {
  const dir = stateDir();
  const { logger, lines } = captureLogger();
  const result = await ensured({ url: shared.url, stateDir: dir, logger });
  assert.equal(result.url, shared.url);
  assert.equal(result.privateServer, false);
  await result.stop();
  assert.ok((await probeRedis(shared.url)).ok, 'stop() left the Redis it did not start alone');
  assert.equal(existsSync(join(dir, 'redis')), false);
  assert.deepEqual(lines, []);
});

test('a Redis that answers but refuses the password is still the one meant: it is returned, not replaced', async () => {
  const dir = stateDir();
  const server = await startRedisServer({ binary: 'redis-server', dir: join(dir, 'other'), password: 'right' });
  cleanups.push(() => server.stop());
  const url = `redis://:wrong@127.0.0.1:${server.port}`;
  const result = await ensured({ url, stateDir: dir });
  assert.deepEqual({ url: result.url, privateServer: result.privateServer }, { url, privateServer: false });
  assert.equal(existsSync(join(dir, 'redis')), false);
});

test('with no Redis at the default URL, a private redis-server is started with its append-only file in the state folder', async () => {
  const dir = stateDir();
  const dead = await deadUrl();
  const { logger, lines } = captureLogger();
  const result = await ensured({ url: dead, stateDir: dir, logger });
  assert.equal(result.privateServer, true);
  assert.notEqual(result.url, dead);
  const { pid, appendonly, dataDir } = await withClient(result.url, async (redis) => ({
    pid: Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]),
    appendonly: await redis.config('GET', 'appendonly'),
    dataDir: await redis.config('GET', 'dir'),
  }));
  assert.deepEqual(appendonly, ['appendonly', 'yes']);
  assert.deepEqual(dataDir, ['dir', join(dir, 'redis')]);
  assert.ok(existsSync(join(dir, 'redis', 'appendonlydir')));
  const port = new URL(result.url).port;
  const info = lines.filter((l) => l.level === LEVEL.info);
  assert.equal(info.length, 1, JSON.stringify(lines));
  assert.equal(
    info[0]?.msg,
    `no Redis answered at ${dead}; started a private redis-server on 127.0.0.1:${port} (data in ${join(dir, 'redis')}, append-only file on)`,
  );
  const password = new URL(result.url).password;
  assert.ok(password.length >= 16, 'the private server has a password');
  assert.ok(!JSON.stringify(lines).includes(password), 'the password is not logged');

  await result.stop();
  assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the redis-server process is gone');
  assert.equal((await probeRedis(result.url)).ok, false);
});

test('the private redis-server accepts only clients that know its password', async () => {
  const result = await ensured({ url: await deadUrl(), stateDir: stateDir() });
  const withoutPassword = new URL(result.url);
  withoutPassword.password = '';
  const probe = await probeRedis(withoutPassword.toString());
  assert.ok(!probe.ok && probe.answered, JSON.stringify(probe));
  assert.match(probe.error, /NOAUTH/);
});

test('what a private redis-server stored is still there when Airlock starts it again', async () => {
  const dir = stateDir();
  const first = await ensured({ url: await deadUrl(), stateDir: dir });
  await withClient(first.url, (redis) => redis.set('approval:1', 'pending'));
  await first.stop();
  const second = await ensured({ url: await deadUrl(), stateDir: dir });
  assert.equal(await withClient(second.url, (redis) => redis.get('approval:1')), 'pending');
});

test('with no Redis and no redis-server on the PATH, the error is one line saying how to get Redis', async () => {
  const dead = await deadUrl();
  const dir = stateDir();
  const err = await refusal(
    ensureRedis({ url: dead, explicit: false, stateDir: dir, logger: captureLogger().logger, searchPath: PATH_WITHOUT_REDIS }),
  );
  assert.equal(
    err.message,
    `no Redis at ${dead} and no redis-server on the PATH: install Redis (apt-get install redis-server, brew install redis) or set REDIS_URL`,
  );
  assert.equal(existsSync(join(dir, 'redis')), false);
});

test('a Redis the operator named is never replaced by a private one', async () => {
  const dead = `redis://:s3cret@127.0.0.1:${await freePort()}`;
  const dir = stateDir();
  const err = await refusal(ensureRedis({ url: dead, explicit: true, stateDir: dir, logger: captureLogger().logger }));
  assert.match(err.message, /^no Redis answered at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ \(connect ECONNREFUSED/);
  assert.doesNotMatch(err.message, /s3cret/);
  assert.equal(existsSync(join(dir, 'redis')), false);
});

test('a second Airlock does not start another private server on the same data while the first runs', async () => {
  const dir = stateDir();
  await ensured({ url: await deadUrl(), stateDir: dir });
  const err = await refusal(ensureRedis({ url: await deadUrl(), explicit: false, stateDir: dir, logger: captureLogger().logger }));
  assert.match(err.message, new RegExp(`^another Airlock \\(pid ${process.pid}\\) runs a private redis-server with data in `));
});

test('a private server left running by a killed Airlock is shut down before a new one starts on its data', async () => {
  const dir = stateDir();
  const dead = await deadUrl();
  const earlier = airlockLike(`
    const redis = await ensureRedis({ url: ${JSON.stringify(dead)}, explicit: false, stateDir: ${JSON.stringify(dir)}, logger });
    console.log(JSON.stringify({ url: redis.url }));
    setInterval(() => {}, 1000);
  `);
  const orphan = await firstLine(earlier);
  await withClient(orphan, (redis) => redis.set('kept', 'yes'));
  earlier.kill('SIGKILL');
  await once(earlier, 'exit');
  cleanups.push(async () => {
    await withClient(orphan, (redis) => redis.call('SHUTDOWN')).catch(() => undefined);
  });
  assert.ok((await probeRedis(orphan)).ok, 'the orphan outlived its killed Airlock');

  const { logger, lines } = captureLogger();
  const result = await ensured({ url: dead, stateDir: dir, logger });
  assert.equal((await probeRedis(orphan)).ok, false, 'the orphan was shut down');
  assert.equal(await withClient(result.url, (redis) => redis.get('kept')), 'yes');
  assert.match(
    lines.find((l) => l.level === LEVEL.warn)?.msg ?? '',
    /^shutting down the private redis-server \(pid \d+\) left running by an Airlock \(pid \d+\) that was killed$/,
  );
});

test('the PATH search finds redis-server only where it is', () => {
  assert.ok(REDIS_SERVER !== undefined, 'these tests need redis-server on the PATH');
  assert.equal(findExecutable('redis-server', dirname(REDIS_SERVER)), REDIS_SERVER);
  assert.equal(findExecutable('redis-server', PATH_WITHOUT_REDIS), undefined);
  assert.equal(findExecutable('redis-server', undefined), undefined);
});

test('an Airlock that ends without calling stop() takes its private server with it', async () => {
  const child = airlockLike(`
    const redis = await ensureRedis({ url: ${JSON.stringify(await deadUrl())}, explicit: false, stateDir: ${JSON.stringify(stateDir())}, logger });
    console.log(JSON.stringify({ url: redis.url }));
  `);
  const url = await firstLine(child);
  await once(child, 'exit');
  await until('the private redis-server to go away', async () => !(await probeRedis(url, 200)).ok);
});

test('failed attempts to reach Redis leave nothing that keeps a CLI from exiting', async () => {
  const dead = await deadUrl();
  // A timer ioredis leaves behind would hold the process 2 s. After each attempt the process sets a timer of 1 s
  // that does not hold it: that timer fires only if something else still holds the process by then (timers fire in
  // the order they are due, however busy the machine).
  const { code, stdout } = await exitOf(
    airlockLike(`
    const held = (after) => setTimeout(() => (console.log('still running 1 s after ' + after), process.exit(3)), 1_000).unref();
    await connectRedis({ url: ${JSON.stringify(dead)}, logger }).catch(() => undefined);
    held('connectRedis');
    await probeRedis(${JSON.stringify(dead)});
    held('probeRedis');
    await ensureRedis({ url: ${JSON.stringify(dead)}, explicit: true, stateDir: '/nonexistent', logger }).catch(() => undefined);
    held('ensureRedis');
  `),
  );
  assert.equal(stdout, '');
  assert.equal(code, 0);
});
