import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Redis } from 'ioredis';
import { connectRedis, defineLuaScripts, LuaScript } from '../../src/redis/index.js';
import { captureLogger } from '../support/log.js';
import { startRedis, type TestRedis } from '../support/redis.js';

let redis: TestRedis;
let client: Redis;
let dir: string;
before(async () => {
  redis = await startRedis();
  client = await connectRedis({ url: redis.url, logger: captureLogger().logger, commandTimeoutMs: 5_000 });
  dir = mkdtempSync(join(tmpdir(), 'airlock-lua-'));
  writeFileSync(
    join(dir, 'sum.lua'),
    '-- KEYS: counters; ARGV[1]: how much to add to each\n--@include add.lua\nlocal total = 0\nfor _, key in ipairs(KEYS) do total = total + add(key, ARGV[1]) end\nreturn total\n',
  );
  writeFileSync(join(dir, 'pair.lua'), '--@include add.lua\nreturn {add(KEYS[1], ARGV[1]), add(KEYS[2], ARGV[2])}\n');
  writeFileSync(join(dir, 'add.lua'), "local function add(key, by) return redis.call('INCRBY', key, by) end\n");
});
after(async () => {
  client.disconnect();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a script with a fixed key count and one that counts the keys it is given both run with their includes', async () => {
  const scripts = {
    sum: new LuaScript<number, string[], [by: number]>({ name: 'airlockTestSum', file: pathToFileURL(join(dir, 'sum.lua')) }),
    pair: new LuaScript<number[], [first: string, second: string], [byFirst: number, bySecond: number]>({
      name: 'airlockTestPair',
      file: pathToFileURL(join(dir, 'pair.lua')),
      numberOfKeys: 2,
    }),
  };
  const run = defineLuaScripts(client, scripts);
  assert.equal(await run.sum(['{t}a', '{t}b', '{t}c'], [2]), 6);
  assert.equal(await run.sum(['{t}a'], [1]), 3);
  assert.deepEqual(await run.pair(['{t}a', '{t}b'], [10, 20]), [13, 22]);
});

test('after SCRIPT FLUSH (as after a Redis restart) a defined script is sent again in full and keeps working', async () => {
  const pair = new LuaScript<number[], [first: string, second: string], [byFirst: number, bySecond: number]>({
    name: 'airlockTestFlushed',
    file: pathToFileURL(join(dir, 'pair.lua')),
    numberOfKeys: 2,
  });
  const run = pair.define(client);
  assert.deepEqual(await run(['{f}a', '{f}b'], [1, 1]), [1, 1]);
  assert.deepEqual(await client.script('EXISTS', sha1(pair.source)), [1]);
  await client.script('FLUSH');
  assert.deepEqual(await client.script('EXISTS', sha1(pair.source)), [0]);
  assert.deepEqual(await run(['{f}a', '{f}b'], [1, 1]), [2, 2]);
  assert.deepEqual(await client.script('EXISTS', sha1(pair.source)), [1]);
});

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}
