import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forwardedResult } from '../../src/proxy/forwarded-result.js';

const INFO = 'io.modelcontextprotocol/serverInfo';

const CASES: { name: string; result: Record<string, unknown>; kept: Record<string, unknown> }[] = [
  { name: 'a 2025 result is left as it is', result: { tools: [] }, kept: { tools: [] } },
  {
    name: "a 2026 server's cache hints and resultType go",
    result: { tools: [], ttlMs: 60_000, cacheScope: 'public', resultType: 'complete' },
    kept: { tools: [] },
  },
  {
    name: 'its serverInfo goes, and an empty _meta with it',
    result: { contents: [], _meta: { [INFO]: { name: 'up', version: '1' } } },
    kept: { contents: [] },
  },
  {
    name: 'other _meta keys stay',
    result: { content: [], _meta: { [INFO]: { name: 'up', version: '1' }, 'airlock/decision': { decision: 'allow' } } },
    kept: { content: [], _meta: { 'airlock/decision': { decision: 'allow' } } },
  },
];

for (const c of CASES) test(`forwardedResult: ${c.name}`, () => assert.deepEqual(forwardedResult(c.result), c.kept));

test('forwardedResult: nothing to remove returns the same object, with nothing copied', () => {
  const result = { tools: [] };
  assert.equal(forwardedResult(result), result);
});

test('forwardedResult: the original is left as it was', () => {
  const result = { content: [], ttlMs: 5, _meta: { [INFO]: {}, progressToken: 1 } };
  assert.deepEqual(forwardedResult(result), { content: [], _meta: { progressToken: 1 } });
  assert.deepEqual(result, { content: [], ttlMs: 5, _meta: { [INFO]: {}, progressToken: 1 } });
});
