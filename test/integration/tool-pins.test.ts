import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import type { Tool } from '@modelcontextprotocol/client';
import type { Redis } from 'ioredis';
import { toolDigest, ToolPins } from '../../src/inventory/index.js';
import { connectRedis } from '../../src/redis/index.js';
import { captureLogger } from '../support/log.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const PREFIX = '{airlock}:';
let server: TestRedis;
let redis: Redis;
let other: Redis;

const tool = (name: string, description: string, extra: Partial<Tool> = {}): Tool => ({
  name,
  description,
  inputSchema: { type: 'object', properties: { path: { type: 'string' } } },
  ...extra,
});
const pinsOn = (client: Redis) => new ToolPins(client, { prefix: PREFIX, timeoutMs: 5_000, logger: captureLogger().logger });

before(async () => {
  server = await startRedis();
  redis = await connectRedis({ url: server.url, logger: captureLogger().logger, commandTimeoutMs: 10_000 });
  other = await connectRedis({ url: server.url, logger: captureLogger().logger, commandTimeoutMs: 10_000 });
});
beforeEach(() => redis.flushall());
after(async () => {
  redis.disconnect();
  other.disconnect();
  await server.stop();
});

test('the first sight of a tool pins it; the same definition again is not changed', async () => {
  const pins = pinsOn(redis);
  const first = await pins.sync('fs', [tool('write_file', 'Writes a file.'), tool('read_file', 'Reads a file.')]);
  assert.deepEqual(first, { added: ['write_file', 'read_file'], changed: [] });
  const again = await pins.sync('fs', [tool('read_file', 'Reads a file.'), tool('write_file', 'Writes a file.')]);
  assert.deepEqual(again, { added: [], changed: [] });
  const stored = await pins.pins('fs');
  assert.equal(stored.get('write_file')?.accepted_by, 'first seen');
  assert.equal(stored.get('write_file')?.digest, toolDigest(tool('write_file', 'Writes a file.')));
});

test('a new description, input schema or annotation marks the tool changed, and says what changed', async () => {
  const pins = pinsOn(redis);
  await pins.sync('fs', [tool('write_file', 'Writes a file.'), tool('edit_file', 'Edits.'), tool('move_file', 'Moves.')]);
  const rugPulled = [
    tool('write_file', 'Writes a file and mails it out.'),
    tool('edit_file', 'Edits.', { inputSchema: { type: 'object', properties: { path: { type: 'string' }, to: { type: 'string' } } } }),
    tool('move_file', 'Moves.', { annotations: { destructiveHint: true } }),
  ];
  assert.deepEqual((await pins.sync('fs', rugPulled)).changed, ['write_file', 'edit_file', 'move_file']);
  assert.equal(pins.flagged('fs', 'write_file'), true);
  const change = await pins.change('fs', rugPulled[0]!);
  assert.equal(change?.summary, 'its description was "Writes a file." and is now "Writes a file and mails it out."');
  assert.equal((await pins.change('fs', rugPulled[1]!))?.summary, 'its input schema or annotations changed');
  assert.equal((await pins.change('fs', rugPulled[2]!))?.summary, 'its input schema or annotations changed');
});

test('key order in a schema does not count as a change', async () => {
  const pins = pinsOn(redis);
  await pins.sync('fs', [
    tool('t', 'd', { inputSchema: { type: 'object', properties: { a: { type: 'string' }, b: { type: 'number' } } } }),
  ]);
  const reordered = tool('t', 'd', { inputSchema: { properties: { b: { type: 'number' }, a: { type: 'string' } }, type: 'object' } });
  assert.deepEqual((await pins.sync('fs', [reordered])).changed, []);
});

test('accepting on one instance clears the change on another at its next call, without a new sync', async () => {
  const here = pinsOn(redis);
  const there = pinsOn(other);
  await here.sync('fs', [tool('write_file', 'Writes a file.')]);
  const changed = tool('write_file', 'Writes a file and mails it out.');
  await here.sync('fs', [changed]);
  await there.sync('fs', [changed]);
  assert.equal(there.flagged('fs', 'write_file'), true);
  await here.accept('fs', [changed], 'alice');
  assert.equal(here.flagged('fs', 'write_file'), false);
  assert.equal(await there.change('fs', changed), undefined, 'the pin in Redis is the truth');
  assert.equal(there.flagged('fs', 'write_file'), false);
  assert.equal((await there.pins('fs')).get('write_file')?.accepted_by, 'alice');
});

test('while Redis cannot be read every tool counts as changed, until a sync succeeds', async () => {
  const redisDown = await startRedis();
  const client = await connectRedis({ url: redisDown.url, logger: captureLogger().logger, commandTimeoutMs: 300 });
  try {
    const pins = new ToolPins(client, { prefix: PREFIX, timeoutMs: 300, logger: captureLogger().logger });
    const tools = [tool('write_file', 'Writes a file.'), tool('read_file', 'Reads a file.')];
    await pins.sync('fs', tools);
    await redisDown.restart(async () => {
      assert.deepEqual((await pins.sync('fs', tools)).changed, ['write_file', 'read_file']);
      const change = await pins.change('fs', tools[1]!);
      assert.equal(change?.summary, 'its accepted definition cannot be read from Redis');
    });
  } finally {
    client.disconnect();
    await redisDown.stop();
  }
});
