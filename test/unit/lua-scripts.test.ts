import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { LuaScript, LuaScriptError, readLuaScript } from '../../src/redis/index.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Writes `files` (path → text) into a fresh folder; returns its path. */
function scripts(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-lua-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

function scriptError(run: () => unknown): LuaScriptError {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof LuaScriptError, `expected a LuaScriptError, got ${String(err)}`);
    return err;
  }
  assert.fail('the script was read without an error');
}

test('an include line is replaced by the file it names, found beside the including file', () => {
  const dir = scripts({
    'main.lua': '-- header\n--@include helpers.lua\nreturn double(2)\n',
    'helpers.lua': 'local function double(n) return 2 * n end\n',
  });
  assert.equal(readLuaScript(join(dir, 'main.lua')), '-- header\nlocal function double(n) return 2 * n end\nreturn double(2)\n');
});

test('a file URL is read like a path', () => {
  const dir = scripts({ 'main.lua': 'return 1\n' });
  assert.equal(readLuaScript(pathToFileURL(join(dir, 'main.lua'))), 'return 1\n');
});

test('nested includes resolve from the folder of the file that includes them', () => {
  const dir = scripts({
    'approvals/main.lua': '--@include ../shared/clock.lua\nreturn now()\n',
    'shared/clock.lua': '--@include lib/time.lua\nlocal function now() return time() end\n',
    'shared/lib/time.lua': 'local function time() return 7 end\n',
  });
  assert.equal(
    readLuaScript(join(dir, 'approvals/main.lua')),
    'local function time() return 7 end\nlocal function now() return time() end\nreturn now()\n',
  );
});

test('a file included twice, directly or through another, is written in once, where it is first included', () => {
  const dir = scripts({
    'main.lua': '--@include a.lua\n--@include b.lua\n--@include state.lua\nreturn 1\n',
    'a.lua': '--@include state.lua\n-- a\n',
    'b.lua': '--@include state.lua\n-- b\n',
    'state.lua': '-- state\n',
  });
  assert.equal(readLuaScript(join(dir, 'main.lua')), '-- state\n-- a\n\n-- b\n\nreturn 1\n');
});

test('an include cycle is an error naming the chain of files', () => {
  const dir = scripts({ 'main.lua': '--@include a.lua\n', 'a.lua': '--@include lib/b.lua\n', 'lib/b.lua': '--@include ../a.lua\n' });
  const err = scriptError(() => readLuaScript(join(dir, 'main.lua')));
  assert.match(err.message, /^Lua include cycle: main\.lua → a\.lua → lib\/b\.lua → a\.lua \(in .*airlock-lua-.*\)/);
  assert.deepEqual(
    err.chain,
    ['main.lua', 'a.lua', 'lib/b.lua', 'a.lua'].map((name) => join(dir, name)),
  );
});

test('a file that includes itself is a cycle too', () => {
  const dir = scripts({ 'main.lua': '--@include main.lua\n' });
  assert.match(scriptError(() => readLuaScript(join(dir, 'main.lua'))).message, /^Lua include cycle: main\.lua → main\.lua /);
});

test('a missing include is an error naming the chain that asked for it and the fix', () => {
  const dir = scripts({ 'main.lua': '--@include a.lua\n', 'a.lua': '--@include gone.lua\n' });
  const err = scriptError(() => readLuaScript(join(dir, 'main.lua')));
  assert.match(
    err.message,
    /^Lua script .*gone\.lua cannot be read \(ENOENT\): main\.lua → a\.lua → gone\.lua \(in .*\); fix the --@include line, or run npm run build/,
  );
  assert.deepEqual(
    err.chain,
    ['main.lua', 'a.lua', 'gone.lua'].map((name) => join(dir, name)),
  );
});

test('a missing script is an error naming it', () => {
  const dir = scripts({});
  assert.match(
    scriptError(() => readLuaScript(join(dir, 'main.lua'))).message,
    /^Lua script .*main\.lua cannot be read \(ENOENT\): main\.lua /,
  );
});

const directives = [
  { name: 'a misspelt directive', line: '--@includes a.lua' },
  { name: 'an include without a file', line: '--@include' },
  { name: 'an include without a space', line: '--@includea.lua' },
];
for (const c of directives) {
  test(`${c.name} is an error naming the file and line, not a comment left in`, () => {
    const dir = scripts({ 'main.lua': `-- header\n${c.line}\nreturn 1\n`, 'a.lua': '' });
    assert.match(
      scriptError(() => readLuaScript(join(dir, 'main.lua'))).message,
      new RegExp(`main\\.lua:2: "${c.line}" is not a directive`),
    );
  });
}

test('a comment with @ elsewhere in the line is left alone', () => {
  const dir = scripts({ 'main.lua': '-- see --@include in the loader\nreturn 1 --@include x.lua\n' });
  assert.equal(readLuaScript(join(dir, 'main.lua')), '-- see --@include in the loader\nreturn 1 --@include x.lua\n');
});

test('a LuaScript reads its file once, at first use, not again when it changes', () => {
  const dir = scripts({});
  const script = new LuaScript<number>({ name: 'airlockTest', file: pathToFileURL(join(dir, 'main.lua')) });
  writeFileSync(join(dir, 'main.lua'), 'return 1\n');
  assert.equal(script.source, 'return 1\n');
  writeFileSync(join(dir, 'main.lua'), 'return 2\n');
  assert.equal(script.source, 'return 1\n');
});
