import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { api, pendingFor } from '../support/approvals-api.js';
import { rewriteStream, streamEntries, waitForEvents, type AuditRecord, type StreamEntry } from '../support/audit-stream.js';
import { configTree, FS } from '../support/config-tree.js';
import { startGateways, type RunningGateway } from '../support/gateway.js';
import { startRecordingGateway } from '../support/recording-upstream.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { firstText } from '../support/refusal.js';
import { airlock, cli } from '../support/run-cli.js';

const AGENT = 'agent-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';
const CALLS_PER_INSTANCE = 12;

const POLICY = {
  version: '1',
  default: 'deny',
  tools: { echo: {}, start_dicom_export_job: { action: 'require_approval', reason: 'Exports need a person' } },
};

let redis: TestRedis;
let A: RunningGateway;
let B: RunningGateway;
/** The trail as both instances left it: every tampering starts from this and is undone after. */
let pristine: StreamEntry[];
let events: AuditRecord[];

before(async () => {
  redis = await startRedis();
  [A, B] = (await startGateways(2, () =>
    startRecordingGateway({
      redis,
      policy: POLICY,
      agent: AGENT,
      admins: { alice: ALICE },
      config: ['approvals: { channel: console, timeout: 10m }'],
    }),
  )) as [RunningGateway, RunningGateway];
});
after(async () => {
  await Promise.all([A?.stop(), B?.stop()]);
  await redis?.stop();
});

/** A config for the CLI after the gateways (and their folders) are gone: only its Redis matters. */
const cliConfig = () => configTree(FS).file;
/** Run from the config's own folder, so these tests do not depend on how `-c` is parsed (audit-export.test.ts checks that). */
const verify = (config: string) => cli(['audit', 'verify', '-c', config], dirname(config), { REDIS_URL: redis.url });

test('calls through two instances at once, and an approval held on A and decided through B, leave one unbroken chain that `airlock audit verify` passes', async () => {
  const [onA, onB] = await Promise.all([A.connect('/mcp/fixture', AGENT), B.connect('/mcp/fixture', AGENT)]);
  const held = onA.callTool({ name: 'start_dicom_export_job', arguments: { datastore: 'held on A' } });
  const request = await pendingFor(B.url, ALICE, 'start_dicom_export_job');
  const echoes = Array.from({ length: CALLS_PER_INSTANCE }, (_, i) => [
    onA.callTool({ name: 'echo', arguments: { text: `A${i}` } }),
    onB.callTool({ name: 'echo', arguments: { text: `B${i}` } }),
  ]).flat();
  const approved = api(B.url, `/api/approvals/${request.id}/approve`, ALICE, { method: 'POST', body: { reason: 'both instances busy' } });
  const answers = await Promise.all(echoes);
  assert.deepEqual(
    answers.map(firstText).sort(),
    Array.from({ length: CALLS_PER_INSTANCE }, (_, i) => [`A${i}`, `B${i}`])
      .flat()
      .sort(),
  );
  assert.equal((await approved).status, 200);
  assert.match(firstText(await held), /^export job \w+ started$/);

  const expected = 4 * CALLS_PER_INSTANCE + 3;
  events = await waitForEvents(redis.url, `${expected} events`, (all) => all.length >= expected);
  assert.equal(events.length, expected, JSON.stringify(events.map((e) => e.event)));
  assert.deepEqual(
    events.map((e) => e.seq),
    events.map((_, i) => i + 1),
    'seq 1…n with no gap or repeat',
  );
  for (let i = 1; i < events.length; i++) assert.equal(events[i]!.prev, events[i - 1]!.hash, `seq ${i + 1} links to seq ${i}`);

  const nameOf = (gateway: RunningGateway) => `gateway@${hostname()}:${gateway.process.pid}`;
  const byInstance = (gateway: RunningGateway) => events.filter((e) => e.instance === nameOf(gateway));
  assert.equal(
    byInstance(A).length + byInstance(B).length,
    expected,
    `every event names A or B: ${[...new Set(events.map((e) => e.instance))].join(', ')}`,
  );
  assert.deepEqual(
    byInstance(B)
      .filter((e) => e.event === 'allowed')
      .map((e) => (e.arguments as { text: string }).text)
      .sort(),
    Array.from({ length: CALLS_PER_INSTANCE }, (_, i) => `B${i}`).sort(),
  );
  // The call held on A is audited by A, which released it, though the admin decided through B.
  assert.deepEqual(
    byInstance(A)
      .filter((e) => e.approval_id === request.id)
      .map((e) => e.event),
    ['approval_requested', 'approved', 'executed'],
  );

  const { code, stdout, stderr } = await airlock(['audit', 'verify', '-c', join(A.dir, 'airlock.yaml')], A.dir, {
    ...process.env,
    REDIS_URL: redis.url,
  });
  assert.equal(code, 0, stderr);
  assert.equal(
    stdout.trim(),
    [
      `audit trail in Redis: chain intact: ${expected} events, seq 1–${expected}`,
      'audit trail in Redis: checkpoints not checked (no anchor key: set audit.anchor_key, or pass --anchor-key-env NAME): none in the trail; a cut at the end of the trail cannot be told',
    ].join('\n'),
  );
});

test('an admin action from the CLI joins the same chain', async () => {
  const accepted = await cli(['tools', 'accept', 'fixture', '-c', join(B.dir, 'airlock.yaml')], B.dir, {
    REDIS_URL: redis.url,
    AIRLOCK_ADMIN_TOKEN: ALICE,
  });
  assert.equal(accepted.code, 0, accepted.stderr);
  events = await waitForEvents(redis.url, 'the tools_accepted event', (all) => all.some((e) => e.event === 'tools_accepted'));
  const last = events.at(-1)!;
  assert.deepEqual([last.event, last.admin, last.server, last.seq], ['tools_accepted', 'alice', 'fixture', events.length]);
  assert.match(last.instance, new RegExp(`^cli@${hostname()}:\\d+$`));
  // Nothing may append while the trail is tampered with below.
  await Promise.all([A.stop(), B.stop()]);
  pristine = await streamEntries(redis.url);
  assert.equal(pristine.length, events.length);
  const { code, stderr } = await verify(cliConfig());
  assert.equal(code, 0, stderr);
});

/** Entries are taken from the middle of the trail, away from both ends. */
const mid = () => Math.floor(pristine.length / 2);
const seqAt = (index: number) => (JSON.parse(pristine[index]!.raw) as { seq: number }).seq;
/** Changes one byte of a value inside the event's JSON, leaving it valid JSON and a valid event. */
const oneByte = (raw: string) => raw.replace('"server":"fixture"', '"server":"fixturf"');

const tamperings: { name: string; change: (entries: StreamEntry[]) => StreamEntry[]; names: () => RegExp }[] = [
  {
    name: 'one byte of one event edited',
    change: (entries) => entries.map((e, i) => (i === mid() ? { ...e, raw: oneByte(e.raw) } : e)),
    names: () => new RegExp(`event seq ${seqAt(mid())} \\(stream id ${pristine[mid()]!.id}, .*\\) was changed`),
  },
  {
    name: 'the hash of one event edited',
    change: (entries) =>
      entries.map((e, i) =>
        i === mid() ? { ...e, raw: e.raw.replace(/"hash":"([0-9a-f])/, (_, c: string) => `"hash":"${c === '0' ? '1' : '0'}`) } : e,
      ),
    names: () => new RegExp(`event seq ${seqAt(mid())} .* was changed`),
  },
  {
    name: 'one event deleted',
    change: (entries) => entries.filter((_, i) => i !== mid()),
    names: () =>
      new RegExp(`event seq ${seqAt(mid() + 1)} .* follows seq ${seqAt(mid() - 1)}: event seq ${seqAt(mid())} was removed or moved`),
  },
  {
    name: 'two neighbouring events swapped',
    change: (entries) =>
      entries.map((e, i) =>
        i === mid() ? { ...e, raw: entries[mid() + 1]!.raw } : i === mid() + 1 ? { ...e, raw: entries[mid()]!.raw } : e,
      ),
    names: () =>
      new RegExp(`event seq ${seqAt(mid() + 1)} .* follows seq ${seqAt(mid() - 1)}: event seq ${seqAt(mid())} was removed or moved`),
  },
  {
    name: 'two distant events swapped',
    change: (entries) =>
      entries.map((e, i) => (i === 2 ? { ...e, raw: entries[mid()]!.raw } : i === mid() ? { ...e, raw: entries[2]!.raw } : e)),
    names: () =>
      new RegExp(`event seq ${seqAt(mid())} .* follows seq ${seqAt(1)}: events seq ${seqAt(2)}–${seqAt(mid() - 1)} were removed or moved`),
  },
  {
    name: 'the first event deleted',
    change: (entries) => entries.slice(1),
    names: () => /event seq 2 .* follows seq 0: event seq 1 was removed or moved/,
  },
  {
    name: 'one byte edited so that the event is no longer JSON',
    change: (entries) => entries.map((e, i) => (i === mid() ? { ...e, raw: e.raw.replace('{"time"', '["time"') } : e)),
    names: () => new RegExp(`stream id ${pristine[mid()]!.id} is not valid JSON`),
  },
  {
    name: 'the last event deleted',
    change: (entries) => entries.slice(0, -1),
    names: () => new RegExp(`event seq ${pristine.length}\\b`),
  },
  {
    name: 'every event deleted',
    change: () => [],
    names: () => /events? seq 1\b/,
  },
];

for (const tampering of tamperings) {
  test(`${tampering.name}: \`airlock audit verify\` exits 1 naming that event; undone, it passes again`, async () => {
    assert.ok(pristine, 'the trail was written by the tests above');
    const config = cliConfig();
    await rewriteStream(redis.url, tampering.change);
    try {
      const { code, stdout, stderr } = await verify(config);
      assert.equal(code, 1, `verify must fail: ${stdout}${stderr}`);
      assert.match(stderr, /^audit trail in Redis: BROKEN after \d+ good events?: /m);
      assert.match(stderr, tampering.names());
    } finally {
      await rewriteStream(redis.url, () => pristine);
    }
    const again = await verify(config);
    assert.equal(again.code, 0, again.stderr);
  });
}
