import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
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

test('a REDIS_URL that is no URL is one failed doctor check, named without its password, and the other checks still run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-cli-error-'));
  writeFileSync(join(dir, 'airlock.yaml'), 'servers:\n  s: { command: node, args: [-e, "1"], policy: p.yaml }\n');
  writeFileSync(join(dir, 'p.yaml'), 'version: "1"\ndefault: deny\n');
  const { code, stdout, stderr } = await cli(['doctor'], dir, { REDIS_URL: 'redis://:SECRET1@127.0.0.1:99999' });
  assert.equal(code, 1);
  assert.match(stdout, /^error +redis: REDIS_URL is not a URL/m);
  assert.match(stdout, /^ok +config/m);
  assert.ok(!`${stdout}${stderr}`.includes('SECRET1'), stdout);
});
