import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AirlockError } from '../../src/errors.js';
import { capLogFields, logSettings, prettyMessage } from '../../src/logging.js';

test('the config sets the level and pretty output when the environment says nothing; pretty is auto unless set', () => {
  assert.deepEqual(logSettings({ level: 'warn', pretty: true }, {}), { level: 'warn', pretty: true });
  assert.deepEqual(logSettings({ pretty: false }, {}), { pretty: false });
  assert.deepEqual(logSettings({}, { AIRLOCK_LOG_LEVEL: '', AIRLOCK_LOG_PRETTY: '' }), { pretty: 'auto' });
});

test('AIRLOCK_LOG_LEVEL and AIRLOCK_LOG_PRETTY win over the config', () => {
  const cases: { config: { pretty?: boolean | 'auto' }; word: string; pretty: boolean | 'auto' }[] = [
    { config: { pretty: true }, word: '0', pretty: false },
    { config: { pretty: true }, word: 'FALSE', pretty: false },
    { config: {}, word: 'true', pretty: true },
    { config: { pretty: false }, word: ' 1 ', pretty: true },
    { config: { pretty: false }, word: 'auto', pretty: 'auto' },
    { config: { pretty: true }, word: 'Auto', pretty: 'auto' },
  ];
  for (const c of cases) assert.deepEqual(logSettings(c.config, { AIRLOCK_LOG_PRETTY: c.word }), { pretty: c.pretty }, c.word);
  assert.deepEqual(logSettings({ level: 'warn' }, { AIRLOCK_LOG_LEVEL: 'DEBUG' }), { level: 'debug', pretty: 'auto' });
});

test('NO_COLOR, when set and not empty, turns colour off', () => {
  assert.deepEqual(logSettings({}, { NO_COLOR: '1' }), { pretty: 'auto', noColor: true });
  assert.deepEqual(logSettings({}, { NO_COLOR: '' }), { pretty: 'auto' });
});

test('a level or a pretty word that means nothing is refused, naming the variable', () => {
  assert.throws(
    () => logSettings({}, { AIRLOCK_LOG_LEVEL: 'verbose' }),
    (err: unknown) => err instanceof AirlockError && /AIRLOCK_LOG_LEVEL: "verbose" is not a log level/.test(err.message),
  );
  for (const word of ['yes', 'constructor', 'toString'])
    assert.throws(
      () => logSettings({}, { AIRLOCK_LOG_PRETTY: word }),
      (err: unknown) => err instanceof AirlockError && err.message.includes(`AIRLOCK_LOG_PRETTY: "${word.toLowerCase()}" is none of`),
      word,
    );
});

const TIME = { level: 30, time: '2026-12-01T10:00:00.000Z' };
const PRETTY_CASES: { name: string; log: Record<string, unknown>; line: string }[] = [
  { name: 'a message alone', log: { ...TIME, msg: 'airlock stopped' }, line: 'airlock stopped' },
  {
    name: 'every field, in the order logged, simple strings bare',
    log: { ...TIME, request_id: 'b8df5df5-9c93', server: 'fx', tool: 'write_file', approval_id: 'apr_4Qx', msg: 'call held for approval' },
    line: 'call held for approval  request_id=b8df5df5-9c93 server=fx tool=write_file approval_id=apr_4Qx',
  },
  {
    name: 'numbers, booleans, null, lists and objects as JSON',
    log: { ...TIME, msg: 'm', tools: 14, is_error: false, grant: null, servers: ['fs', 'gh'], limit: { max: 3 } },
    line: 'm  tools=14 is_error=false grant=null servers=["fs","gh"] limit={"max":3}',
  },
  {
    name: 'strings a reader could misread quoted: spaces, quotes, equals signs, empty',
    log: { ...TIME, msg: 'm', err: 'connect ECONNREFUSED 127.0.0.1:1', said: 'a "b"', pair: 'k=v', empty: '' },
    line: 'm  err="connect ECONNREFUSED 127.0.0.1:1" said="a \\"b\\"" pair="k=v" empty=""',
  },
  {
    name: 'a field that would forge a line, rewrite one or reorder it stays on its line, escaped',
    log: { ...TIME, msg: 'call refused', tool: 'a\n[00:00:00.000] INFO: approved\r\u001b[2J\u202Egnp.exe\u200B' },
    line: 'call refused  tool="a\\n[00:00:00.000] INFO: approved\\r\\u001b[2J\\u202Egnp.exe\\u200B"',
  },
  {
    name: 'a message naming hostile text: its line breaks indented, its invisible characters escaped',
    log: { ...TIME, msg: 'approval needed: fx/evil\n[00:00:00.000] INFO: approved\r\u001b[31m\u202Ex' },
    line: 'approval needed: fx/evil\n    [00:00:00.000] INFO: approved\\u000D\\u001B[31m\\u202Ex',
  },
  {
    name: 'a message that already reads as an escape cannot pass for one',
    log: { ...TIME, msg: 'typed \\u202E' },
    line: 'typed \\\\u202E',
  },
];
for (const c of PRETTY_CASES) test(`prettyMessage: ${c.name}`, () => assert.equal(prettyMessage(c.log), c.line));

test('prettyMessage shows a field cut by capLogFields with its marker, so a pretty line is bounded like a JSON one', () => {
  const line = prettyMessage({ ...TIME, msg: 'm', ...capLogFields({ tool: 'x'.repeat(5_000) }) });
  assert.match(line, /^m {2}tool="x{2000}…\[3000 more characters\]"$/);
});
