import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redisUrl } from '../../src/config/index.js';
import { redactRedisUrl } from '../../src/redis/index.js';

const cases = [
  { name: 'a URL without a password is unchanged', url: 'redis://127.0.0.1:6379', shown: 'redis://127.0.0.1:6379' },
  { name: 'a password alone becomes ***', url: 'redis://:hunter2@127.0.0.1:6379', shown: 'redis://:***@127.0.0.1:6379' },
  {
    name: 'the user name and database stay',
    url: 'redis://app:hunter2@redis.internal:6380/2',
    shown: 'redis://app:***@redis.internal:6380/2',
  },
  {
    name: 'a percent-encoded password is hidden whole',
    url: 'rediss://default:p%40ss%3Aword@cache.example.com',
    shown: 'rediss://default:***@cache.example.com',
  },
  { name: 'a user name without a password is unchanged', url: 'redis://app@127.0.0.1', shown: 'redis://app@127.0.0.1' },
  { name: 'text that is not a URL is returned as is', url: 'not a url', shown: 'not a url' },
  {
    name: 'a password in the query string, which ioredis reads too, becomes ***',
    url: 'redis://127.0.0.1:6379/0?password=SECRETQ&db=1',
    shown: 'redis://127.0.0.1:6379/0?password=***&db=1',
  },
  {
    name: 'a URL that does not parse has everything between // and its last @ masked',
    url: 'redis://:SECRET1@127.0.0.1:99999',
    shown: 'redis://***@127.0.0.1:99999',
  },
  { name: 'a password with @ and a space is masked whole', url: 'redis://u:p@ss w@host', shown: 'redis://u:***@host' },
];

for (const c of cases) {
  test(`redactRedisUrl: ${c.name}`, () => {
    assert.equal(redactRedisUrl(c.url), c.shown);
  });
}

test('a REDIS_URL that is no URL is refused without repeating it', () => {
  assert.throws(
    () => redisUrl({ redis: {} }, { REDIS_URL: 'redis://:SECRET1@127.0.0.1:99999' }),
    (err: Error) => /REDIS_URL is not a URL/.test(err.message) && !err.message.includes('SECRET1'),
  );
  assert.equal(redisUrl({ redis: {} }, { REDIS_URL: 'redis://:pw@h:6380/1' }), 'redis://:pw@h:6380/1');
  assert.equal(redisUrl({ redis: { url: 'redis://a' } }, { REDIS_URL: 'not a url' }), 'redis://a');
});
