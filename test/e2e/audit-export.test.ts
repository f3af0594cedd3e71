import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { api, pendingFor } from '../support/approvals-api.js';
import { parseCsv } from '../support/audit-csv.js';
import { streamEntries, streamEvents, waitForEvents, type AuditRecord, type StreamEntry } from '../support/audit-stream.js';
import { configTree, FS } from '../support/config-tree.js';
import type { RunningGateway } from '../support/gateway.js';
import { track } from '../support/held-call.js';
import { until } from '../support/poll.js';
import { startRecordingGateway } from '../support/recording-upstream.js';
import { assertRefusal, firstText } from '../support/refusal.js';
import { airlock, cli } from '../support/run-cli.js';

const AGENT = 'agent-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';

/** The CSV columns, as the export documents them. */
const COLUMNS = [
  'id',
  'seq',
  'time',
  'event',
  'instance',
  'request_id',
  'approval_id',
  'grant',
  'session',
  'client',
  'server',
  'tool',
  'decision',
  'rule',
  'reason',
  'approvers',
  'channel',
  'result',
  'duration_ms',
  'detail',
  'admin',
  'digest',
  'arguments',
  'arguments_truncated',
  'prev',
  'hash',
  'method',
  'resource',
  'prompt',
  'checkpoint',
  'protocol',
  'answer',
  'task_id',
];
/** Text that breaks a naive CSV or JSON-lines writer. */
const AWKWARD = 'comma, "quotes", a\nnewline, a\r\nCRLF and unicode: héllo ✓ 日本';
const REJECTION = 'no, "not" now\nsee ticket 7, then retry';
const FORMULA = '=HYPERLINK("http://evil.example","click")';

/** What verify says of checkpoints with no anchor key configured, in a trail that never had one. */
const UNCHECKED =
  'checkpoints not checked (no anchor key: set audit.anchor_key, or pass --anchor-key-env NAME): none in the trail; a cut at the end of the trail cannot be told';

const POLICY = {
  version: '1',
  default: 'deny',
  tools: {
    echo: {},
    write_file: { action: 'deny', reason: 'No writing, "ever",\nnot even logs' },
    start_dicom_export_job: { action: 'require_approval', reason: 'Exports need a person' },
  },
};

let gateway: RunningGateway;
let mirror: string;
let entries: StreamEntry[];
let events: AuditRecord[];

before(async () => {
  gateway = await startRecordingGateway({
    policy: POLICY,
    agent: AGENT,
    admins: { alice: ALICE },
    rugPull: true,
    config: ['approvals: { channel: console, timeout: 10m }', 'audit: { file: ./airlock-audit.jsonl }'],
  });
  mirror = join(gateway.dir, 'airlock-audit.jsonl');
  const agent = await gateway.connect('/mcp/fixture', AGENT);
  assert.equal(firstText(await agent.callTool({ name: 'echo', arguments: { text: AWKWARD } })), AWKWARD);
  assertRefusal(await agent.callTool({ name: 'write_file', arguments: { path: 'a,b.txt', content: AWKWARD } }), 'POLICY DENIED', {
    decision: 'deny',
  });
  for (const reason of [REJECTION, FORMULA]) {
    const call = track(agent.callTool({ name: 'start_dicom_export_job', arguments: { datastore: reason } }));
    const { id } = await pendingFor(gateway.url, ALICE, 'start_dicom_export_job');
    assert.equal((await api(gateway.url, `/api/approvals/${id}/reject`, ALICE, { method: 'POST', body: { reason } })).status, 200);
    assertRefusal(await call.promise, 'APPROVAL REJECTED', { decision: 'rejected' });
  }
  await waitForEvents(gateway.redis.url, 'two rejected events', (all) => all.filter((e) => e.event === 'rejected').length === 2);
  entries = await streamEntries(gateway.redis.url);
  events = await streamEvents(gateway.redis.url);
});
after(() => gateway?.stop());

const run = (...argv: string[]) => cli([...argv, '-c', join(gateway.dir, 'airlock.yaml')], gateway.dir, { REDIS_URL: gateway.redis.url });
const lines = (text: string) => text.split('\n').filter((line) => line !== '');
/** A JSON line as the export and the mirror write it: the stored JSON byte for byte, the stream id first. */
const expectedLine = (entry: StreamEntry) => `{"id":${JSON.stringify(entry.id)},${entry.raw.slice(1)}`;

test('CSV export opens with the header row and has one row per event, its fields quoted so commas, quotes and newlines survive', async () => {
  const { code, stderr } = await run('audit', 'export', '--format', 'csv', '-o', 'trail.csv');
  assert.equal(code, 0, stderr);
  assert.equal(stderr.split('\n').at(-1), `wrote ${entries.length} events to trail.csv`);
  const rows = parseCsv(readFileSync(join(gateway.dir, 'trail.csv'), 'utf8'));
  assert.deepEqual(rows[0], COLUMNS);
  assert.equal(rows.length - 1, events.length, 'one row per event');
  rows.slice(1).forEach((row, i) => {
    const event = events[i]!;
    const cell = Object.fromEntries(COLUMNS.map((column, at) => [column, row[at]]));
    assert.equal(row.length, COLUMNS.length, `row ${i + 1} has every column`);
    assert.deepEqual(
      [cell.id, cell.seq, cell.event, cell.instance, cell.hash, cell.prev],
      [event.id, String(event.seq), event.event, event.instance, event.hash, event.prev],
    );
    assert.equal(cell.request_id, event.request_id ?? '');
    assert.equal(cell.digest, event.digest ?? '');
    if (event.arguments !== undefined) assert.deepEqual(JSON.parse(cell.arguments!), event.arguments, `seq ${event.seq} arguments`);
    if (event.reason !== undefined && !event.reason.startsWith('=')) assert.equal(cell.reason, event.reason, `seq ${event.seq} reason`);
  });
  const reasons = rows.slice(1).map((row) => row[COLUMNS.indexOf('reason')]);
  assert.ok(reasons.includes(REJECTION), 'a reason with commas, quotes and a newline comes back whole');
  assert.ok(reasons.includes('No writing, "ever",\nnot even logs'));
  // A spreadsheet would run a cell starting with `=`: the export defuses it.
  assert.ok(reasons.includes(`'${FORMULA}`), `the formula is prefixed: ${JSON.stringify(reasons)}`);
  const rejected = rows.find((row) => row[COLUMNS.indexOf('event')] === 'rejected');
  assert.match(rejected?.[COLUMNS.indexOf('approvers')] ?? '', /^alice reject via console at \d{4}-\d\d-\d\dT/);
});

test('CSV on stdout is the same as the file', async () => {
  const all = await run('audit', 'export', '--format', 'csv');
  assert.equal(all.code, 0, all.stderr);
  assert.equal(`${all.stdout}\n`, readFileSync(join(gateway.dir, 'trail.csv'), 'utf8'));
});

test('filters given to `audit export` select what is exported', async () => {
  const rejectedOnly = await run('audit', 'export', '--format', 'csv', '--decision', 'rejected');
  assert.equal(rejectedOnly.code, 0, rejectedOnly.stderr);
  const rows = parseCsv(rejectedOnly.stdout);
  assert.deepEqual(rows[0], COLUMNS);
  assert.deepEqual(
    rows.slice(1).map((row) => row[COLUMNS.indexOf('seq')]),
    events.filter((e) => e.event === 'rejected').map((e) => String(e.seq)),
    '--decision rejected',
  );
  const echoOnly = await run('audit', 'export', '--tool', 'echo');
  assert.deepEqual(
    lines(echoOnly.stdout).map((line) => (JSON.parse(line) as AuditRecord).seq),
    events.filter((e) => e.tool === 'echo').map((e) => e.seq),
    '--tool echo',
  );
  const future = await run('audit', 'export', '--format', 'csv', '--since', '2999-01-01');
  assert.deepEqual(parseCsv(future.stdout), [COLUMNS], '--since in the future: the header alone');
});

test('`audit export` and `audit verify` read the config that -c names, not the one in the current folder', async () => {
  // The current folder's config points at a Redis where nothing listens, and has no audit file.
  const elsewhere = configTree('redis: { url: "redis://127.0.0.1:1" }\n' + FS);
  const config = join(gateway.dir, 'airlock.yaml');
  const env = { REDIS_URL: gateway.redis.url };
  const verified = await cli(['audit', 'verify', '-c', config], elsewhere.dir, env);
  assert.equal(verified.code, 0, verified.stderr);
  assert.match(verified.stdout, /^audit trail in Redis: chain intact/m);
  assert.match(verified.stdout, /airlock-audit\.jsonl: chain intact/, 'the audit.file of the config named by -c is checked too');
  const exported = await cli(['audit', 'export', '-c', config], elsewhere.dir, env);
  assert.equal(exported.code, 0, exported.stderr);
  assert.equal(lines(exported.stdout).length, entries.length);
});

test('JSONL export: each line is valid JSON and is the stream entry, byte for byte, with its id first', async () => {
  const { code, stdout, stderr } = await airlock(
    ['audit', 'export', '--format', 'jsonl', '-c', join(gateway.dir, 'airlock.yaml')],
    gateway.dir,
    { ...process.env, REDIS_URL: gateway.redis.url },
  );
  assert.equal(code, 0, stderr);
  const exported = lines(stdout);
  assert.equal(exported.length, entries.length, 'one line per event');
  exported.forEach((line, i) => {
    const { id, ...event } = JSON.parse(line) as Record<string, unknown>;
    assert.equal(id, entries[i]!.id);
    assert.deepEqual(event, JSON.parse(entries[i]!.raw));
    assert.equal(line, expectedLine(entries[i]!));
  });
  assert.ok(!stdout.includes('\r'), 'no raw CR inside a JSON line');
});

test('the audit.file mirror holds the stream line for line, and verifies on its own and beside Redis', async () => {
  await until('the mirror to hold every event', () => lines(readFileSync(mirror, 'utf8')).length === entries.length);
  const text = readFileSync(mirror, 'utf8');
  assert.ok(text.endsWith('\n'));
  assert.deepEqual(lines(text), entries.map(expectedLine));

  const both = await run('audit', 'verify');
  assert.equal(both.code, 0, both.stderr);
  assert.equal(
    both.stdout,
    [
      `audit trail in Redis: chain intact: ${entries.length} events, seq 1–${entries.length}`,
      `audit trail in Redis: ${UNCHECKED}`,
      `airlock-audit.jsonl: chain intact: ${entries.length} events, seq 1–${entries.length}`,
      `airlock-audit.jsonl: ${UNCHECKED}`,
    ].join('\n'),
  );
  const fileOnly = await run('audit', 'verify', '--file', 'airlock-audit.jsonl', '--no-redis');
  assert.equal(fileOnly.code, 0, fileOnly.stderr);
  assert.equal(
    fileOnly.stdout,
    `airlock-audit.jsonl: chain intact: ${entries.length} events, seq 1–${entries.length}\nairlock-audit.jsonl: ${UNCHECKED}`,
  );
});

test('a JSONL export verifies like the mirror', async () => {
  const exported = await run('audit', 'export', '--format', 'jsonl', '-o', 'export.jsonl');
  assert.equal(exported.code, 0, exported.stderr);
  const { code, stdout, stderr } = await run('audit', 'verify', '--file', 'export.jsonl', '--no-redis');
  assert.equal(code, 0, stderr);
  assert.equal(stdout, `export.jsonl: chain intact: ${entries.length} events, seq 1–${entries.length}\nexport.jsonl: ${UNCHECKED}`);
});

test("one byte edited in the mirror: `airlock audit verify` exits 1 naming the file, its line and the event's seq; Redis still verifies", async () => {
  const original = readFileSync(mirror, 'utf8');
  const at = lines(original).findIndex((line) => line.includes('"event":"denied"'));
  assert.ok(at > 0);
  const seq = events[at]!.seq;
  // "deny" → "denx" in the event's decision: one byte, still JSON, still an event.
  const edited = lines(original).map((line, i) => (i === at ? line.replace('"decision":"deny"', '"decision":"denx"') : line));
  assert.equal(Buffer.byteLength(edited.join('\n')), Buffer.byteLength(lines(original).join('\n')));
  writeFileSync(mirror, `${edited.join('\n')}\n`);
  try {
    const { code, stdout, stderr } = await airlock(['audit', 'verify', '-c', join(gateway.dir, 'airlock.yaml')], gateway.dir, {
      ...process.env,
      REDIS_URL: gateway.redis.url,
    });
    assert.equal(code, 1, stdout);
    assert.match(stdout, /^audit trail in Redis: chain intact/);
    assert.match(
      stderr,
      new RegExp(
        `^airlock-audit\\.jsonl: BROKEN after ${at} good events: event seq ${seq} \\(.*airlock-audit\\.jsonl line ${at + 1}, denied fixture/write_file at .*\\) was changed`,
        'm',
      ),
    );
  } finally {
    writeFileSync(mirror, original);
  }
  const copy = join(gateway.dir, 'copy.jsonl');
  copyFileSync(mirror, copy);
  const lastLine = lines(original).length;
  writeFileSync(copy, lines(original).slice(0, -2).concat(lines(original).at(-1)!).join('\n') + '\n');
  const removed = await run('audit', 'verify', '--file', 'copy.jsonl', '--no-redis');
  assert.equal(removed.code, 1);
  assert.match(
    removed.stderr,
    new RegExp(
      `event seq ${events.at(-1)!.seq} \\(.*copy\\.jsonl line ${lastLine - 1}, .*follows seq ${events.at(-3)!.seq}: event seq ${events.at(-2)!.seq} was removed or moved`,
    ),
  );
});
