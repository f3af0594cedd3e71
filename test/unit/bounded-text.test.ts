import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuditInput, AuditRecorder } from '../../src/audit/index.js';
import { capText } from '../../src/cap-text.js';
import { capLogFields } from '../../src/logging.js';
import { SampledRefusals } from '../../src/proxy/index.js';

const cases: { name: string; text: string; max: number; expect: string }[] = [
  { name: 'short text is unchanged', text: 'write_file', max: 256, expect: 'write_file' },
  { name: 'text of exactly max is unchanged', text: 'abcd', max: 4, expect: 'abcd' },
  { name: 'long text is cut with the count of what is missing', text: 'abcdefgh', max: 3, expect: 'abc…[5 more characters]' },
  { name: 'a surrogate pair is never split', text: 'ab😀cd', max: 3, expect: 'ab…[4 more characters]' },
];
for (const c of cases) test(`capText: ${c.name}`, () => assert.equal(capText(c.text, c.max), c.expect));

test('capLogFields cuts long strings (and long strings in lists) and returns the same object when nothing is long', () => {
  const short = { tool: 'echo', n: 1 };
  assert.equal(capLogFields(short), short);
  const long = capLogFields({ tool: 'x'.repeat(5_000), servers: ['a', 'y'.repeat(3_000)], n: 2 });
  assert.match(String(long.tool), /^x{2000}…\[3000 more characters\]$/);
  assert.deepEqual(
    (long.servers as string[]).map((s) => s.length),
    [1, 2000 + '…[1000 more characters]'.length],
  );
  assert.equal(long.n, 2);
});

function recorder(): AuditRecorder & { events: AuditInput[] } {
  const events: AuditInput[] = [];
  return { events, record: (input) => void events.push(input), commit: async (input) => void events.push(input) };
}

test('SampledRefusals: the first of each kind (grant, event, server, rule) is recorded in full; the rest become one summary per kind at flush', () => {
  const audit = recorder();
  const refusals = new SampledRefusals(audit, { now: () => 1_000, windowMs: 60_000 });
  const denied = (grant: string, rule: string, tool: string) =>
    refusals.record({ event: 'denied', grant, server: 'fx', rule, tool, decision: 'deny', reason: 'no' });
  assert.equal(denied('ci', 'tools.pid', 'pid'), true);
  assert.equal(denied('ci', 'tools.pid', 'pid'), false);
  assert.equal(denied('ci', 'default', 'a'), true, 'another rule is another kind');
  assert.equal(denied('dev', 'tools.pid', 'pid'), true, 'another grant is another kind');
  for (const tool of ['b', 'c', 'd', 'e', 'f', 'g', 'h']) denied('ci', 'default', tool);
  assert.deepEqual(
    audit.events.map((e) => [e.grant, e.rule]),
    [
      ['ci', 'tools.pid'],
      ['ci', 'default'],
      ['dev', 'tools.pid'],
    ],
  );
  refusals.flush();
  const summaries = audit.events.slice(3);
  assert.deepEqual(
    summaries.map((e) => [e.event, e.grant, e.rule, e.detail]),
    [
      ['denied', 'ci', 'tools.pid', 'tools: pid'],
      ['denied', 'ci', 'default', 'tools: b, c, d, e, f, …'],
    ],
  );
  assert.match(
    summaries[1]!.reason ?? '',
    /^7 more calls denied the same way \(grant ci, rule default\) from 1970-01-01T00:00:01\.000Z to 1970-01-01T00:00:01\.000Z/,
  );
});

test('SampledRefusals: a new window audits the first of a kind in full again, after summarizing the last', () => {
  let now = 0;
  const audit = recorder();
  const refusals = new SampledRefusals(audit, { now: () => now, windowMs: 60_000 });
  const limited = () => refusals.record({ event: 'rate_limited', grant: 'ci', server: 'fx', rule: 'tools.x.limits[0]', tool: 'x' });
  limited();
  limited();
  now = 61_000;
  assert.equal(limited(), true);
  assert.deepEqual(
    audit.events.map((e) => e.reason?.slice(0, 12) ?? 'full'),
    ['full', '1 more call ', 'full'],
  );
});

test('SampledRefusals with a window of 0 (audit.sample_refusals: false) audits every refusal in full', () => {
  const audit = recorder();
  const refusals = new SampledRefusals(audit, { windowMs: 0 });
  for (let i = 0; i < 3; i++)
    assert.equal(refusals.record({ event: 'denied', grant: 'ci', server: 'fx', rule: 'default', tool: 'x' }), true);
  refusals.flush();
  assert.equal(audit.events.length, 3);
});
