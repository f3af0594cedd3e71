import assert from 'node:assert/strict';
import { test } from 'node:test';
import { counterKey, DEFAULT_PREFIX, type Caller } from '../../src/limits/index.js';

const key = (scope: 'grant' | 'session' | 'global', caller: Caller) => counterKey(DEFAULT_PREFIX, { scope, counter: 'c' }, caller);

const CASES: { name: string; scope: 'grant' | 'session' | 'global'; caller: Caller; key: string }[] = [
  {
    name: 'a session counts for its session',
    scope: 'session',
    caller: { grant: 'ci', session: 's-1' },
    key: '{airlock}:limit:session:s-1:c',
  },
  {
    name: 'no session (2026) counts for the grant',
    scope: 'session',
    caller: { grant: 'ci', session: undefined },
    key: '{airlock}:limit:session-grant:ci:c',
  },
  {
    name: 'no session and no grant share the grant-less key',
    scope: 'session',
    caller: { grant: undefined, session: undefined },
    key: '{airlock}:limit:session-grant::c',
  },
  {
    name: 'a grant name with ":" is encoded',
    scope: 'session',
    caller: { grant: 'a:b', session: undefined },
    key: '{airlock}:limit:session-grant:a%3Ab:c',
  },
  { name: 'scope grant ignores the session', scope: 'grant', caller: { grant: 'ci', session: 's-1' }, key: '{airlock}:limit:grant:ci:c' },
  { name: 'scope global is one key', scope: 'global', caller: { grant: 'ci', session: undefined }, key: '{airlock}:limit:global:-:c' },
];

for (const c of CASES) test(`counterKey: ${c.name}`, () => assert.equal(key(c.scope, c.caller), c.key));

test('counterKey: two grants without sessions never share a scope: session counter', () => {
  assert.notEqual(key('session', { grant: 'a', session: undefined }), key('session', { grant: 'b', session: undefined }));
});

test('counterKey: a session id that equals a grant name is not that grant counter', () => {
  assert.notEqual(key('session', { grant: 'x', session: 'ci' }), key('session', { grant: 'ci', session: undefined }));
});
