import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { loadConfig, type LoadedServer } from '../../src/config/index.js';
import { folderServing, servedFolders, tokenFilePath } from '../../src/local-admin/index.js';
import { PROJECT_ROOT } from '../support/run-cli.js';

// A config folder `cfg` with a sandbox beside the token file's folder, a file, and links.
const root = realpathSync(mkdtempSync(join(tmpdir(), 'airlock-served-')));
after(() => rmSync(root, { recursive: true, force: true }));
const cfg = join(root, 'cfg');
mkdirSync(join(cfg, 'sandbox'), { recursive: true });
mkdirSync(join(cfg, 'tools'));
mkdirSync(join(root, 'elsewhere'));
writeFileSync(join(cfg, 'notes.txt'), 'a file, not a folder\n');
symlinkSync(cfg, join(root, 'link-to-cfg'));
symlinkSync('..', join(cfg, 'sandbox', 'up'));
const tokenFile = join(cfg, '.airlock', 'admin-token');

const stdio = (args: string[], extra: Partial<Extract<LoadedServer, { transport: 'stdio' }>> = {}): LoadedServer => ({
  transport: 'stdio',
  command: 'node',
  args,
  env: {},
  cwd: cfg,
  call_timeout_ms: 60_000,
  policy: join(cfg, 'policy.yaml'),
  max_list_pages: 100,
  max_list_items: 10_000,
  ...extra,
});
const home = (server: LoadedServer) => (server.transport === 'stdio' ? server.env.HOME : undefined) ?? join(root, 'nobody-home');

const cases: { name: string; server: LoadedServer; serves: string | undefined }[] = [
  {
    name: 'a sibling folder of the state folder (the example: ./sandbox)',
    server: stdio(['-y', '@modelcontextprotocol/server-filesystem', './sandbox']),
    serves: undefined,
  },
  { name: 'the config folder itself, as "."', server: stdio(['server.js', '.']), serves: '.' },
  { name: 'the config folder, as an absolute path', server: stdio(['server.js', cfg]), serves: cfg },
  { name: 'a parent of the config folder', server: stdio(['server.js', root]), serves: root },
  { name: 'the file system root', server: stdio(['server.js', '/']), serves: '/' },
  { name: 'the value of --flag=value', server: stdio(['server.js', '--root=.']), serves: '--root=.' },
  { name: 'the value of -r=value', server: stdio(['server.js', `-r=${cfg}`]), serves: `-r=${cfg}` },
  { name: 'the value of --flag=value naming a sibling', server: stdio(['server.js', '--root=./sandbox']), serves: undefined },
  { name: 'an argument resolved against the server cwd', server: stdio(['server.js', '..'], { cwd: join(cfg, 'tools') }), serves: '..' },
  {
    name: 'a symbolic link to the config folder (real paths compared)',
    server: stdio(['server.js', join(root, 'link-to-cfg')]),
    serves: join(root, 'link-to-cfg'),
  },
  { name: 'a link inside the sandbox pointing back up', server: stdio(['server.js', './sandbox/up']), serves: './sandbox/up' },
  { name: '~ when the home folder is the config folder', server: stdio(['server.js', '~'], { env: { HOME: cfg } }), serves: '~' },
  { name: '~/path under the home folder', server: stdio(['server.js', '~/cfg'], { env: { HOME: root } }), serves: '~/cfg' },
  { name: 'a file, not a folder', server: stdio(['server.js', './notes.txt']), serves: undefined },
  { name: 'a path that does not exist', server: stdio(['server.js', './nowhere']), serves: undefined },
  { name: 'a folder beside the config folder', server: stdio(['server.js', join(root, 'elsewhere')]), serves: undefined },
  {
    name: 'an HTTP server (what it serves cannot be known)',
    server: {
      transport: 'http',
      url: 'http://127.0.0.1:1/mcp',
      headers: {},
      call_timeout_ms: 60_000,
      policy: join(cfg, 'policy.yaml'),
      max_list_pages: 100,
      max_list_items: 10_000,
    },
    serves: undefined,
  },
];

for (const c of cases) {
  test(`served folders: ${c.name} ${c.serves === undefined ? 'does not hold' : 'holds'} the token file`, () => {
    const found = folderServing(tokenFile, servedFolders({ fs: c.server }, home));
    assert.equal(found?.argument, c.serves, JSON.stringify(found));
    if (found) assert.equal(found.server, 'fs');
  });
}

test('served folders: the one that holds the file is named among several servers, its folder a real path', () => {
  const found = folderServing(
    tokenFile,
    servedFolders({ docs: stdio(['server.js', './sandbox']), everything: stdio(['server.js', join(root, 'link-to-cfg')]) }, home),
  );
  assert.deepEqual(found, { server: 'everything', argument: join(root, 'link-to-cfg'), folder: cfg });
});

test('served folders: a state folder that is a link into a served folder puts the token file inside it', () => {
  const other = realpathSync(mkdtempSync(join(tmpdir(), 'airlock-served-link-')));
  try {
    mkdirSync(join(other, 'sandbox', 'state'), { recursive: true });
    symlinkSync(join(other, 'sandbox', 'state'), join(other, '.airlock'));
    const server = stdio(['server.js', './sandbox'], { cwd: other });
    const found = folderServing(join(other, '.airlock', 'admin-token'), servedFolders({ fs: server }, home));
    assert.equal(found?.folder, join(other, 'sandbox'));
    assert.equal(dirname(found?.folder ?? ''), other);
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
});

for (const file of readdirSync(join(PROJECT_ROOT, 'examples')).filter((f) => /\.ya?ml$/.test(f))) {
  test(`served folders: no server of examples/${file} serves the folder holding its token file`, () => {
    const config = loadConfig(join(PROJECT_ROOT, 'examples', file), { AIRLOCK_TOKEN: 'x', AIRLOCK_ADMIN_TOKEN: 'y' });
    assert.equal(
      folderServing(
        tokenFilePath(config),
        servedFolders(config.servers, () => join(root, 'nobody-home')),
      ),
      undefined,
    );
  });
}
