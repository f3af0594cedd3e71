import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import picomatch from 'picomatch';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/index.js';
import { loadPolicyFile } from '../../src/policy/index.js';
import { PROJECT_ROOT } from '../support/run-cli.js';

// No Docker engine runs where the tests do, so these check the files against
// the repository and the real config loader instead of building the image.

interface Instruction {
  keyword: string;
  args: string;
}

/** The Dockerfile's instructions per stage, continuation lines joined, comments dropped. */
function dockerfileStages(text: string): Instruction[][] {
  const stages: Instruction[][] = [];
  const logical = text.replace(/\\\n/g, ' ').split('\n');
  for (const line of logical) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(trimmed) ?? [];
    if (keyword.toUpperCase() === 'FROM') stages.push([]);
    stages.at(-1)?.push({ keyword: keyword.toUpperCase(), args });
  }
  return stages;
}

/** `COPY [--flag=…] SRC… DEST` from the build context (not `--from=` another stage): the sources. */
function copiedSources(stage: Instruction[]): string[] {
  return stage
    .filter((i) => i.keyword === 'COPY')
    .map((i) => i.args.split(/\s+/))
    .filter((words) => !words.some((w) => w.startsWith('--from=')))
    .flatMap((words) => words.filter((w) => !w.startsWith('--')).slice(0, -1));
}

const dockerfile = dockerfileStages(readFileSync(join(PROJECT_ROOT, 'Dockerfile'), 'utf8'));
const finalStage = dockerfile.at(-1) ?? [];
const compose = parse(readFileSync(join(PROJECT_ROOT, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, Record<string, unknown>>;
  volumes?: Record<string, unknown>;
};
const redis = compose.services.redis ?? {};
const airlock = compose.services.airlock ?? {};
const cmd = JSON.parse(finalStage.find((i) => i.keyword === 'CMD')?.args ?? '[]') as string[];
const cmdConfig = cmd[cmd.indexOf('-c') + 1] ?? '';
const dockerEnv = { AIRLOCK_TOKEN: 'x', AIRLOCK_ADMIN_TOKEN: 'y' };

function words(value: unknown): string {
  return Array.isArray(value) ? value.join(' ') : String(value ?? '');
}

test('docker-compose.yml has the services redis and airlock', () => {
  assert.deepEqual(Object.keys(compose.services).sort(), ['airlock', 'redis']);
});

test('Redis runs with its append-only file on a named volume', () => {
  assert.match(words(redis.command), /--appendonly yes\b/);
  const volumes = (redis.volumes ?? []) as string[];
  const data = volumes.find((v) => v.endsWith(':/data'));
  assert.ok(data, `no volume on /data in ${JSON.stringify(volumes)}`);
  assert.ok(compose.volumes && data.split(':')[0]! in compose.volumes, `${data} is not a named volume`);
});

test('Airlock starts only once Redis answers redis-cli ping, and is pointed at it', () => {
  assert.match(words((redis.healthcheck as { test?: unknown } | undefined)?.test), /redis-cli ping/);
  assert.deepEqual(airlock.depends_on, { redis: { condition: 'service_healthy' } });
  assert.equal((airlock.environment as Record<string, string>).REDIS_URL, 'redis://redis:6379');
});

test('the tokens come from the environment, and compose refuses to start without them', () => {
  const env = airlock.environment as Record<string, string>;
  assert.equal(env.AIRLOCK_TOKEN, '${AIRLOCK_TOKEN:?set AIRLOCK_TOKEN}');
  assert.equal(env.AIRLOCK_ADMIN_TOKEN, '${AIRLOCK_ADMIN_TOKEN:?set AIRLOCK_ADMIN_TOKEN}');
});

test('the published port binds 127.0.0.1 only, to the port the image exposes', () => {
  const ports = airlock.ports as string[];
  assert.ok(ports.length > 0);
  const exposed = finalStage.find((i) => i.keyword === 'EXPOSE')?.args;
  for (const port of ports) {
    assert.match(port, /^127\.0\.0\.1:\d+:\d+$/);
    assert.equal(port.split(':')[2], exposed);
  }
});

test("airlock's build context holds the Dockerfile", () => {
  const build = airlock.build as string | { context: string; dockerfile?: string };
  const context = typeof build === 'string' ? build : build.context;
  const file = typeof build === 'string' ? 'Dockerfile' : (build.dockerfile ?? 'Dockerfile');
  assert.ok(existsSync(join(PROJECT_ROOT, context, file)));
});

test('one stage builds dist/ with the dev dependencies; the image gets it and production packages only', () => {
  assert.ok(dockerfile.length >= 3, 'build, deps and final stages');
  const stageNamed = (name: string) => dockerfile.find((stage) => new RegExp(`\\bAS ${name}$`, 'i').test(stage[0]?.args ?? ''));
  const runs = (stage: Instruction[] | undefined) => (stage ?? []).filter((i) => i.keyword === 'RUN').map((i) => i.args);
  assert.ok(
    runs(stageNamed('build')).some((args) => /npm ci\b/.test(args) && !/--omit=dev/.test(args)),
    'the build stage installs dev dependencies, and `prepare` builds',
  );
  assert.ok(runs(stageNamed('deps')).some((args) => /npm ci\b.*--omit=dev/.test(args)));
  const copiedFrom = (stage: string) =>
    finalStage.filter((i) => i.keyword === 'COPY' && i.args.includes(`--from=${stage}`)).map((i) => i.args);
  assert.ok(
    copiedFrom('build').some((args) => /\/app\/dist \.\/dist$/.test(args)),
    'the final stage copies dist/',
  );
  assert.ok(copiedFrom('deps').some((args) => /node_modules/.test(args)));
  // `prepare` runs in the deps stage too: what it needs must be there.
  const prepare =
    (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.prepare ?? '';
  for (const file of prepare.split(/\s+/).filter((w) => w.startsWith('scripts/'))) {
    assert.ok(
      copiedSources(stageNamed('deps') ?? []).some((source) => file.startsWith(`${source}/`)),
      `the deps stage lacks ${file}`,
    );
  }
  // Without src/ the launcher runs dist/ (as in the published package), so the image needs no tsx.
  assert.ok(!copiedSources(finalStage).includes('src'), 'the final stage copies no src/');
  const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  assert.ok(!('tsx' in pkg.dependencies), 'tsx, which runs the sources in a checkout, is a dev dependency');
});

const ignored = readFileSync(join(PROJECT_ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

/** The .dockerignore line that leaves `path` out of the build context, if any: as in Docker, the last line matching it decides, and a `!` line puts it back. */
function dockerIgnoredBy(path: string): string | undefined {
  let by: string | undefined;
  for (const pattern of ignored) {
    const back = pattern.startsWith('!');
    if (picomatch.isMatch(path, back ? pattern.slice(1) : pattern, { dot: true })) by = back ? undefined : pattern;
  }
  return by;
}

for (const source of [...new Set(dockerfile.flatMap(copiedSources))]) {
  test(`COPY ${source}: it exists in the repository and .dockerignore keeps it in the build context`, () => {
    assert.ok(existsSync(join(PROJECT_ROOT, source)), `${source} does not exist`);
    const ancestors = source.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    const excludedBy = ancestors.map(dockerIgnoredBy).find((by) => by !== undefined);
    assert.equal(excludedBy, undefined, `.dockerignore excludes ${source}`);
  });
}

test("no checkout's local state reaches the build context: token files, private Redis data, audit mirrors, logs, in any folder", () => {
  for (const state of [
    '.airlock/admin-token',
    'examples/.airlock/admin-token',
    'examples/.airlock/redis/appendonly.aof',
    'examples/airlock-audit.jsonl',
    'examples/.airlock/gateway.log',
  ]) {
    const ancestors = state.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    assert.ok(
      ancestors.map(dockerIgnoredBy).some((by) => by !== undefined),
      `${state} would be in the build context`,
    );
  }
});

test("the image's sandbox gets its seed file and nothing an approved write left in the checkout's", () => {
  assert.equal(dockerIgnoredBy('examples/sandbox/hello.txt'), undefined);
  for (const left of ['examples/sandbox/notes.txt', 'examples/sandbox/.hidden', 'examples/sandbox/drafts']) {
    assert.ok(dockerIgnoredBy(left) !== undefined, `${left} would be copied into the image`);
  }
});

test('the final stage runs as a user other than root', () => {
  const user = finalStage.filter((i) => i.keyword === 'USER').at(-1)?.args;
  assert.ok(user !== undefined, 'no USER in the final stage');
  assert.doesNotMatch(user, /^(root|0)(:|$)/);
});

test("the CMD's script and config are in the image, and the config loads with the real loader", () => {
  assert.deepEqual(cmd.slice(0, 3), ['node', 'bin/airlock.js', 'start']);
  const copied = copiedSources(finalStage);
  for (const file of [cmd[1] ?? '', cmdConfig]) {
    assert.ok(
      copied.some((source) => file === source || file.startsWith(`${source}/`)),
      `${file} is not copied into the image`,
    );
  }
  const config = loadConfig(join(PROJECT_ROOT, cmdConfig), dockerEnv);
  // In a container only a listener on every interface can be published.
  assert.equal(config.listen.host, '0.0.0.0');
  assert.equal(String(config.listen.port), finalStage.find((i) => i.keyword === 'EXPOSE')?.args);
  assert.deepEqual(
    (config.grants ?? []).map((g) => g.name),
    ['agent'],
  );
  assert.deepEqual(
    (config.admins ?? []).map((a) => a.name),
    ['admin'],
  );
});

test("the policy file of every server in the image's config loads", () => {
  const config = loadConfig(join(PROJECT_ROOT, cmdConfig), dockerEnv);
  assert.ok(Object.keys(config.servers).length > 0);
  for (const server of Object.values(config.servers)) loadPolicyFile(server.policy);
});

test("the image's config refuses to load without the tokens compose passes it", () => {
  assert.throws(() => loadConfig(join(PROJECT_ROOT, cmdConfig), {}), /AIRLOCK_TOKEN is not set[\s\S]*AIRLOCK_ADMIN_TOKEN is not set/);
});
