import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withoutUpstreamHints } from '../../src/proxy/upstream-hints.js';

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

for (const c of CASES) test(`withoutUpstreamHints: ${c.name}`, () => assert.deepEqual(withoutUpstreamHints(c.result), c.kept));

test('withoutUpstreamHints: nothing to remove returns the same object, with nothing copied', () => {
  const result = { tools: [] };
  assert.equal(withoutUpstreamHints(result), result);
});
