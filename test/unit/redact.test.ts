import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SECRET_KEYS } from '../../src/config/schema.js';
import { REDACTED, Redactor } from '../../src/redact.js';

const redactor = new Redactor(DEFAULT_SECRET_KEYS);

const keys: [string, boolean][] = [
  ['password', true],
  ['db_password', true],
  ['passwordHash', true],
  ['apiKey', true],
  ['api_key', true],
  ['x-api-key', true],
  ['X-Auth-Token', true],
  ['access_token', true],
  ['Authorization', true],
  ['clientSecret', true],
  ['AWS_SECRET_ACCESS_KEY', true],
  ['credentials', true],
  ['Cookie', true],
  ['path', false],
  ['keyboard', false],
  ['monkey', false],
  ['tokenizer', false],
  ['content', false],
  ['author', false],
];
for (const [key, secret] of keys) {
  test(`the key ${key} is ${secret ? '' : 'not '}secret`, () => assert.equal(redactor.isSecretKey(key), secret));
}

const values: [string, unknown, unknown][] = [
  ['a bearer credential', { header: 'Bearer eyJhbGciOi.x1.y' }, { header: `Bearer ${REDACTED}` }],
  [
    'a header line in a list',
    { headers: ['Accept: */*', 'Authorization: Bearer abc.def.123', 'Cookie: sid=s3cr3t; theme=dark'] },
    { headers: ['Accept: */*', `Authorization: Bearer ${REDACTED}`, `Cookie: ${REDACTED}`] },
  ],
  [
    'a credential inside a command line',
    { command: 'curl -H "Authorization: Basic dXNlcjpwYXNzMTIz" https://x' },
    { command: `curl -H "Authorization: Basic ${REDACTED}" https://x` },
  ],
  ['a password in a URL', { dsn: 'postgres://app:pa55word@db:5432/prod' }, { dsn: `postgres://app:${REDACTED}@db:5432/prod` }],
  ['a Slack bot token', { note: 'use xoxb-123-456-abc please' }, { note: `use ${REDACTED} please` }],
  ['a GitHub token', ['ghp_abcdefghijklmnopqrstuvwxyz0123456789'], [REDACTED]],
  ['an AWS access key id', { id: 'AKIAABCDEFGHIJKLMNOP' }, { id: REDACTED }],
  ['an sk- API key', { text: 'key sk-proj-abcdefghijklmnop1234' }, { text: `key ${REDACTED}` }],
  [
    'a PEM private key',
    { pem: '-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\nrest' },
    { pem: `${REDACTED}\nrest` },
  ],
  ['nested secrets', { a: { b: [{ password: 'x' }] } }, { a: { b: [{ password: REDACTED }] } }],
  ['an object under a secret key', { credentials: { user: 'u', pass: 'p' } }, { credentials: REDACTED }],
  ['empty and null secrets are left as they are', { password: '', token: null }, { password: '', token: null }],
  [
    'ordinary text that only looks like it',
    { text: 'Basic information about the Bearer of bad news' },
    { text: 'Basic information about the Bearer of bad news' },
  ],
  [
    'ordinary values',
    { path: '/tmp/a', n: 3, ok: true, list: ['a'], url: 'https://example.com/a:b' },
    { path: '/tmp/a', n: 3, ok: true, list: ['a'], url: 'https://example.com/a:b' },
  ],
];
for (const [name, input, expected] of values) {
  test(`redacts ${name}`, () => assert.deepEqual(redactor.redact(input).value, expected));
}

test('a __proto__ key stays an own key and its value is still walked', () => {
  const input = JSON.parse('{"__proto__": {"password": "p"}, "x": 1}') as Record<string, unknown>;
  const { value, redacted } = redactor.redact(input);
  assert.equal(redacted, true);
  assert.equal(JSON.stringify(value), '{"__proto__":{"password":"[redacted]"},"x":1}');
});

test('the input is never changed', () => {
  const input = { password: 'p', nested: { token: 't' } };
  redactor.redact(input);
  assert.deepEqual(input, { password: 'p', nested: { token: 't' } });
});

test('configured keys replace the defaults', () => {
  const custom = new Redactor(['ssn']);
  assert.deepEqual(custom.redact({ ssn: '123', password: 'p' }).value, { ssn: REDACTED, password: 'p' });
});

test('a text hider hides in a reason the values redacted from the arguments, and credentials of known shapes', () => {
  const hide = redactor.textHider({ api_key: 'sk_live_abcdef123456', path: '/tmp/x', nested: { password: 'hunter22' } });
  assert.equal(
    hide('args.api_key is "sk_live_abcdef123456" and password hunter22 on /tmp/x'),
    `args.api_key is "${REDACTED}" and password ${REDACTED} on /tmp/x`,
  );
  assert.equal(hide('upstream said: Authorization: Bearer abc.def.ghi'), `upstream said: Authorization: Bearer ${REDACTED}`);
});
