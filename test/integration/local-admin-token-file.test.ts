import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { ensureTokenFile, readTokenFile, resolveLocalAdmin } from '../../src/local-admin/index.js';
import { captureLogger, LEVEL } from '../support/log.js';

const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-token-file-'));
  dirs.push(dir);
  return dir;
}
const uid = process.getuid?.();
const BASE64URL_32_BYTES = /^[A-Za-z0-9_-]{43}$/;

test('token file: the first call makes the folder 0700 and the file 0600 with 32 random bytes in base64url; later calls read the same token back', () => {
  const file = join(folder(), '.airlock', 'admin-token');
  const first = ensureTokenFile(file, { uid });
  assert.equal(first.created, true);
  assert.match(first.token, BASE64URL_32_BYTES);
  assert.equal(statSync(join(file, '..')).mode & 0o777, 0o700);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(first.mode, 0o600);
  assert.equal(readFileSync(file, 'utf8'), `${first.token}\n`);
  const again = ensureTokenFile(file, { uid });
  assert.deepEqual(again, { token: first.token, created: false, mode: 0o600 });
  assert.notEqual(ensureTokenFile(join(folder(), 'admin-token'), { uid }).token, first.token, 'each file gets its own random token');
});

test('token file: the random bytes are the token, base64url encoded', () => {
  const file = join(folder(), 'admin-token');
  const { token } = ensureTokenFile(file, { uid, random: () => Buffer.alloc(32, 0xfb) });
  assert.equal(token, Buffer.alloc(32, 0xfb).toString('base64url'));
  assert.ok(!/[+/=]/.test(token));
});

test('token file: a hand-written token with surrounding whitespace and a newline is read without them', () => {
  const file = join(folder(), 'admin-token');
  writeFileSync(file, '  my-own-token-0123456789 \n\n', { mode: 0o600 });
  assert.deepEqual(ensureTokenFile(file, { uid }), { token: 'my-own-token-0123456789', created: false, mode: 0o600 });
});

test('token file: a symbolic link planted at its path is refused, never written through or read', () => {
  const dir = folder();
  const target = join(dir, 'target');
  writeFileSync(target, 'attacker-known-token\n');
  const link = join(dir, 'admin-token');
  symlinkSync(target, link);
  assert.throws(
    () => ensureTokenFile(link, { uid }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'AIRLOCK_TOKEN_FILE_INVALID');
      assert.match(
        err.message,
        new RegExp(`token file ${link} cannot be used: it is a symbolic link, which Airlock does not follow there; delete it`),
      );
      return true;
    },
  );
  assert.equal(readFileSync(target, 'utf8'), 'attacker-known-token\n');

  const dangling = join(dir, 'dangling-token');
  symlinkSync(join(dir, 'made-by-airlock'), dangling);
  assert.throws(() => ensureTokenFile(dangling, { uid }), /it is a symbolic link/);
  assert.equal(existsSync(join(dir, 'made-by-airlock')), false, 'nothing was created at the link target');
});

test('token file: an empty file, a folder or a FIFO at its path stops the start naming the file and what to do', () => {
  const dir = folder();
  const cases: [string, (path: string) => void, RegExp][] = [
    [
      'empty',
      (path) => writeFileSync(path, ' \n', { mode: 0o600 }),
      /it is empty; delete it to have a new token made at the next start, configure `admins`, or set AIRLOCK_ADMIN_TOKEN/,
    ],
    ['a folder', (path) => mkdirSync(path), /it is not a regular file/],
    // Opened without O_NONBLOCK, a FIFO would hang the start until someone writes to it.
    ['a FIFO', (path) => execFileSync('mkfifo', [path]), /it is not a regular file/],
  ];
  for (const [name, make, message] of cases) {
    const file = join(dir, `admin-token-${name.replace(/\W/g, '-')}`);
    make(file);
    assert.throws(
      () => ensureTokenFile(file, { uid }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'AIRLOCK_TOKEN_FILE_INVALID', name);
        assert.ok(err.message.includes(file), `${name}: ${err.message}`);
        assert.match(err.message, message, name);
        return true;
      },
    );
  }
});

test('token file: a state folder that cannot be made (a file is in its place) stops the start naming it, not with a stack trace', () => {
  const dir = folder();
  writeFileSync(join(dir, '.airlock'), 'not a folder\n');
  const file = join(dir, '.airlock', 'admin-token');
  assert.throws(
    () => ensureTokenFile(file, { uid }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'AIRLOCK_TOKEN_FILE_INVALID');
      assert.match(
        err.message,
        new RegExp(
          `^cannot make the folder of the local admin's token file ${file}: .*; make way for that folder, configure \`admins\`, or set AIRLOCK_ADMIN_TOKEN$`,
        ),
      );
      return true;
    },
  );
});

test(
  "token file: another user's file is refused, since that user knows the token",
  { skip: uid !== 0 && 'needs root to give a file away' },
  () => {
    const file = join(folder(), 'admin-token');
    writeFileSync(file, 'planted-token\n', { mode: 0o600 });
    chownSync(file, 65534, 65534);
    assert.throws(() => ensureTokenFile(file, { uid }), new RegExp(`it belongs to uid 65534, not to this user \\(uid ${uid}\\)`));
  },
);

test('token file named to a command: read with surrounding whitespace dropped; missing, empty or a folder refused naming it', () => {
  const dir = folder();
  const file = join(dir, 'token');
  writeFileSync(file, '\tsecret-token\r\n');
  assert.equal(readTokenFile(file), 'secret-token');
  symlinkSync(file, join(dir, 'link'));
  assert.equal(readTokenFile(join(dir, 'link')), 'secret-token', 'a link the person chose is followed');
  writeFileSync(join(dir, 'empty'), '\n');
  const cases: [string, RegExp][] = [
    [join(dir, 'missing'), /cannot read the token file .*missing: it does not exist/],
    [join(dir, 'empty'), /the token file .*empty is empty: write the admin token into it/],
    [dir, /cannot read the token file .*: it is a folder/],
  ];
  for (const [path, message] of cases)
    assert.throws(
      () => readTokenFile(path),
      (err: Error & { code?: string }) => err.code === 'AIRLOCK_TOKEN_FILE_INVALID' && message.test(err.message),
    );
});

/** A config in a fresh folder with a filesystem-like server on `args`. */
function configWith(args: string[], extra = ''): ReturnType<typeof loadConfig> {
  const dir = folder();
  mkdirSync(join(dir, 'sandbox'));
  writeFileSync(join(dir, 'policy.yaml'), 'version: "1"\n');
  writeFileSync(
    join(dir, 'airlock.yaml'),
    `servers:\n  fs:\n    command: node\n    args: ${JSON.stringify(args)}\n    policy: policy.yaml\n${extra}`,
  );
  return loadConfig(join(dir, 'airlock.yaml'), {});
}

const resolveWith = (config: ReturnType<typeof loadConfig>, env: NodeJS.ProcessEnv = {}, http = true) => {
  const { logger, lines } = captureLogger();
  const admin = resolveLocalAdmin({ config, env, logger, display: (file) => file, http });
  return { admin, lines };
};

test('local admin: without admins, the token file is made beside the config and its path logged with how to use it, never the token', () => {
  const config = configWith(['server.js', './sandbox']);
  const { admin, lines } = resolveWith(config);
  const file = join(config.dir, '.airlock', 'admin-token');
  assert.equal(admin?.name, 'local');
  assert.equal(admin?.token, readFileSync(file, 'utf8').trim());
  assert.match(admin?.sha256 ?? '', /^[0-9a-f]{64}$/);
  assert.match(admin?.source ?? '', new RegExp(`^[^:]+:${file}$`));
  const info = lines.find((l) => l.level === LEVEL.info);
  assert.equal(
    info?.msg,
    `no admin is configured: the local admin's token is in ${file} (mode 0600); decide held calls with: airlock approvals list -c ${config.file} --token-file ${file}, or send "Authorization: Bearer $(cat ${file})" to /api`,
  );
  assert.ok(!JSON.stringify(lines).includes(admin?.token ?? '-'), 'the token is never logged');
  assert.ok(!resolveWith(config, {}, false).lines[0]?.msg.includes('/api'), 'airlock stdio has no /api to point at');
});

test('local admin: with admins configured there is none and no file is made', () => {
  const config = configWith(['server.js', '.'], 'admins:\n  - { name: alice, token: alice-token-0123456789 }\n');
  assert.equal(resolveWith(config).admin, undefined);
  assert.equal(existsSync(join(config.dir, '.airlock')), false);
});

test('local admin: AIRLOCK_ADMIN_TOKEN is the token when set; no file is made and the log names the variable, not its value', () => {
  const config = configWith(['server.js', '.']);
  const { admin, lines } = resolveWith(config, { AIRLOCK_ADMIN_TOKEN: 'env-admin-token-0123456789' });
  assert.equal(admin?.token, 'env-admin-token-0123456789');
  assert.match(admin?.source ?? '', /:AIRLOCK_ADMIN_TOKEN$/);
  assert.equal(existsSync(join(config.dir, '.airlock')), false);
  assert.match(lines[0]?.msg ?? '', /the local admin's token is AIRLOCK_ADMIN_TOKEN, from this process's environment/);
  assert.ok(!JSON.stringify(lines).includes('env-admin-token-0123456789'));
});

test('local admin: a token file inside a folder a server serves stops the start, naming the file, the server, the argument and what to do', () => {
  const config = configWith(['server.js', '--root=.']);
  const file = join(config.dir, '.airlock', 'admin-token');
  assert.throws(
    () => resolveWith(config),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'AIRLOCK_CONFIG_INVALID');
      assert.equal(
        err.message,
        `${config.file}: servers.fs.args: "--root=." serves ${config.dir}, which holds the local admin's token file ${file}, so an agent could read the token through fs and approve its own calls; configure \`admins\`, set AIRLOCK_ADMIN_TOKEN, or serve another folder`,
      );
      return true;
    },
  );
  assert.equal(existsSync(file), false, 'no token is written where an agent could read it');
});

test('local admin: a token file others may read is used, with a warning naming chmod 600', () => {
  const config = configWith(['server.js', './sandbox']);
  const file = join(config.dir, '.airlock', 'admin-token');
  mkdirSync(join(config.dir, '.airlock'), { mode: 0o700 });
  writeFileSync(file, 'replaced-token-0123456789\n');
  chmodSync(file, 0o644);
  const { admin, lines } = resolveWith(config);
  assert.equal(admin?.token, 'replaced-token-0123456789');
  const warning = lines.find((l) => l.level === LEVEL.warn);
  assert.equal(
    warning?.msg,
    `the local admin's token file ${file} has mode 0644, so other users may read or replace it: run chmod 600 ${file}`,
  );
  assert.equal(lines.filter((l) => l.level === LEVEL.warn).length, 1);
  chmodSync(file, 0o600);
  assert.equal(resolveWith(config).lines.filter((l) => l.level === LEVEL.warn).length, 0, 'no warning once it is 0600');
});

test("local admin: a token that is also a grant's is refused, since an agent holding it could approve its own calls", () => {
  const config = configWith(['server.js', './sandbox'], 'grants:\n  - { name: agent, token: shared-token-0123456789 }\n');
  assert.throws(
    () => resolveWith(config, { AIRLOCK_ADMIN_TOKEN: 'shared-token-0123456789' }),
    /grants\[0\]: same token as the local admin's \(AIRLOCK_ADMIN_TOKEN\): an agent holding it could approve its own calls/,
  );
});

test('local admin: a path with a space or a quote is one shell word in the hint, so it can be pasted', () => {
  const parent = folder();
  const dir = join(parent, "it's here");
  mkdirSync(join(dir, 'sandbox'), { recursive: true });
  writeFileSync(join(dir, 'policy.yaml'), 'version: "1"\n');
  writeFileSync(
    join(dir, 'airlock.yaml'),
    'servers:\n  fs:\n    command: node\n    args: [server.js, ./sandbox]\n    policy: policy.yaml\n',
  );
  const { lines } = resolveWith(loadConfig(join(dir, 'airlock.yaml'), {}));
  const file = `'${join(parent, "it'\\''s here", '.airlock', 'admin-token')}'`;
  assert.ok(lines[0]?.msg.includes(`--token-file ${file}, or send "Authorization: Bearer $(cat ${file})" to /api`), lines[0]?.msg);
  const pasted = execFileSync('bash', ['-c', `cat ${file}`], { encoding: 'utf8' });
  assert.match(pasted.trim(), BASE64URL_32_BYTES);
});
