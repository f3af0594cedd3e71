import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shownRedisUrl, whereLine, type RedisTarget } from '../../src/cli/where.js';
import type { LoadedConfig } from '../../src/config/index.js';

const urls = [
  { name: 'the default port and database are written out', url: 'redis://127.0.0.1:6379', shown: 'redis://127.0.0.1:6379/0' },
  { name: 'a password alone is masked', url: 'redis://:hunter2@127.0.0.1:6380/2', shown: 'redis://:***@127.0.0.1:6380/2' },
  {
    name: 'a user keeps its name, its percent-encoded password is masked whole',
    url: 'rediss://default:p%40ss%3Aword@cache.example.com',
    shown: 'rediss://default:***@cache.example.com:6379/0',
  },
  { name: 'a user without a password stays', url: 'redis://app@redis.internal/1', shown: 'redis://app@redis.internal:6379/1' },
  { name: 'an IPv6 host keeps its brackets', url: 'redis://[::1]:7000', shown: 'redis://[::1]:7000/0' },
  { name: 'text that is not a URL is returned as is', url: 'not a url', shown: 'not a url' },
];

for (const c of urls) {
  test(`shownRedisUrl: ${c.name}`, () => {
    assert.equal(shownRedisUrl(c.url), c.shown);
  });
}

const io = { out: () => undefined, err: () => undefined, cwd: '/srv/airlock', env: {} };
const config = (prefix = '{airlock}:') => ({ file: '/srv/airlock/airlock.yaml', redis: { prefix } }) as unknown as LoadedConfig;
const lines: { name: string; prefix?: string; redis: RedisTarget | 'not used'; line: string }[] = [
  {
    name: 'the config as typed in its folder, the Redis and where its URL came from',
    redis: { url: 'redis://127.0.0.1:6379', from: 'REDIS_URL' },
    line: 'config airlock.yaml · redis redis://127.0.0.1:6379/0 (REDIS_URL)',
  },
  {
    name: 'the private redis-server, its password masked',
    redis: { url: 'redis://:s3cret@127.0.0.1:40123', from: 'private' },
    line: 'config airlock.yaml · redis redis://:***@127.0.0.1:40123/0 (the private redis-server of the gateway running this config)',
  },
  {
    name: 'a prefix other than the default, which keys another set of requests',
    prefix: '{team-b}:',
    redis: { url: 'rediss://app:pw@cache:6380/3', from: 'redis.url' },
    line: 'config airlock.yaml · redis rediss://app:***@cache:6380/3 (redis.url) · prefix {team-b}:',
  },
  { name: 'no Redis asked', redis: 'not used', line: 'config airlock.yaml · redis not used' },
];

for (const c of lines) {
  test(`whereLine: ${c.name}`, () => {
    assert.equal(whereLine(io, config(c.prefix), c.redis), c.line);
  });
}
