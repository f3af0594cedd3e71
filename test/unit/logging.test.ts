import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AirlockError } from '../../src/errors.js';
import { logSettings } from '../../src/logging.js';

test('the config sets the level and pretty output when the environment says nothing', () => {
  assert.deepEqual(logSettings({ level: 'warn', pretty: true }, {}), { level: 'warn', pretty: true });
  assert.deepEqual(logSettings({}, { AIRLOCK_LOG_LEVEL: '', AIRLOCK_LOG_PRETTY: '' }), { pretty: false });
});

test('AIRLOCK_LOG_LEVEL and AIRLOCK_LOG_PRETTY win over the config', () => {
  assert.deepEqual(logSettings({ level: 'warn', pretty: true }, { AIRLOCK_LOG_LEVEL: 'DEBUG', AIRLOCK_LOG_PRETTY: '0' }), {
    level: 'debug',
    pretty: false,
  });
  assert.deepEqual(logSettings({}, { AIRLOCK_LOG_PRETTY: 'true' }), { pretty: true });
});

test('a level or a pretty flag that means nothing is refused, naming the variable', () => {
  assert.throws(
    () => logSettings({}, { AIRLOCK_LOG_LEVEL: 'verbose' }),
    (err: unknown) => err instanceof AirlockError && /AIRLOCK_LOG_LEVEL: "verbose" is not a log level/.test(err.message),
  );
  assert.throws(
    () => logSettings({}, { AIRLOCK_LOG_PRETTY: 'yes' }),
    (err: unknown) => err instanceof AirlockError && /AIRLOCK_LOG_PRETTY: "yes"/.test(err.message),
  );
});
