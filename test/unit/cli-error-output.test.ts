import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli } from '../support/run-cli.js';

test('an error message quoting text Airlock did not choose (here a file name) cannot drive the terminal it is printed on', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-cli-error-'));
  const name = 'policy\u001b[2J\u001b[H\r\u202Eall good.yaml';
  const { code, stderr } = await cli(['tools', '-c', name], dir);
  assert.equal(code, 1);
  assert.match(stderr, /^airlock: /);
  assert.ok(!['\u001b', '\r', '\u202E'].some((c) => stderr.includes(c)), JSON.stringify(stderr));
  assert.ok(stderr.includes('policy\\u001B[2J\\u001B[H\\u000D\\u202Eall good.yaml'), stderr);
});
