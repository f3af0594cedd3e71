/**
 * The README's quick start as a newcomer meets it: a fresh clone, `npm
 * start`'s command, then the README's own shell blocks pasted into bash and
 * into zsh (interactive, as a terminal runs them: `#` starts no comment in
 * zsh there, and `!` expands history). The blocks are read from README.md,
 * so the test follows the README. The commands find the gateway on a free
 * port through AIRLOCK_PORT, as a reader who moved it would.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { pendingFor } from '../support/approvals-api.js';
import { freePort } from '../support/free-port.js';
import { until } from '../support/poll.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { outputOf, PROJECT_ROOT } from '../support/run-cli.js';

const README = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');

/** The shell blocks (```sh) of a markdown text, in order. */
function shellBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```(?:sh|bash|shell|zsh)\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '');
}

/** The text of one `## ` section. */
function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `README.md has no "## ${heading}" section`);
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end < 0 ? undefined : end);
}

const quickStart = shellBlocks(section(README, 'Quick start'));
/** The quick start's block that does what `pattern` names; there must be exactly one. */
function blockThat(what: string, pattern: RegExp): string {
  const found = quickStart.filter((block) => pattern.test(block));
  assert.equal(found.length, 1, `the quick start should have one shell block that ${what}; found ${found.length}`);
  return found[0]!;
}
const startBlock = blockThat('starts the gateway', /\bnpm start\b/);
const callBlock = blockThat('calls tools with curl', /tools\/call/);
const decideBlock = blockThat('decides the held call', /approvals approve/);
const otherBlocks = quickStart.filter((block) => ![startBlock, callBlock, decideBlock].includes(block));
/** What the README tells the reader to replace with the id `approvals list` shows. */
const ID_PLACEHOLDER = 'apr_…';

interface Shell {
  name: 'bash' | 'zsh';
  path: string | undefined;
  /** Interactive, without the user's startup files. */
  args: string[];
}

function which(name: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}
const SHELLS: Shell[] = [
  { name: 'bash', path: which('bash'), args: ['--norc', '--noprofile', '-i'] },
  { name: 'zsh', path: which('zsh'), args: ['-f', '-i'] },
];
const skipWithout = (shell: Shell) =>
  shell.path === undefined ? `${shell.name} is not installed (apt-get install ${shell.name}; .ci/run installs it)` : false;

/**
 * Any command of a pasted block that fails says so on stderr (the blocks
 * themselves stay as written). Written in two pieces, since bash echoes what
 * it reads on stderr when it is not on a terminal.
 */
const FAILED = 'README-TEST" "failed: ';
const REPORT_FAILURES = `trap 'echo "${FAILED}"$? >&2' ERR\n`;
/** What the shells say on stderr about themselves when not run on a terminal, which is no error of the block's. */
const SHELL_NOISE = /cannot set terminal process group|no job control in this shell/;

type ShellRun = Awaited<ReturnType<typeof outputOf>>;

/** `script` on the shell's standard input, as if pasted line by line into a terminal. */
function paste(shell: Shell, script: string, cwd: string, env: NodeJS.ProcessEnv): Promise<ShellRun> {
  const child = spawn(shell.path!, shell.args, { cwd, env: { ...env, PS1: '', PS2: '' }, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(script);
  return outputOf(child);
}

/** The lines in which a shell or the failure trap reported an error. */
function shellErrors(shell: Shell, run: ShellRun): string[] {
  return run.stderr
    .split(/[\r\n]+/)
    .filter((line) => (line.includes('README-TEST failed: ') || line.includes(`${shell.name}: `)) && !SHELL_NOISE.test(line));
}

// ---------------------------------------------------------------------------
// Every shell block of the README reads the same in bash and zsh.

/**
 * Every command that is not a shell builtin prints its arguments instead of
 * running (an empty PATH, and the hook each shell calls for an unknown
 * command), so a block's words can be compared across shells without running
 * anything it names.
 */
const ECHO_EVERY_COMMAND = [
  `command_not_found_handle() { printf '<%s>' "$@"; printf '\\n'; return 0; }`,
  `command_not_found_handler() { printf '<%s>' "$@"; printf '\\n'; return 0; }`,
  '',
].join('\n');

test('every shell block of the README gives each command the same words in bash and zsh', async (t) => {
  const missing = SHELLS.map(skipWithout).find(Boolean);
  if (missing) return t.skip(missing);
  const empty = mkdtempSync(join(tmpdir(), 'airlock-readme-words-'));
  try {
    const blocks = shellBlocks(README);
    assert.ok(blocks.length >= 5, `only ${blocks.length} shell blocks found in README.md`);
    for (const block of blocks) {
      const [bash, zsh] = await Promise.all(SHELLS.map((shell) => paste(shell, ECHO_EVERY_COMMAND + block, empty, { PATH: empty })));
      assert.ok(bash!.stdout.trim() !== '', `bash ran nothing of:\n${block}`);
      assert.equal(zsh!.stdout, bash!.stdout, `zsh and bash read this block differently:\n${block}\nzsh stderr:\n${zsh!.stderr}`);
    }
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------
// The quick start, run.

/**
 * The checkout as a fresh clone has it: every file git tracks (or would
 * track: new files not yet committed), committed into a new repository, so
 * `git status` tells what running the quick start left behind. dist/ comes
 * along with its times, so the launcher runs the build when the checkout's
 * would; node_modules links to ours (what `npm ci` would install).
 */
function freshClone(): string {
  const root = mkdtempSync(join(tmpdir(), 'airlock-clone-'));
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
  });
  for (const file of listed.split('\0')) {
    if (file === '' || file === 'node_modules' || !existsSync(join(PROJECT_ROOT, file))) continue;
    mkdirSync(dirname(join(root, file)), { recursive: true });
    cpSync(join(PROJECT_ROOT, file), join(root, file), { preserveTimestamps: true, verbatimSymlinks: true });
  }
  if (existsSync(join(PROJECT_ROOT, 'dist')))
    cpSync(join(PROJECT_ROOT, 'dist'), join(root, 'dist'), { recursive: true, preserveTimestamps: true });
  symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=airlock-test', '-c', 'user.email=test@invalid', '-c', 'commit.gpgsign=false', ...args], {
      cwd: root,
    });
  git('init', '-q');
  // A fresh clone's node_modules is a folder `node_modules/` ignores; this one is a link, which that pattern does not match.
  writeFileSync(join(root, '.git', 'info', 'exclude'), '/node_modules\n');
  git('add', '-A');
  git('commit', '-q', '-m', 'fresh clone');
  return root;
}

/**
 * What the reader's terminals have: their environment without any Airlock
 * setting of ours and without what `npm test` tells its scripts (with
 * npm_config_local_prefix, `npx airlock` in the clone would run this
 * checkout's); the gateway's Redis and port. npm gets a cache of its own:
 * the first `npx airlock` in a folder links that folder's package into the
 * cache's `_npx` (running its `prepare`, the build), which would leave one
 * entry per test run in the user's ~/.npm.
 */
function readerEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const kept = Object.entries(process.env).filter(([name]) => !/^(npm_|AIRLOCK_)/i.test(name));
  return { ...Object.fromEntries(kept), npm_config_cache: npmCache, npm_config_update_notifier: 'false', ...extra };
}

let redis: TestRedis;
let clone: string;
let npmCache: string;
let port: number;
let env: NodeJS.ProcessEnv;
let gateway: ReturnType<typeof spawn>;
let gatewayExited: Promise<number | null>;
let gatewayOutput = '';
const base = () => `http://127.0.0.1:${port}`;

/** The clone's own `airlock` (bin/airlock.js), as `npx airlock` runs it there. */
function cloneCli(argv: string[]): Promise<ShellRun> {
  return outputOf(
    spawn(process.execPath, [join(clone, 'bin', 'airlock.js'), ...argv], { cwd: clone, env, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
}

before(async () => {
  redis = await startRedis();
  clone = freshClone();
  npmCache = mkdtempSync(join(tmpdir(), 'airlock-npm-cache-'));
  port = await freePort();
  env = readerEnv({ REDIS_URL: redis.url, AIRLOCK_PORT: String(port) });
  // `npm start` is package.json's start script, run here without npm in between (which would stand between the signal and the gateway).
  const script = (JSON.parse(readFileSync(join(clone, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const [command, ...args] = script.split(/\s+/);
  assert.equal(command, 'node', `npm start runs ${script}`);
  gateway = spawn(process.execPath, args, { cwd: clone, env, stdio: ['ignore', 'pipe', 'pipe'] });
  gateway.stdout?.on('data', (chunk: Buffer) => (gatewayOutput += chunk.toString()));
  gateway.stderr?.on('data', (chunk: Buffer) => (gatewayOutput += chunk.toString()));
  gatewayExited = new Promise((resolve) => gateway.on('exit', resolve));
});

after(async () => {
  if (gateway && gateway.exitCode === null) {
    gateway.kill('SIGTERM');
    await gatewayExited;
  }
  await redis?.stop();
  for (const dir of [clone, npmCache]) if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the quick start's first block is npm start, whose command on a fresh clone answers /readyz 200", async () => {
  assert.match(startBlock, /^npm ci && npm start$/m);
  let last = '';
  await until(
    '/readyz 200 from the example',
    async () => {
      if (gateway.exitCode !== null) throw new Error(`npm start exited with ${gateway.exitCode}:\n${gatewayOutput}`);
      const answer = await fetch(`${base()}/readyz`).catch((err: Error) => err);
      last = answer instanceof Error ? answer.message : `${answer.status} ${await answer.text()}`;
      return !(answer instanceof Error) && answer.status === 200;
    },
    60_000,
    100,
  ).catch((err: Error) => assert.fail(`${err.message}; last answer: ${last}\n${gatewayOutput}`));
});

test('airlock doctor and airlock tools exit 0 on the fresh clone, warnings allowed', async () => {
  const [doctor, tools] = await Promise.all([cloneCli(['doctor']), cloneCli(['tools'])]);
  assert.equal(doctor.code, 0, doctor.stdout + doctor.stderr);
  assert.match(doctor.stdout, /^\d+ checks: 0 failed/m);
  assert.equal(tools.code, 0, tools.stdout + tools.stderr);
  assert.match(tools.stdout, /write_file/);
});

/** The JSON-RPC answers curl printed, by id (SSE `data:` lines or plain JSON bodies). */
function answersById(stdout: string): Map<number, { result?: { isError?: boolean; content?: { text?: string }[] } }> {
  const answers = new Map<number, { id?: number; result?: { isError?: boolean; content?: { text?: string }[] } }>();
  for (const match of stdout.matchAll(/^(?:data: )?(\{"(?:result|jsonrpc)".*\})$/gm)) {
    const message = JSON.parse(match[1]!) as { id?: number; result?: { isError?: boolean; content?: { text?: string }[] } };
    if (typeof message.id === 'number') answers.set(message.id, message);
  }
  return answers;
}
const textOf = (answer: { result?: { content?: { text?: string }[] } } | undefined) => answer?.result?.content?.[0]?.text ?? '';

for (const shell of SHELLS) {
  test(
    `the quick start's blocks, pasted into ${shell.name}: read allowed, move denied, write held until the decide block approves it`,
    { skip: skipWithout(shell) },
    async () => {
      const token = readFileSync(join(clone, 'examples', '.airlock', 'admin-token'), 'utf8').trim();
      rmSync(join(clone, 'examples', 'sandbox', 'notes.txt'), { force: true });

      const calls = paste(shell, REPORT_FAILURES + callBlock, clone, env);
      // Four curls and a hold: generous on a loaded machine, since it only keeps the test from hanging.
      const { id } = await pendingFor(base(), token, 'write_file', 60_000);
      assert.ok(decideBlock.includes(ID_PLACEHOLDER), `the decide block has no ${ID_PLACEHOLDER} to replace`);
      const decided = await paste(shell, REPORT_FAILURES + decideBlock.replaceAll(ID_PLACEHOLDER, id), clone, env);
      assert.deepEqual(shellErrors(shell, decided), [], decided.stderr);
      assert.ok(decided.stdout.includes(id), `approvals list and show name ${id}:\n${decided.stdout}`);
      const called = await calls;
      assert.deepEqual(shellErrors(shell, called), [], called.stderr);

      const answers = answersById(called.stdout);
      assert.equal(
        textOf(answers.get(2)).trim(),
        readFileSync(join(clone, 'examples', 'sandbox', 'hello.txt'), 'utf8').trim(),
        called.stdout,
      );
      assert.equal(answers.get(3)?.result?.isError, true, called.stdout);
      assert.match(textOf(answers.get(3)), /^\[POLICY DENIED\] /);
      assert.notEqual(answers.get(4)?.result?.isError, true, `the approved write's answer: ${called.stdout}`);
      assert.equal(readFileSync(join(clone, 'examples', 'sandbox', 'notes.txt'), 'utf8'), 'hi');
      const overHttp = JSON.parse(decided.stdout.slice(decided.stdout.lastIndexOf('{"approval"'))) as {
        approval?: { id?: string; state?: string };
      };
      assert.deepEqual([overHttp.approval?.id, overHttp.approval?.state], [id, 'approved'], decided.stdout);

      for (const block of otherBlocks) {
        const run = await paste(shell, REPORT_FAILURES + block, clone, env);
        assert.deepEqual(shellErrors(shell, run), [], `${block}\n${run.stdout}\n${run.stderr}`);
      }
    },
  );
}

test('after the approved writes the fresh clone is clean: git status shows nothing', { skip: SHELLS.every(skipWithout) }, () => {
  assert.ok(existsSync(join(clone, 'examples', 'sandbox', 'notes.txt')), 'no approved write landed in the sandbox');
  assert.ok(lstatSync(join(clone, 'examples', '.airlock', 'admin-token')).isFile());
  assert.equal(execFileSync('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: clone, encoding: 'utf8' }), '');
});
