import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChainCheck, contentHash, GENESIS, linkHash } from '../../src/audit/chain.js';
import { CSV_HEADER, csvRow, jsonLine } from '../../src/audit/format.js';
import { parseAuditQuery } from '../../src/audit/query.js';
import type { AuditEvent } from '../../src/audit/index.js';

/** A chain as append.lua writes it: the same link formula, in JavaScript. */
function chain(n: number): string[] {
  let prev = GENESIS;
  return Array.from({ length: n }, (_, i) => {
    const content = {
      time: `2026-11-25T00:00:0${i}.000Z`,
      instance: 't',
      event: 'allowed',
      server: 'fs',
      tool: 'read_file',
      arguments: { path: `/${i}` },
    };
    const seq = i + 1;
    const hash = linkHash(seq, prev, contentHash(content));
    const raw = JSON.stringify({ ...content, seq, prev, hash });
    prev = hash;
    return raw;
  });
}
const check = (raws: string[]) => {
  const c = new ChainCheck();
  raws.forEach((raw, i) => c.add({ where: `line ${i + 1}`, raw }));
  return c.report();
};

const tampering: [string, (raws: string[]) => string[], RegExp | undefined][] = [
  ['an intact chain', (r) => r, undefined],
  ['one character changed', (r) => r.map((x, i) => (i === 1 ? x.replace('"/1"', '"/9"') : x)), /seq 2 .*was changed/],
  ['a field added', (r) => r.map((x, i) => (i === 1 ? x.replace('{', '{"approved_by":"mallory",') : x)), /seq 2 .*was changed/],
  ['the first event removed', (r) => r.slice(1), /seq 2 .*follows seq 0: event seq 1 was removed/],
  ['the last two removed (only the head could tell: not a break)', (r) => r.slice(0, 2), undefined],
  ['two events swapped', (r) => [r[0]!, r[2]!, r[1]!, r[3]!], /seq 3 .*follows seq 1/],
  ['an event repeated', (r) => [r[0]!, r[1]!, r[1]!, r[2]!], /seq 2 .*out of order/],
  ['a line cut short', (r) => r.map((x, i) => (i === 2 ? x.slice(0, 40) : x)), /line 3 is not valid JSON/],
  ['a line that is JSON but no event', (r) => [r[0]!, '{"hello":1}'], /line 2 is not an audit event/],
];
for (const [name, tamper, problem] of tampering) {
  test(`chain check: ${name}`, () => {
    const report = check(tamper(chain(4)));
    if (problem === undefined) assert.equal(report.problem, undefined, JSON.stringify(report));
    else assert.match(report.problem?.message ?? 'no problem found', problem);
  });
}

test('a chain check stops at the first problem and counts only the good events before it', () => {
  const raws = chain(5);
  raws[2] = raws[2]!.replace('"/2"', '"/x"');
  assert.deepEqual({ ...check(raws), problem: undefined }, { checked: 2, first: 1, last: 2, problem: undefined });
});

test('a JSON line keeps the stored bytes and puts the stream id first', () => {
  assert.equal(jsonLine('17-0', '{"a":1,"b":"x"}'), '{"id":"17-0","a":1,"b":"x"}');
});

const event: AuditEvent = {
  id: '1-0',
  seq: 1,
  time: '2026-11-25T00:00:00.000Z',
  event: 'approved',
  instance: 'gw',
  server: 'fs',
  tool: 'write_file',
  arguments: { path: '/a,b', content: 'line1\nline2 "q"' },
  approvers: [{ id: 'U1', name: 'alice', via: 'slack', verdict: 'approve', at: 0 }],
  reason: '=HYPERLINK("http://evil")',
  prev: GENESIS,
  hash: 'h',
};

test('CSV: a header and one row whose quoted cells survive commas, quotes and newlines', () => {
  const header = CSV_HEADER.split(',');
  const row = parseCsvRow(csvRow(event));
  assert.equal(row.length, header.length);
  const cell = (name: string) => row[header.indexOf(name)];
  assert.equal(cell('tool'), 'write_file');
  assert.deepEqual(JSON.parse(cell('arguments') ?? ''), event.arguments);
  assert.equal(cell('approvers'), 'U1 (alice) approve via slack at 1970-01-01T00:00:00.000Z');
});

test('CSV: a cell a spreadsheet would run as a formula is defused', () => {
  const row = parseCsvRow(csvRow(event));
  assert.equal(row[CSV_HEADER.split(',').indexOf('reason')], `'=HYPERLINK("http://evil")`);
});

const queries: [string, Record<string, unknown>, RegExp][] = [
  ['a date that is not one', { since: 'yesterdayish' }, /since: "yesterdayish" is not a date/],
  ['an unknown filter', { color: 'red' }, /unknown filter color/],
  ['a bad cursor', { cursor: 'abc' }, /cursor: a cursor is the id of an event/],
  ['a limit out of range', { limit: '5000' }, /limit/],
  ['an unknown decision', { decision: 'maybe' }, /decision: expected one of allowed/],
  ['since after until', { since: '2026-11-25', until: '2026-11-01' }, /since is after until/],
];
for (const [name, input, message] of queries) {
  test(`audit query refuses ${name}`, () =>
    assert.throws(
      () => parseAuditQuery(input),
      (err: Error & { code?: string }) => err.code === 'AIRLOCK_BAD_ARGUMENTS' && message.test(err.message),
    ));
}

test('audit query reads ISO dates and times ago', () => {
  const now = Date.parse('2026-11-25T12:00:00Z');
  assert.equal(parseAuditQuery({ since: '2h' }, () => now).since, now - 7_200_000);
  assert.equal(parseAuditQuery({ since: '2026-11-25' }).since, Date.parse('2026-11-25'));
  assert.equal(parseAuditQuery({ until: '2026-11-25T17:00:00Z' }).until, Date.parse('2026-11-25T17:00:00Z'));
  assert.equal(parseAuditQuery({}).limit, 100);
});

/** RFC 4180, enough for one row. */
function parseCsvRow(text: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted && ch === '"' && text[i + 1] === '"') {
      cell += '"';
      i++;
    } else if (ch === '"') {
      quoted = !quoted;
    } else if (ch === ',' && !quoted) {
      cells.push(cell);
      cell = '';
    } else {
      cell += ch;
    }
  }
  cells.push(cell);
  return cells;
}
