import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChainCheck, contentHash, EMPTY_HEAD, GENESIS, linkHash, type ChainHead } from '../../src/audit/chain.js';
import { checkpointMac } from '../../src/audit/checkpoint.js';
import { CheckpointCheck, endOfTrail, type CheckpointRules } from '../../src/audit/checkpoint-check.js';

const KEY = Buffer.from('unit-anchor-key-0123456789abcdefghijklmnop');
const RULES: CheckpointRules = { key: KEY, everyEvents: 5, everyMs: 60_000 };
const T0 = Date.parse('2026-12-01T10:00:00Z');
/** 1.5 × 60 s + 30 s: the most the newest checkpoint may be behind. */
const AGE_LIMIT = 120_000;

/** One event to build: a call, or a checkpoint (signed under `key`, or KEY) of event `covers`. */
type Spec =
  | { call: string; at?: number }
  | { covers: number; previous?: number; reached?: number; at?: number; key?: Buffer; hash?: string; mac?: string; bare?: boolean };

/** The events of `specs` chained from `start` (seq, prev and hash as the append script makes them), each checkpoint signing the hash its event has. */
function chain(specs: Spec[], start: ChainHead = EMPTY_HEAD): string[] {
  const hashes = new Map<number, string>();
  let { seq, hash: prev } = start;
  return specs.map((spec) => {
    seq += 1;
    const time = new Date(spec.at ?? T0 + seq * 1_000).toISOString();
    let event: Record<string, unknown>;
    if ('call' in spec) {
      event = { time, event: 'allowed', instance: 'a', tool: spec.call };
    } else {
      const fields = {
        seq: spec.covers,
        hash: spec.hash ?? hashes.get(spec.covers) ?? GENESIS,
        previous: spec.previous ?? 0,
        ...(spec.reached !== undefined && { reached: spec.reached }),
      };
      const checkpoint = { ...fields, mac: spec.mac ?? checkpointMac(spec.key ?? KEY, fields, time) };
      event = { time, event: 'audit_checkpoint', instance: 'a', ...(!spec.bare && { checkpoint }) };
    }
    const hash = linkHash(seq, prev, contentHash(event));
    const stored = { ...event, seq, prev, hash };
    hashes.set(seq, hash);
    prev = hash;
    return JSON.stringify(stored);
  });
}

/** What verify does with these events: the chain walked with the checkpoints observed, then the end judged. */
function check(lines: string[], options: { rules?: CheckpointRules; start?: ChainHead; asOf?: number; given?: boolean } = {}) {
  const start = options.start ?? EMPTY_HEAD;
  const checkpoints = new CheckpointCheck('rules' in options ? options.rules : RULES, start);
  const walk = new ChainCheck(start, (event) => checkpoints.observe(event));
  lines.forEach((raw, i) => walk.add({ where: `line ${i + 1}`, raw }));
  const report = walk.report();
  return endOfTrail(report, checkpoints, report.last ?? start.seq, { ms: options.asOf ?? T0 + 60_000, now: !options.given });
}

const calls = (n: number, from = 1): Spec[] => Array.from({ length: n }, (_, i) => ({ call: `t${from + i}` }));
/** A healthy trail: 5 calls, a checkpoint of the 5th, 5 calls, a checkpoint of the 11th (naming the first), 2 calls. */
const HEALTHY: Spec[] = [...calls(5), { covers: 5 }, ...calls(5, 6), { covers: 11, previous: 6 }, ...calls(2, 11)];

interface Case {
  name: string;
  specs: Spec[];
  options?: Parameters<typeof check>[1];
  /** The problem's message, or undefined for none. */
  problem?: RegExp;
  /** The problem's seq. */
  at?: number;
  unproven?: { first: number; last: number };
  count?: number;
}

const cases: Case[] = [
  {
    name: 'a healthy trail passes, the events after the newest checkpoint unproven',
    specs: HEALTHY,
    unproven: { first: 12, last: 14 },
    count: 2,
  },
  { name: 'an empty trail has nothing to prove', specs: [], count: 0 },
  {
    name: 'with no key nothing is checked or claimed',
    specs: [...calls(3), { covers: 3, mac: 'forged' }],
    options: { rules: undefined },
    count: 1,
  },
  {
    name: 'events and no checkpoint at all, with a key',
    specs: calls(4),
    problem:
      /^no checkpoint among events seq 1–4: none was signed \(no gateway with audit\.anchor_key has written since\), or they were removed$/,
    at: 1,
  },
  {
    name: 'a forged signature',
    specs: [...calls(5), { covers: 5, mac: '0'.repeat(64) }],
    problem: /^event seq 6 \(line 6, audit_checkpoint at .*\) is a checkpoint whose signature does not match: it was forged or changed/,
    at: 6,
  },
  { name: 'a signature that is not hex', specs: [...calls(5), { covers: 5, mac: 'zz' }], problem: /signature does not match/, at: 6 },
  {
    name: 'a signature under another key',
    specs: [...calls(5), { covers: 5, key: Buffer.from('x'.repeat(40)) }],
    problem: /or the gateways sign with another audit\.anchor_key$/,
    at: 6,
  },
  {
    name: 'a checkpoint event with no signature',
    specs: [...calls(5), { covers: 5, bare: true }],
    problem: /is a checkpoint without its signature: it was changed$/,
    at: 6,
  },
  {
    name: 'a checkpoint signing a hash its event does not have',
    specs: [...calls(5), { covers: 4, hash: 'f'.repeat(64) }],
    problem: /is a checkpoint of event seq 4, but that event's hash is not the one signed: event seq 4 or one before it was changed/,
    at: 6,
  },
  {
    name: 'a checkpoint of itself or later',
    specs: [...calls(5), { covers: 6, hash: 'a'.repeat(64) }],
    problem: /is a checkpoint of event seq 6, which is not before it: it was moved$/,
    at: 6,
  },
  {
    name: 'a checkpoint naming a previous one that is not one',
    specs: [...calls(5), { covers: 5, previous: 3 }],
    problem: /is a checkpoint naming event seq 3 as the checkpoint before it, but that is not a checkpoint: a checkpoint was removed/,
    at: 6,
  },
  {
    name: 'a checkpoint recording that the head went back',
    specs: [...calls(5), { covers: 5, reached: 9 }],
    problem:
      /is a checkpoint recording that the trail had reached seq 9 before its head was set back \(signed by a\): events up to seq 9 were cut from its end, or Redis lost them$/,
    at: 6,
  },
  {
    name: 'retention trimmed what a checkpoint signs and the one it names: not checked, not failed',
    specs: [...calls(2, 50), { covers: 40, previous: 30, hash: 'c'.repeat(64) }, ...calls(1, 60)],
    options: { start: { seq: 45, hash: 'b'.repeat(64) } },
    unproven: { first: 41, last: 49 },
    count: 1,
  },
  {
    name: 'more events after the newest checkpoint than its interval allows (5 + 1024)',
    specs: [{ call: 'a' }, { covers: 1 }, ...calls(1_030)],
    problem:
      /^1031 events \(seq 2–1032\) are not covered by a checkpoint \(the newest, event seq 2 signed at .*, covers seq 1\), more than audit\.checkpoint\.events \(5\) \+ 1024: checkpoints stopped being written/,
    at: 2,
  },
  {
    name: 'exactly as many events after it as allowed',
    specs: [{ call: 'a' }, { covers: 1 }, ...calls(1_028)],
    unproven: { first: 2, last: 1030 },
    count: 1,
  },
  {
    name: 'the newest checkpoint older than 1.5 intervals + 30 s, now',
    specs: [...calls(5), { covers: 5, at: T0 }],
    options: { asOf: T0 + AGE_LIMIT + 1 },
    problem:
      /^the newest checkpoint \(event seq 6, covering events through seq 5\) was signed at 2026-12-01T10:00:00\.000Z, 2 min before now, but gateways sign one every 1 minute: events after it were cut from the end of the trail \(and the head reset\), or no gateway has run since\. If every gateway has been stopped since 2026-12-01T10:00:00\.000Z, verify as of then: --as-of 2026-12-01T10:00:00\.000Z$/,
    at: 6,
  },
  {
    name: 'the newest checkpoint exactly as old as allowed',
    specs: [...calls(5), { covers: 5, at: T0 }],
    options: { asOf: T0 + AGE_LIMIT },
    unproven: { first: 6, last: 6 },
    count: 1,
  },
  {
    name: 'as of a given time, the message names it',
    specs: [...calls(5), { covers: 5, at: T0 }],
    options: { asOf: T0 + 3 * 3_600_000, given: true },
    problem: /signed at 2026-12-01T10:00:00\.000Z, 3 h before 2026-12-01T13:00:00\.000Z,/,
  },
  {
    name: 'a late checkpoint of an earlier event does not make the window larger',
    specs: [...calls(5), { covers: 5 }, ...calls(3, 6), { covers: 9, previous: 6 }, { covers: 7, previous: 6 }, ...calls(1, 9)],
    unproven: { first: 10, last: 12 },
    count: 3,
  },
];

for (const c of cases) {
  test(`checkpoints: ${c.name}`, () => {
    const report = check(chain(c.specs, c.options?.start), c.options);
    if (c.problem) {
      assert.match(report.problem?.message ?? '', c.problem, JSON.stringify(report.problem));
      if (c.at !== undefined) assert.equal(report.problem?.seq, c.at);
      return;
    }
    assert.equal(report.problem, undefined, JSON.stringify(report.problem));
    assert.deepEqual(report.checkpoints.unproven, c.unproven);
    if (c.count !== undefined) assert.equal(report.checkpoints.count, c.count);
    assert.equal(report.checkpoints.checked, c.options && 'rules' in c.options ? c.options.rules !== undefined : true);
  });
}

test('checkpoints: a broken chain is reported as such, and the end is not judged', () => {
  const lines = chain([...calls(5), { covers: 5 }, ...calls(3, 6)]);
  const report = check([...lines.slice(0, 3), ...lines.slice(4)]);
  assert.match(report.problem?.message ?? '', /event seq 5 .* follows seq 3: event seq 4 was removed or moved/);
  assert.equal(report.checkpoints.unproven, undefined);
});
