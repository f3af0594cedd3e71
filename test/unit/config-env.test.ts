import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_REDIS_URL, expandString, findConfigFile, redisUrl } from '../../src/config/index.js';

const ENV = { HOST: 'db.internal', EMPTY: '', PORT: '5432' };

const expansions: { name: string; input: string; output?: string; error?: string }[] = [
  { name: 'plain text is unchanged', input: 'no references here $HOST', output: 'no references here $HOST' },
  { name: '${VAR} inside text', input: 'postgres://${HOST}:${PORT}/db', output: 'postgres://db.internal:5432/db' },
  { name: 'a set but empty ${VAR} is empty', input: '[${EMPTY}]', output: '[]' },
  { name: '${VAR:-default} with the variable set', input: '${HOST:-localhost}', output: 'db.internal' },
  { name: '${VAR:-default} with the variable empty', input: '${EMPTY:-localhost}', output: 'localhost' },
  { name: '${VAR:-default} with the variable unset', input: '${NOPE:-localhost}', output: 'localhost' },
  { name: 'an empty default', input: 'x${NOPE:-}y', output: 'xy' },
  { name: 'a default holding a reference', input: '${NOPE:-${HOST}}', output: 'db.internal' },
  { name: '$${ is a literal ${', input: '$${HOST} and $${NOPE}', output: '${HOST} and ${NOPE}' },
  { name: '$${ inside a default', input: '${NOPE:-$${X}}', output: '${X}' },
  { name: 'an unused default may name an unset variable', input: '${HOST:-${NOPE}}', output: 'db.internal' },
  { name: 'an unset variable', input: 'x ${NOPE} y', error: 'environment variable NOPE is not set (use ${NOPE:-value} for a default)' },
  {
    name: 'an unset variable in a used default',
    input: '${NOPE:-${ALSO_NOPE}}',
    error: 'environment variable ALSO_NOPE is not set (use ${ALSO_NOPE:-value} for a default)',
  },
  {
    name: 'a missing "}"',
    input: '${HOST',
    error: 'cannot read "${HOST" as a variable reference: write ${NAME} or ${NAME:-default}, or $${ for a literal "${"',
  },
  {
    name: 'shell-style "-" without ":"',
    input: '${HOST-x}',
    error: 'cannot read "${HOST-x}" as a variable reference: write ${NAME} or ${NAME:-default}, or $${ for a literal "${"',
  },
];

for (const c of expansions) {
  test(`expandString: ${c.name}`, () => {
    const result = expandString(c.input, ENV);
    assert.deepEqual(result, c.error === undefined ? { ok: true, text: c.output } : { ok: false, message: c.error });
  });
}

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function folderWith(...names: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-find-'));
  dirs.push(dir);
  for (const name of names) writeFileSync(join(dir, name), 'servers: {}\n');
  return dir;
}

const packageRoot = resolve(fileURLToPath(new URL('../../', import.meta.url)));

const lookups: { name: string; files: string[]; explicit?: string; expected: (dir: string) => string }[] = [
  { name: '-c wins over ./airlock.yaml', files: ['airlock.yaml'], explicit: 'other.yaml', expected: (dir) => join(dir, 'other.yaml') },
  { name: 'an absolute -c is kept', files: [], explicit: '/etc/airlock.yaml', expected: () => '/etc/airlock.yaml' },
  { name: './airlock.yaml comes first', files: ['airlock.json', 'airlock.yaml'], expected: (dir) => join(dir, 'airlock.yaml') },
  { name: './airlock.json when there is no YAML', files: ['airlock.json'], expected: (dir) => join(dir, 'airlock.json') },
  { name: "the package's example otherwise", files: [], expected: () => join(packageRoot, 'examples', 'airlock.yaml') },
];

for (const c of lookups) {
  test(`findConfigFile: ${c.name}`, () => {
    const dir = folderWith(...c.files);
    assert.equal(findConfigFile(dir, c.explicit), c.expected(dir));
  });
}

const redis: { name: string; url?: string; env: NodeJS.ProcessEnv; expected: string }[] = [
  { name: 'redis.url wins over REDIS_URL', url: 'redis://a:1', env: { REDIS_URL: 'redis://b:2' }, expected: 'redis://a:1' },
  { name: 'REDIS_URL without redis.url', env: { REDIS_URL: 'redis://b:2' }, expected: 'redis://b:2' },
  { name: 'the local default with neither', env: {}, expected: DEFAULT_REDIS_URL },
  { name: 'an empty REDIS_URL counts as unset', env: { REDIS_URL: '' }, expected: 'redis://127.0.0.1:6379' },
];

for (const c of redis) {
  test(`redisUrl: ${c.name}`, () => {
    assert.equal(redisUrl({ redis: { url: c.url } }, c.env), c.expected);
  });
}
