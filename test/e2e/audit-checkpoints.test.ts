import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { contentHash, linkHash } from '../../src/audit/chain.js';
import {
  cutTrail,
  rewriteChained,
  streamEntries,
  streamEvents,
  waitForEvents,
  type AuditRecord,
  type StreamEntry,
} from '../support/audit-stream.js';
import { configTree, FS } from '../support/config-tree.js';
import type { RunningGateway } from '../support/gateway.js';
import { until } from '../support/poll.js';
import { startRecordingGateway } from '../support/recording-upstream.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { firstText } from '../support/refusal.js';
import { airlock, cli, type CliResult } from '../support/run-cli.js';

const AGENT = 'agent-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';
const KEY = 'e2e-anchor-key-0f1e2d3c4b5a69788796a5b4c3d2e1f0';
const ENV = { AIRLOCK_AUDIT_ANCHOR_KEY: KEY };
const POLICY = { version: '1', default: 'deny', tools: { echo: {} } };
/** A checkpoint after every 5 events, and every 2 s when idle: the gateways look every 0.5 s. */
const AUDIT = 'audit: { file: ./airlock-audit.jsonl, anchor_key: "${AIRLOCK_AUDIT_ANCHOR_KEY}", checkpoint: { events: 5, interval: 2s } }';

let redis: TestRedis;
let A: RunningGateway;
let B: RunningGateway | undefined;
/** The trail once every gateway stopped: each tampering starts from it and is undone after. */
let stopped: StreamEntry[];
let closing: AuditRecord;

const start = (redisServer?: TestRedis) =>
  startRecordingGateway({
    ...(redisServer && { redis: redisServer }),
    policy: POLICY,
    agent: AGENT,
    admins: { alice: ALICE },
    config: [AUDIT],
    env: ENV,
  });
/** `airlock audit verify` as a user runs it (a child process) in the gateway's folder, the key in its environment for the config's "${AIRLOCK_AUDIT_ANCHOR_KEY}". */
const verify = (gateway: RunningGateway, ...argv: string[]) =>
  airlock(['audit', 'verify', '-c', join(gateway.dir, 'airlock.yaml'), ...argv], gateway.dir, {
    ...process.env,
    REDIS_URL: gateway.redis.url,
    ...ENV,
  });
const lines = (text: string) => text.split('\n').filter((line) => line !== '');
const checkpointsOf = (events: AuditRecord[]) => events.filter((e) => e.event === 'audit_checkpoint');
const nothingShows = (result: CliResult) => assert.ok(!`${result.stdout}${result.stderr}`.includes(KEY), 'the output shows the anchor key');

async function echo(gateway: RunningGateway, count: number, label: string): Promise<void> {
  const agent = await gateway.connect('/mcp/fixture', AGENT);
  for (let i = 0; i < count; i++)
    assert.equal(firstText(await agent.callTool({ name: 'echo', arguments: { text: `${label}${i}` } })), `${label}${i}`);
}

before(async () => {
  redis = await startRedis();
  A = await start(redis);
  await echo(A, 6, 'a');
  await waitForEvents(
    redis.url,
    'the calls and a checkpoint after them',
    (all) => all.filter((e) => e.event === 'executed').length === 6 && checkpointsOf(all).length >= 3,
  );
});
after(async () => {
  await Promise.all([A?.stop(), B?.stop()]);
  await redis?.stop();
});

test('with audit.anchor_key, a gateway signs checkpoints into the chain, and `airlock audit verify` checks them and says which events none covers yet', async () => {
  const result = await verify(A);
  assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
  const out = lines(result.stdout);
  assert.match(out[0] ?? '', /^audit trail in Redis: chain intact: \d+ events, seq 1–\d+$/);
  assert.match(
    out[1] ?? '',
    /^audit trail in Redis: \d+ checkpoints signed and matching; the newest \(seq \d+, \d{4}-\d\d-\d\dT[\d:.]+Z\) covers events through seq \d+$/,
  );
  assert.match(
    out[2] ?? '',
    /^audit trail in Redis: (events \d+–\d+ \(the last \d+|event \d+ \(the last one), after the checkpoint at \S+\) (are|is) not covered by a checkpoint yet; a cut there cannot be told$/,
  );
  assert.match(out[3] ?? '', /^airlock-audit\.jsonl: chain intact: /, 'the mirror is checked too');
  assert.match(out[4] ?? '', /^airlock-audit\.jsonl: \d+ checkpoints signed and matching/);
  nothingShows(result);
  const events = await streamEvents(redis.url);
  for (const checkpoint of checkpointsOf(events)) {
    assert.match(checkpoint.instance, new RegExp(`^gateway@${hostname()}:${A.process.pid}$`));
    assert.ok(checkpoint.checkpoint!.seq < checkpoint.seq);
  }
});

test('the anchor key is in no event, mirror line, export or log', async () => {
  const exported = await airlock(['audit', 'export', '-c', join(A.dir, 'airlock.yaml')], A.dir, {
    ...process.env,
    REDIS_URL: redis.url,
    ...ENV,
  });
  assert.equal(exported.code, 0, exported.stderr);
  assert.ok(exported.stdout.includes('"audit_checkpoint"'), 'the export carries the checkpoints');
  for (const [what, text] of [
    ['the stream', JSON.stringify(await streamEntries(redis.url))],
    ['the mirror', readFileSync(join(A.dir, 'airlock-audit.jsonl'), 'utf8')],
    ['the export', exported.stdout],
    ['the logs', JSON.stringify(A.logs) + A.stderr],
  ] as const) {
    assert.ok(!text.includes(KEY), `${what} holds the anchor key`);
  }
});

test('verify without the key still checks the chain, and says the checkpoints were not checked, and how many there are', async () => {
  const { dir, file } = configTree(FS, { 'policies/fs.yaml': 'version: "1"\n' });
  const result = await airlock(['audit', 'verify', '-c', file], dir, { ...process.env, REDIS_URL: redis.url });
  assert.equal(result.code, 0, result.stderr);
  const out = lines(result.stdout);
  assert.match(out[0] ?? '', /^audit trail in Redis: chain intact: /);
  assert.match(
    out[1] ?? '',
    /^audit trail in Redis: checkpoints not checked \(no anchor key: set audit\.anchor_key, or pass --anchor-key-env NAME\): \d+ checkpoints in the trail, the newest \(seq \d+\) unverified; a cut at the end of the trail cannot be told$/,
  );
  assert.equal(out.length, 2);
});

test('--anchor-key-env reads the key from the variable it names; unset, too short or not a name, verify exits 1 saying which, never showing the key', async () => {
  const { dir, file } = configTree(FS, { 'policies/fs.yaml': 'version: "1"\n' });
  const run = (name: string, env: NodeJS.ProcessEnv) =>
    cli(['audit', 'verify', '-c', file, '--anchor-key-env', name], dir, { REDIS_URL: redis.url, ...env });
  const good = await run('MY_ANCHOR', { MY_ANCHOR: KEY });
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /^audit trail in Redis: \d+ checkpoints signed and matching/m);
  const wrong = await run('MY_ANCHOR', { MY_ANCHOR: `${KEY.slice(0, -1)}x` });
  assert.equal(wrong.code, 1);
  assert.match(
    wrong.stderr,
    /^audit trail in Redis: BROKEN after \d+ good events?: event seq \d+ \(stream id .*, audit_checkpoint at .*\) is a checkpoint whose signature does not match: .* or the gateways sign with another audit\.anchor_key$/m,
  );
  for (const [name, env, message] of [
    [
      'MY_ANCHOR',
      {},
      /--anchor-key-env MY_ANCHOR: the environment variable MY_ANCHOR is not set; export it with the anchor key the gateways use \(audit\.anchor_key\)/,
    ],
    [
      'MY_ANCHOR',
      { MY_ANCHOR: 'short-one' },
      /--anchor-key-env MY_ANCHOR: the key in MY_ANCHOR is too short \(an anchor key has at least 32 characters\); it is not shown here/,
    ],
    ['MY-ANCHOR=x', {}, /--anchor-key-env "MY-ANCHOR=x": expected the name of an environment variable/],
  ] as const) {
    const result = await run(name, env);
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stderr, message);
    assert.ok(!result.stderr.includes('short-one'));
  }
});

test('two gateways writing one chain share the checkpoints: both sign, and every checkpoint verifies', async () => {
  B = await start(redis);
  await Promise.all([echo(A, 10, 'a'), echo(B, 10, 'b')]);
  const names = [A, B].map((g) => `gateway@${hostname()}:${g.process.pid}`);
  await waitForEvents(
    redis.url,
    'checkpoints signed by both gateways',
    (all) => names.every((name) => checkpointsOf(all).some((c) => c.instance === name)),
    30_000,
  );
  const result = await verify(A, '--no-redis', '--file', 'airlock-audit.jsonl');
  assert.equal(result.code, 0, result.stderr);
  const both = await verify(B);
  assert.equal(both.code, 0, both.stderr);
  const covered = checkpointsOf(await streamEvents(redis.url)).map((c) => c.checkpoint!.seq);
  assert.equal(new Set(covered).size, covered.length, 'no event signed twice');
});

test('once every gateway stopped, the trail ends with a checkpoint of all before it; verify passes now, and fails as of an hour later, naming the newest checkpoint and --as-of', async () => {
  // One after the other: a closing gateway takes the checkpoint claim whoever holds it, so two closing at the same moment
  // can both sign the same head, and the last checkpoint then leaves the other's uncovered (as it did under load).
  await A.stop();
  await B?.stop();
  B = undefined;
  stopped = await streamEntries(redis.url);
  const events = await streamEvents(redis.url);
  closing = events.at(-1)!;
  assert.equal(closing.event, 'audit_checkpoint');
  const { dir, file } = configTree(`${FS}${AUDIT}\n`, { 'policies/fs.yaml': 'version: "1"\n' });
  const run = (...argv: string[]) =>
    airlock(['audit', 'verify', '-c', file, ...argv], dir, { ...process.env, REDIS_URL: redis.url, ...ENV });
  const now = await run('--as-of', closing.time);
  assert.equal(now.code, 0, now.stderr);
  // Two gateways that stop together both sign the head they saw: the last checkpoint may then cover all but the other's.
  const covered = closing.checkpoint!.seq;
  const uncovered =
    closing.seq === covered + 1
      ? `event ${closing.seq} \\(the last one`
      : `events ${covered + 1}–${closing.seq} \\(the last ${closing.seq - covered}`;
  assert.ok(
    events.slice(covered).every((e) => e.event === 'audit_checkpoint'),
    'only checkpoints follow what the newest one covers',
  );
  assert.match(
    now.stdout,
    new RegExp(
      `^audit trail in Redis: ${uncovered}, after the checkpoint at ${closing.time}\\) (is|are) not covered by a checkpoint yet`,
      'm',
    ),
  );
  const later = new Date(Date.parse(closing.time) + 3_600_000).toISOString();
  const late = await run('--as-of', later);
  assert.equal(late.code, 1, late.stdout);
  assert.match(
    late.stderr,
    new RegExp(
      `^audit trail in Redis: BROKEN after ${events.length} good events: the newest checkpoint \\(event seq ${closing.seq}, covering events through seq ${covered}\\) was signed at ${closing.time}, 60 min before ${later.replaceAll('.', '\\.')}, but gateways sign one every 2 seconds: events after it were cut from the end of the trail \\(and the head reset\\), or no gateway has run since\\. If every gateway has been stopped since ${closing.time}, verify as of then: --as-of ${closing.time}$`,
      'm',
    ),
  );
  const badAsOf = await run('--as-of', 'yesterday');
  assert.equal(badAsOf.code, 1);
  assert.match(badAsOf.stderr, /--as-of: "yesterday" is not a date/);
});

const tamperings: { name: string; change: (events: AuditRecord[]) => AuditRecord[]; names: (events: AuditRecord[]) => RegExp }[] = [
  {
    name: 'a checkpoint forged (its signature edited, the chain recomputed)',
    change: (events) =>
      events.map((e) => (e.seq === checkpointsOf(events)[2]!.seq ? { ...e, checkpoint: { ...e.checkpoint!, mac: 'f'.repeat(64) } } : e)),
    names: (events) =>
      new RegExp(
        `event seq ${checkpointsOf(events)[2]!.seq} \\(stream id .*, audit_checkpoint at .*\\) is a checkpoint whose signature does not match: it was forged or changed`,
      ),
  },
  {
    name: 'a checkpoint removed from the middle (the chain recomputed)',
    change: (events) => events.filter((e) => e.seq !== checkpointsOf(events)[2]!.seq),
    names: (events) =>
      new RegExp(
        `is a checkpoint naming event seq ${checkpointsOf(events)[2]!.seq} as the checkpoint before it, but that is not a checkpoint: a checkpoint was removed`,
      ),
  },
  {
    // The event the third checkpoint covers: no earlier checkpoint covers it.
    name: 'an event a checkpoint covers changed (the chain recomputed)',
    change: (events) => events.map((e) => (e.seq === checkpointsOf(events)[2]!.checkpoint!.seq ? { ...e, detail: 'nothing to see' } : e)),
    names: (events) =>
      new RegExp(
        `event seq ${checkpointsOf(events)[2]!.seq} .* is a checkpoint of event seq ${checkpointsOf(events)[2]!.checkpoint!.seq}, but that event's hash is not the one signed`,
      ),
  },
];

for (const tampering of tamperings) {
  test(`${tampering.name}: the chain alone holds, \`airlock audit verify\` with the key exits 1 naming it; undone, it passes`, async () => {
    assert.ok(stopped, 'the gateways stopped in the test above');
    const { dir, file } = configTree(`${FS}${AUDIT.replace('file: ./airlock-audit.jsonl, ', '')}\n`, {
      'policies/fs.yaml': 'version: "1"\n',
    });
    const events = await streamEvents(redis.url);
    const run = (env: NodeJS.ProcessEnv) =>
      airlock(['audit', 'verify', '-c', file, '--as-of', closing.time], dir, { ...process.env, REDIS_URL: redis.url, ...env });
    await rewriteChained(redis.url, tampering.change);
    try {
      const plain = await run({ AIRLOCK_AUDIT_ANCHOR_KEY: '' });
      assert.equal(plain.code, 0, `without the key only the chain is checked, and it holds: ${plain.stderr}`);
      const result = await run(ENV);
      assert.equal(result.code, 1, result.stdout);
      assert.match(result.stderr, /^audit trail in Redis: BROKEN after \d+ good events?: /m);
      assert.match(result.stderr, tampering.names(events));
      nothingShows(result);
    } finally {
      await rewriteChained(redis.url, () => events);
    }
    const again = await run(ENV);
    assert.equal(again.code, 0, again.stderr);
  });
}

test('an export carries the checkpoints and verifies with them; cut short after a checkpoint it reports the window it cannot prove; a forged checkpoint in it exits 1 naming its line', async () => {
  const { dir, file } = configTree(`${FS}${AUDIT.replace('file: ./airlock-audit.jsonl, ', '')}\n`, {
    'policies/fs.yaml': 'version: "1"\n',
  });
  const env = { ...process.env, REDIS_URL: redis.url, ...ENV };
  assert.equal((await airlock(['audit', 'export', '-c', file, '-o', 'export.jsonl'], dir, env)).code, 0);
  const exported = lines(readFileSync(join(dir, 'export.jsonl'), 'utf8'));
  const verifyFile = (name: string, asOf: string) =>
    airlock(['audit', 'verify', '-c', file, '--no-redis', '--file', name, '--as-of', asOf], dir, env);
  const whole = await verifyFile('export.jsonl', closing.time);
  assert.equal(whole.code, 0, whole.stderr);
  assert.match(whole.stdout, /^export\.jsonl: \d+ checkpoints signed and matching/m);

  // Cut just before the checkpoint that follows a (second or later) checkpoint and some events: what is left ends with events no checkpoint covers.
  const isCheckpoint = (line: string | undefined) => line?.includes('"audit_checkpoint"') ?? true;
  const third = exported.findIndex(
    (line, i) => isCheckpoint(line) && exported.slice(0, i).filter(isCheckpoint).length >= 1 && !isCheckpoint(exported[i + 1]),
  );
  assert.ok(third > 0, 'a checkpoint with events after it');
  const next = exported.findIndex((line, i) => i > third && isCheckpoint(line));
  const cut = exported.slice(0, next);
  writeFileSync(join(dir, 'cut.jsonl'), `${cut.join('\n')}\n`);
  const checkpoint = JSON.parse(exported[third]!) as AuditRecord;
  const last = (JSON.parse(cut.at(-1)!) as AuditRecord).seq;
  const short = await verifyFile('cut.jsonl', checkpoint.time);
  assert.equal(short.code, 0, short.stderr);
  assert.match(
    short.stdout,
    new RegExp(
      `^cut\\.jsonl: events ${checkpoint.checkpoint!.seq + 1}–${last} \\(the last ${last - checkpoint.checkpoint!.seq}, after the checkpoint at ${checkpoint.time}\\) are not covered by a checkpoint yet; a cut there cannot be told$`,
      'm',
    ),
  );

  // One checkpoint's signature changed, and every line after it chained again so that the chain alone holds.
  let prev: string | undefined;
  const forged = exported.map((line, i) => {
    const { id, ...event } = JSON.parse(line) as AuditRecord;
    if (i === third) event.checkpoint = { ...event.checkpoint!, mac: '0'.repeat(64) };
    event.prev = prev ?? event.prev;
    event.hash = linkHash(event.seq, event.prev, contentHash(event));
    prev = event.hash;
    return JSON.stringify({ id, ...event });
  });
  writeFileSync(join(dir, 'forged.jsonl'), `${forged.join('\n')}\n`);
  const result = await verifyFile('forged.jsonl', closing.time);
  assert.equal(result.code, 1, result.stdout);
  assert.match(
    result.stderr,
    new RegExp(
      `^forged\\.jsonl: BROKEN after ${third} good events: event seq ${checkpoint.seq} \\(.*forged\\.jsonl line ${third + 1}, audit_checkpoint at .*\\) is a checkpoint whose signature does not match`,
      'm',
    ),
  );
});

test('events deleted from the end and the head reset while a gateway runs: it sees the head go back, signs how far the trail had reached, and verify exits 1 naming that', async () => {
  const gateway = await start();
  try {
    await echo(gateway, 8, 'c');
    const url = gateway.redis.url;
    const before = await waitForEvents(
      url,
      'the calls and their checkpoints',
      (all) => all.filter((e) => e.event === 'executed').length === 8 && checkpointsOf(all).length >= 3,
    );
    const reached = before.at(-1)!.seq;
    // Past the first checkpoint: the cut takes the later ones with it.
    const keep = checkpointsOf(before)[0]!.seq + 1;
    assert.ok(keep < reached);
    await cutTrail(url, keep);
    const events = await waitForEvents(
      url,
      'a checkpoint recording the cut',
      (all) => all.some((e) => e.checkpoint?.reached !== undefined),
      10_000,
    );
    const marker = events.find((e) => e.checkpoint?.reached !== undefined)!;
    assert.ok(marker.checkpoint!.reached! >= reached, `it had seen seq ${reached} at least: ${JSON.stringify(marker.checkpoint)}`);
    await until('the gateway to log it', () =>
      gateway.logs.some(
        (l) =>
          l.level === 50 && String(l.msg).startsWith(`the audit trail went back from seq ${marker.checkpoint!.reached} to seq ${keep}:`),
      ),
    );
    const result = await verify(gateway, '--no-redis', '--file', 'airlock-audit.jsonl');
    assert.equal(result.code, 1, result.stdout);
    const inRedis = await verify(gateway);
    assert.equal(inRedis.code, 1, inRedis.stdout);
    assert.match(
      inRedis.stderr,
      new RegExp(
        `^audit trail in Redis: BROKEN after \\d+ good events?: event seq ${marker.seq} \\(stream id .*, audit_checkpoint at .*\\) is a checkpoint recording that the trail had reached seq ${marker.checkpoint!.reached} before its head was set back \\(signed by gateway@${hostname()}:${gateway.process.pid}\\): events up to seq ${marker.checkpoint!.reached} were cut from its end, or Redis lost them$`,
        'm',
      ),
    );
  } finally {
    await gateway.stop();
  }
});
