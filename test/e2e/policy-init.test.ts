import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { loadPolicyFile } from '../../src/policy/index.js';
import { FILESYSTEM_SERVER } from '../support/mcp-servers.js';
import { airlock } from '../support/run-cli.js';

/** A server entry in front of server-filesystem, whose policy file is `policy`. */
const server = (name: string, policy: string) =>
  [`  ${name}:`, `    command: ${process.execPath}`, `    args: [${FILESYSTEM_SERVER}, ./sandbox]`, `    policy: ${policy}`].join('\n');

const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A folder holding `airlock.yaml` with these servers (and whatever YAML follows them), `files` and an empty `policies/`. */
function newcomer(servers: string[], files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-init-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'policies'));
  for (const [name, text] of Object.entries({ 'sandbox/hello.txt': 'hello', ...files })) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  writeFileSync(join(dir, 'airlock.yaml'), ['servers:', ...servers, ''].join('\n'));
  return dir;
}

const run = (dir: string, ...argv: string[]) => airlock(argv, dir);

test('a newcomer adding two servers writes each policy where the config expects it, one at a time; policy check then passes on each file and on the config', async () => {
  const dir = newcomer([server('fs', 'policies/fs.yaml'), server('docs', 'policies/docs.yaml')]);
  const before = await run(dir, 'policy', 'check');
  assert.equal(before.code, 1, 'the config is not usable yet');

  const first = await run(dir, 'policy', 'init', 'fs', '-o', 'policies/fs.yaml');
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.equal(first.stdout, 'wrote policies/fs.yaml, the policy servers.fs.policy names; review it, then run: airlock policy check\n');
  // The other server's missing policy does not block this one, and is named with the command that writes it.
  assert.equal(
    first.stderr,
    'note: airlock.yaml: servers.docs.policy names policies/docs.yaml, which does not exist yet; write one with: airlock policy init docs -o policies/docs.yaml\n',
  );
  assert.equal((await run(dir, 'policy', 'check', 'policies/fs.yaml')).code, 0);
  assert.equal((await run(dir, 'policy', 'check')).code, 1, 'docs still has no policy');

  const second = await run(dir, 'policy', 'init', 'docs', '-o', 'policies/docs.yaml');
  assert.equal(second.code, 0, second.stdout + second.stderr);
  assert.equal(second.stderr, '', 'nothing is missing any more');
  const check = await run(dir, 'policy', 'check');
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /3 files checked, all valid/);
  assert.equal(loadPolicyFile(join(dir, 'policies/docs.yaml')).default, 'deny');
});

test('without -o the policy alone goes to stdout, and stderr says which file the config expects and the command that writes it there', async () => {
  const dir = newcomer([server('fs', 'policies/fs.yaml')]);
  const printed = await run(dir, 'policy', 'init', 'fs', '-c', 'airlock.yaml');
  assert.equal(printed.code, 0, printed.stderr);
  assert.equal(
    printed.stderr,
    'note: airlock.yaml: servers.fs.policy names policies/fs.yaml, which does not exist yet; write this policy there with: airlock policy init fs -c airlock.yaml -o policies/fs.yaml\n',
  );
  assert.equal(existsSync(join(dir, 'policies/fs.yaml')), false, 'nothing is written');
  writeFileSync(join(dir, 'policies/fs.yaml'), printed.stdout);
  const check = await run(dir, 'policy', 'check');
  assert.equal(check.code, 0, check.stdout + check.stderr);
});

test('an existing file is refused without --force, naming it; --force replaces it in one rename, keeping its mode', async () => {
  const dir = newcomer([server('fs', 'policies/fs.yaml')], { 'policies/fs.yaml': 'a stub: [that is not a policy\n' });
  const file = join(dir, 'policies/fs.yaml');
  chmodSync(file, 0o640);
  const refused = await run(dir, 'policy', 'init', 'fs', '-o', 'policies/fs.yaml');
  assert.equal(refused.code, 1, refused.stdout + refused.stderr);
  assert.equal(refused.stderr, 'airlock: policies/fs.yaml exists: add --force to replace it, or choose another -o FILE\n');
  assert.equal(readFileSync(file, 'utf8'), 'a stub: [that is not a policy\n');

  const inode = statSync(file).ino;
  const forced = await run(dir, 'policy', 'init', 'fs', '-o', 'policies/fs.yaml', '--force');
  assert.equal(forced.code, 0, forced.stdout + forced.stderr);
  assert.match(forced.stdout, /^wrote policies\/fs\.yaml, the policy servers\.fs\.policy names/);
  assert.notEqual(statSync(file).ino, inode, 'a new file took its name: a reader sees the old or the new, never half');
  assert.equal(statSync(file).mode & 0o777, 0o640);
  assert.deepEqual(readdirSync(join(dir, 'policies')), ['fs.yaml'], 'no temporary file is left');
  const check = await run(dir, 'policy', 'check');
  assert.equal(check.code, 0, check.stdout + check.stderr);
});

test('a file the config does not name is written, with the line that points the config at it; following it makes the config check', async () => {
  const dir = newcomer([server('fs', 'policies/fs.yaml')]);
  mkdirSync(join(dir, 'drafts'));
  const init = await run(dir, 'policy', 'init', 'fs', '-o', 'drafts/fs.yaml');
  assert.equal(init.code, 0, init.stdout + init.stderr);
  assert.equal(
    init.stdout,
    [
      'wrote drafts/fs.yaml; review it.',
      'airlock.yaml names policies/fs.yaml as servers.fs.policy, not this file: to use it, set',
      '  policy: drafts/fs.yaml',
      "under servers.fs (a path relative to the config's folder), or move it to policies/fs.yaml",
      '',
    ].join('\n'),
  );
  const config = join(dir, 'airlock.yaml');
  writeFileSync(config, readFileSync(config, 'utf8').replace('policy: policies/fs.yaml', 'policy: drafts/fs.yaml'));
  const check = await run(dir, 'policy', 'check');
  assert.equal(check.code, 0, check.stdout + check.stderr);
});

test('an -o that cannot be written is refused before the server is started, naming what to do; nothing is written', async () => {
  // The server cannot start: each refusal is about the output, so it came first.
  const dir = newcomer([
    ['  fs:', `    command: ${process.execPath}`, '    args: [-e, "process.exit(3)"]', '    policy: policies/fs.yaml'].join('\n'),
  ]);
  writeFileSync(join(dir, 'victim.txt'), 'keep me\n');
  symlinkSync(join(dir, 'victim.txt'), join(dir, 'policies/link.yaml'));
  symlinkSync(join(dir, 'nowhere.yaml'), join(dir, 'policies/dangling.yaml'));
  const cases: { name: string; argv: string[]; stderr: RegExp }[] = [
    {
      name: 'a folder that does not exist',
      argv: ['-o', 'missing/fs.yaml'],
      stderr:
        /^airlock: cannot write missing\/fs\.yaml: the folder missing does not exist; create it \(mkdir -p missing\) or choose another -o FILE$/,
    },
    {
      name: 'a folder',
      argv: ['-o', 'policies'],
      stderr: /^airlock: policies is a folder: give a file name, for example -o policies\/fs\.yaml$/,
    },
    {
      name: 'a symbolic link, with --force too',
      argv: ['-o', 'policies/link.yaml', '--force'],
      stderr:
        /^airlock: policies\/link\.yaml is a symbolic link \(to .*victim\.txt\): policy init neither writes through a link nor replaces one, even with --force/,
    },
    {
      name: 'a symbolic link to nothing',
      argv: ['-o', 'policies/dangling.yaml'],
      stderr: /^airlock: policies\/dangling\.yaml is a symbolic link/,
    },
  ];
  for (const c of cases) {
    const result = await run(dir, 'policy', 'init', 'fs', ...c.argv);
    assert.equal(result.code, 1, `${c.name}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr.trimEnd(), c.stderr, c.name);
    assert.equal(result.stdout, '', c.name);
  }
  assert.equal(readFileSync(join(dir, 'victim.txt'), 'utf8'), 'keep me\n', 'the link target is untouched');
  assert.ok(lstatSync(join(dir, 'policies/link.yaml')).isSymbolicLink(), 'the link is still a link');
  assert.equal(existsSync(join(dir, 'nowhere.yaml')), false, 'nothing was created through the dangling link');
  assert.equal(existsSync(join(dir, 'missing')), false);
});

test('a server that does not start is an error naming it and what it said; nothing is written', async () => {
  const dir = newcomer([
    [
      '  db:',
      `    command: ${process.execPath}`,
      `    args: [-e, "console.error('cannot open database /var/db/tools.sqlite'); process.exit(3)"]`,
      '    policy: policies/db.yaml',
    ].join('\n'),
  ]);
  const result = await run(dir, 'policy', 'init', 'db', '-o', 'policies/db.yaml');
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(
    result.stderr,
    /^airlock: server db did not answer tools\/list: .*Connection closed; its stderr ended: "cannot open database \/var\/db\/tools\.sqlite"/,
  );
  assert.equal(existsSync(join(dir, 'policies/db.yaml')), false);
});

test('--force without -o is a usage error', async () => {
  const dir = newcomer([server('fs', 'policies/fs.yaml')]);
  const result = await run(dir, 'policy', 'init', 'fs', '--force');
  assert.equal(result.code, 2, result.stdout + result.stderr);
  assert.match(result.stderr, /--force replaces the -o FILE; without -o nothing is written/);
  assert.equal(result.stdout, '');
});

test('a server name that is not in the config is refused with the closest name, before anything is started', async () => {
  const dir = newcomer([server('filesystem', 'policies/filesystem.yaml')]);
  const result = await run(dir, 'policy', 'init', 'filesytem', '-o', 'policies/filesystem.yaml');
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^airlock: unknown server "filesytem", did you mean "filesystem"\? \(configured: filesystem\)/);
  assert.equal(existsSync(join(dir, 'policies/filesystem.yaml')), false);
});

test('the rest of the config is still checked: policy init does not start a server from a config with other problems', async () => {
  const dir = newcomer([server('fs', 'policies/fs.yaml'), 'grants:\n  - { name: ci, token: t-0123456789, servers: [fss] }']);
  const result = await run(dir, 'policy', 'init', 'fs', '-o', 'policies/fs.yaml');
  assert.equal(result.code, 1);
  assert.match(result.stderr, /grants\[0\]\.servers\[0\]: unknown server "fss", did you mean "fs"\?/);
  assert.doesNotMatch(result.stderr, /policy file not found/, 'the missing policy is not among the problems');
  assert.equal(existsSync(join(dir, 'policies/fs.yaml')), false);
});
