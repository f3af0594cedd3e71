import assert from 'node:assert/strict';
import { test } from 'node:test';
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
];

for (const c of cases) {
  test(`redactRedisUrl: ${c.name}`, () => {
    assert.equal(redactRedisUrl(c.url), c.shown);
  });
}
