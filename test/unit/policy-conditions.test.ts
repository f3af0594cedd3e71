import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluate, type Decision } from '../../src/policy/index.js';
import { planRegex } from '../../src/policy/safe-regex.js';
import { policyFrom } from '../support/policy.js';

/**
 * Each condition is put in `deny_if`, `approve_if` and `require` of one tool,
 * and the three decisions together show what the condition saw:
 *
 * | verdict  | deny_if | approve_if       | require |
 * | holds    | deny    | require_approval | allow   |
 * | fails    | allow   | allow            | deny    |
 * | missing  | allow   | allow            | deny, reason "is missing"  |
 * | mismatch | deny    | require_approval | deny, reason "cannot compare" |
 *
 * A wrong type is the restrictive outcome in every list, so a type trick
 * (a string where a number is expected) cannot slip past a rule.
 */
type ConditionVerdict = 'holds' | 'fails' | 'missing' | 'mismatch';

interface Case {
  name: string;
  condition: { path: string; op: string; value?: unknown };
  args?: Record<string, unknown>;
  grant?: string;
  verdict: ConditionVerdict;
  /** What the reason says on a mismatch, when not "cannot compare". */
  says?: string;
  /** The pattern must run on the linear-time engine: on the backtracking one, this crafted input would never finish. */
  linear?: true;
}

const cases: Case[] = [
  // eq
  { name: 'eq holds for an equal number', condition: { path: 'args.amount', op: 'eq', value: 5 }, args: { amount: 5 }, verdict: 'holds' },
  { name: 'eq fails for another number', condition: { path: 'args.amount', op: 'eq', value: 5 }, args: { amount: 6 }, verdict: 'fails' },
  {
    name: 'eq on a missing path is missing',
    condition: { path: 'args.amount', op: 'eq', value: 5 },
    args: { other: 5 },
    verdict: 'missing',
  },
  {
    name: 'eq does not coerce: "5" for 5 is a type mismatch',
    condition: { path: 'args.amount', op: 'eq', value: 5 },
    args: { amount: '5' },
    verdict: 'mismatch',
  },
  {
    name: 'eq holds for an equal string',
    condition: { path: 'args.env', op: 'eq', value: 'prod' },
    args: { env: 'prod' },
    verdict: 'holds',
  },
  {
    name: 'eq is case-sensitive on strings',
    condition: { path: 'args.env', op: 'eq', value: 'prod' },
    args: { env: 'PROD' },
    verdict: 'fails',
  },
  {
    name: 'eq compares objects deeply, whatever the key order',
    condition: { path: 'args.addr', op: 'eq', value: { city: 'Oslo', zip: '0150' } },
    args: { addr: { zip: '0150', city: 'Oslo' } },
    verdict: 'holds',
  },
  {
    name: 'eq fails when a nested object field differs',
    condition: { path: 'args.addr', op: 'eq', value: { geo: { lat: 1 } } },
    args: { addr: { geo: { lat: 2 } } },
    verdict: 'fails',
  },
  {
    name: 'eq fails when the object has an extra field',
    condition: { path: 'args.addr', op: 'eq', value: { city: 'Oslo' } },
    args: { addr: { city: 'Oslo', zip: '0150' } },
    verdict: 'fails',
  },
  { name: 'eq compares arrays deeply', condition: { path: 'args.ids', op: 'eq', value: [1, 2] }, args: { ids: [1, 2] }, verdict: 'holds' },
  {
    name: 'eq on arrays respects order',
    condition: { path: 'args.ids', op: 'eq', value: [1, 2] },
    args: { ids: [2, 1] },
    verdict: 'fails',
  },
  {
    name: 'eq null holds for a null value',
    condition: { path: 'args.note', op: 'eq', value: null },
    args: { note: null },
    verdict: 'holds',
  },
  { name: 'eq true fails for false', condition: { path: 'args.force', op: 'eq', value: true }, args: { force: false }, verdict: 'fails' },

  // neq
  {
    name: 'neq holds for another value',
    condition: { path: 'args.env', op: 'neq', value: 'prod' },
    args: { env: 'dev' },
    verdict: 'holds',
  },
  {
    name: 'neq fails for the same value',
    condition: { path: 'args.env', op: 'neq', value: 'prod' },
    args: { env: 'prod' },
    verdict: 'fails',
  },
  {
    name: 'neq on a missing path is missing, not "different"',
    condition: { path: 'args.env', op: 'neq', value: 'prod' },
    args: {},
    verdict: 'missing',
  },
  {
    name: 'neq across types is a mismatch, not "different": 5 for "5"',
    condition: { path: 'args.n', op: 'neq', value: '5' },
    args: { n: 5 },
    verdict: 'mismatch',
  },
  {
    name: 'neq fails for a deeply equal object',
    condition: { path: 'args.o', op: 'neq', value: { a: [1] } },
    args: { o: { a: [1] } },
    verdict: 'fails',
  },

  // gt
  {
    name: 'gt holds above the bound',
    condition: { path: 'args.amount', op: 'gt', value: 10000 },
    args: { amount: 20000 },
    verdict: 'holds',
  },
  { name: 'gt fails at the bound', condition: { path: 'args.amount', op: 'gt', value: 10000 }, args: { amount: 10000 }, verdict: 'fails' },
  { name: 'gt on a missing path is missing', condition: { path: 'args.amount', op: 'gt', value: 10000 }, args: {}, verdict: 'missing' },
  {
    name: 'gt on a numeric string is a mismatch',
    condition: { path: 'args.amount', op: 'gt', value: 10000 },
    args: { amount: '20000' },
    verdict: 'mismatch',
  },
  {
    name: 'gt on null is a mismatch',
    condition: { path: 'args.amount', op: 'gt', value: 10000 },
    args: { amount: null },
    verdict: 'mismatch',
  },
  {
    name: 'gt on a boolean is a mismatch',
    condition: { path: 'args.amount', op: 'gt', value: 0 },
    args: { amount: true },
    verdict: 'mismatch',
  },
  {
    name: 'gt compares negative and fractional numbers',
    condition: { path: 'args.t', op: 'gt', value: -1 },
    args: { t: -0.5 },
    verdict: 'holds',
  },

  // gte
  { name: 'gte holds at the bound', condition: { path: 'args.amount', op: 'gte', value: 100 }, args: { amount: 100 }, verdict: 'holds' },
  {
    name: 'gte fails below the bound',
    condition: { path: 'args.amount', op: 'gte', value: 100 },
    args: { amount: 99.99 },
    verdict: 'fails',
  },
  { name: 'gte on a missing path is missing', condition: { path: 'args.amount', op: 'gte', value: 100 }, args: {}, verdict: 'missing' },
  {
    name: 'gte on a string is a mismatch',
    condition: { path: 'args.amount', op: 'gte', value: 100 },
    args: { amount: '100' },
    verdict: 'mismatch',
  },

  // lt
  { name: 'lt holds below the bound', condition: { path: 'args.count', op: 'lt', value: 10 }, args: { count: 5 }, verdict: 'holds' },
  { name: 'lt fails at the bound', condition: { path: 'args.count', op: 'lt', value: 10 }, args: { count: 10 }, verdict: 'fails' },
  { name: 'lt on a missing path is missing', condition: { path: 'args.count', op: 'lt', value: 10 }, args: {}, verdict: 'missing' },
  { name: 'lt on a list is a mismatch', condition: { path: 'args.count', op: 'lt', value: 10 }, args: { count: [1] }, verdict: 'mismatch' },

  // lte
  { name: 'lte holds at the bound', condition: { path: 'args.count', op: 'lte', value: 10 }, args: { count: 10 }, verdict: 'holds' },
  { name: 'lte fails above the bound', condition: { path: 'args.count', op: 'lte', value: 10 }, args: { count: 11 }, verdict: 'fails' },
  { name: 'lte on a missing path is missing', condition: { path: 'args.count', op: 'lte', value: 10 }, args: {}, verdict: 'missing' },
  {
    name: 'lte on an object is a mismatch',
    condition: { path: 'args.count', op: 'lte', value: 10 },
    args: { count: { n: 1 } },
    verdict: 'mismatch',
  },

  // in
  {
    name: 'in holds for a listed string',
    condition: { path: 'args.currency', op: 'in', value: ['usd', 'eur'] },
    args: { currency: 'eur' },
    verdict: 'holds',
  },
  {
    name: 'in fails for an unlisted string',
    condition: { path: 'args.currency', op: 'in', value: ['usd', 'eur'] },
    args: { currency: 'gbp' },
    verdict: 'fails',
  },
  {
    name: 'in on a missing path is missing',
    condition: { path: 'args.currency', op: 'in', value: ['usd', 'eur'] },
    args: {},
    verdict: 'missing',
  },
  {
    name: 'in does not coerce: 1 for ["1", "2"] is a type mismatch',
    condition: { path: 'args.n', op: 'in', value: ['1', '2'] },
    args: { n: 1 },
    verdict: 'mismatch',
  },
  {
    name: 'in finds a deeply equal object in the list',
    condition: { path: 'args.o', op: 'in', value: [{ a: 1 }, { b: { c: 2 } }] },
    args: { o: { b: { c: 2 } } },
    verdict: 'holds',
  },
  {
    name: 'in finds a deeply equal array in the list',
    condition: {
      path: 'args.pair',
      op: 'in',
      value: [
        [1, 2],
        [3, 4],
      ],
    },
    args: { pair: [3, 4] },
    verdict: 'holds',
  },
  {
    name: 'in with an empty list never holds',
    condition: { path: 'args.currency', op: 'in', value: [] },
    args: { currency: 'usd' },
    verdict: 'fails',
  },

  // not_in
  {
    name: 'not_in holds for an unlisted value',
    condition: { path: 'args.currency', op: 'not_in', value: ['usd', 'eur'] },
    args: { currency: 'gbp' },
    verdict: 'holds',
  },
  {
    name: 'not_in fails for a listed value',
    condition: { path: 'args.currency', op: 'not_in', value: ['usd', 'eur'] },
    args: { currency: 'usd' },
    verdict: 'fails',
  },
  {
    name: 'not_in on a missing path is missing, not "not listed"',
    condition: { path: 'args.currency', op: 'not_in', value: ['usd'] },
    args: {},
    verdict: 'missing',
  },
  {
    name: 'not_in across types is a mismatch, not "not listed": "1" for [1]',
    condition: { path: 'args.n', op: 'not_in', value: [1] },
    args: { n: '1' },
    verdict: 'mismatch',
  },
  {
    name: 'not_in fails for a deeply equal object',
    condition: { path: 'args.o', op: 'not_in', value: [{ a: 1 }] },
    args: { o: { a: 1 } },
    verdict: 'fails',
  },

  // contains
  {
    name: 'contains holds for a substring',
    condition: { path: 'args.sql', op: 'contains', value: 'DROP' },
    args: { sql: 'DROP TABLE users' },
    verdict: 'holds',
  },
  {
    name: 'contains fails without the substring',
    condition: { path: 'args.sql', op: 'contains', value: 'DROP' },
    args: { sql: 'SELECT 1' },
    verdict: 'fails',
  },
  {
    name: 'contains on strings is case-sensitive',
    condition: { path: 'args.sql', op: 'contains', value: 'DROP' },
    args: { sql: 'drop table users' },
    verdict: 'fails',
  },
  {
    name: 'contains holds for a list item',
    condition: { path: 'args.tags', op: 'contains', value: 'pii' },
    args: { tags: ['public', 'pii'] },
    verdict: 'holds',
  },
  {
    name: 'contains fails when no list item equals the value',
    condition: { path: 'args.tags', op: 'contains', value: 'pii' },
    args: { tags: ['public', 'piiz'] },
    verdict: 'fails',
  },
  {
    name: 'contains on a list compares items deeply',
    condition: { path: 'args.rows', op: 'contains', value: { id: 1 } },
    args: { rows: [{ id: 2 }, { id: 1 }] },
    verdict: 'holds',
  },
  {
    name: 'contains on a list does not coerce: ["1"] for 1 is a type mismatch',
    condition: { path: 'args.ids', op: 'contains', value: 1 },
    args: { ids: ['1'] },
    verdict: 'mismatch',
  },
  {
    name: 'contains on a missing path is missing',
    condition: { path: 'args.sql', op: 'contains', value: 'DROP' },
    args: {},
    verdict: 'missing',
  },
  {
    name: 'contains on a number is a mismatch',
    condition: { path: 'args.sql', op: 'contains', value: '1' },
    args: { sql: 123 },
    verdict: 'mismatch',
  },
  {
    name: 'contains on an object is a mismatch',
    condition: { path: 'args.sql', op: 'contains', value: 'DROP' },
    args: { sql: { DROP: true } },
    verdict: 'mismatch',
  },
  {
    name: 'contains a number in a string is a mismatch',
    condition: { path: 'args.sql', op: 'contains', value: 1 },
    args: { sql: 'a1' },
    verdict: 'mismatch',
  },

  // starts_with
  {
    name: 'starts_with holds for a prefix',
    condition: { path: 'args.path', op: 'starts_with', value: '/etc/' },
    args: { path: '/etc/passwd' },
    verdict: 'holds',
  },
  {
    name: 'starts_with fails for another prefix',
    condition: { path: 'args.path', op: 'starts_with', value: '/etc/' },
    args: { path: '/home/etc/x' },
    verdict: 'fails',
  },
  {
    name: 'starts_with on a missing path is missing',
    condition: { path: 'args.path', op: 'starts_with', value: '/etc/' },
    args: {},
    verdict: 'missing',
  },
  {
    name: 'starts_with on a number is a mismatch',
    condition: { path: 'args.path', op: 'starts_with', value: '1' },
    args: { path: 12 },
    verdict: 'mismatch',
  },
  {
    name: 'starts_with on a list is a mismatch',
    condition: { path: 'args.path', op: 'starts_with', value: '/etc/' },
    args: { path: ['/etc/passwd'] },
    verdict: 'mismatch',
  },

  // ends_with
  {
    name: 'ends_with holds for a suffix',
    condition: { path: 'args.file', op: 'ends_with', value: '.pem' },
    args: { file: 'id_rsa.pem' },
    verdict: 'holds',
  },
  {
    name: 'ends_with fails for another suffix',
    condition: { path: 'args.file', op: 'ends_with', value: '.pem' },
    args: { file: 'id_rsa.pem.txt' },
    verdict: 'fails',
  },
  {
    name: 'ends_with on a missing path is missing',
    condition: { path: 'args.file', op: 'ends_with', value: '.pem' },
    args: {},
    verdict: 'missing',
  },
  {
    name: 'ends_with on a boolean is a mismatch',
    condition: { path: 'args.file', op: 'ends_with', value: 'e' },
    args: { file: true },
    verdict: 'mismatch',
  },

  // regex
  {
    name: 'regex holds for a matching string',
    condition: { path: 'args.branch', op: 'regex', value: '^release/\\d+\\.\\d+$' },
    args: { branch: 'release/1.2' },
    verdict: 'holds',
  },
  {
    name: 'regex fails for a non-matching string',
    condition: { path: 'args.branch', op: 'regex', value: '^release/\\d+\\.\\d+$' },
    args: { branch: 'release/1.x' },
    verdict: 'fails',
  },
  {
    name: 'regex finds an unanchored pattern anywhere in the string',
    condition: { path: 'args.sql', op: 'regex', value: 'DROP|TRUNCATE' },
    args: { sql: 'please TRUNCATE x' },
    verdict: 'holds',
  },
  {
    name: 'regex anchored only at the start matches a longer string',
    condition: { path: 'args.sql', op: 'regex', value: '^drop\\s+table' },
    args: { sql: 'drop  table x' },
    verdict: 'holds',
  },
  { name: 'regex is case-sensitive', condition: { path: 'args.sql', op: 'regex', value: 'drop' }, args: { sql: 'DROP' }, verdict: 'fails' },
  {
    name: 'regex on a missing path is missing',
    condition: { path: 'args.branch', op: 'regex', value: '^main$' },
    args: {},
    verdict: 'missing',
  },
  {
    name: 'regex on a number is a mismatch',
    condition: { path: 'args.branch', op: 'regex', value: '^\\d+$' },
    args: { branch: 42 },
    verdict: 'mismatch',
  },
  {
    name: 'a nested-repetition regex (a+)+$ still matches',
    condition: { path: 'args.s', op: 'regex', value: '(a+)+$' },
    args: { s: 'baaa' },
    verdict: 'holds',
  },
  {
    name: 'a nested-repetition regex (a+)+$ answers crafted input in linear time',
    condition: { path: 'args.s', op: 'regex', value: '(a+)+$' },
    args: { s: `${'a'.repeat(30_000)}!` },
    verdict: 'fails',
    linear: true,
  },
  {
    name: 'an overlapping-repetition regex ^(\\w+\\s?)*$ answers crafted input in linear time',
    condition: { path: 'args.s', op: 'regex', value: '^(\\w+\\s?)*$' },
    args: { s: `${'word '.repeat(6_000)}!` },
    verdict: 'fails',
    linear: true,
  },
  {
    name: 'an unanchored regex with repetition works (drop\\s+table)',
    condition: { path: 'args.sql', op: 'regex', value: 'drop\\s+table' },
    args: { sql: 'please drop   table x' },
    verdict: 'holds',
  },
  {
    name: 'a regex not proved safe reads at most 65536 characters: longer text is a mismatch',
    condition: { path: 'args.s', op: 'regex', value: '(a+)+$' },
    args: { s: 'a'.repeat(65_537) },
    verdict: 'mismatch',
    says: 'is 65537 characters long, more than the 65536 this regex condition reads',
  },
  {
    name: 'a regex not proved safe reads text of exactly 65536 characters',
    condition: { path: 'args.s', op: 'regex', value: '(a+)+$' },
    args: { s: 'a'.repeat(65_536) },
    verdict: 'holds',
  },
  {
    name: 'a regex proved safe reads text of any length',
    condition: { path: 'args.s', op: 'regex', value: '^a+$' },
    args: { s: 'a'.repeat(100_000) },
    verdict: 'holds',
  },

  // exists / not_exists
  {
    name: 'exists holds for a present value',
    condition: { path: 'args.reason', op: 'exists' },
    args: { reason: 'duplicate charge' },
    verdict: 'holds',
  },
  { name: 'exists fails for an absent key', condition: { path: 'args.reason', op: 'exists' }, args: {}, verdict: 'fails' },
  { name: 'exists treats null as absent', condition: { path: 'args.reason', op: 'exists' }, args: { reason: null }, verdict: 'fails' },
  { name: 'exists holds for an empty string', condition: { path: 'args.reason', op: 'exists' }, args: { reason: '' }, verdict: 'holds' },
  {
    name: 'exists holds for 0 and false alike',
    condition: { path: 'args.flags[1]', op: 'exists' },
    args: { flags: [0, false] },
    verdict: 'holds',
  },
  {
    name: 'exists looks at own fields only, not inherited ones',
    condition: { path: 'args.constructor', op: 'exists' },
    args: {},
    verdict: 'fails',
  },
  { name: 'not_exists holds for an absent key', condition: { path: 'args.override', op: 'not_exists' }, args: {}, verdict: 'holds' },
  {
    name: 'not_exists fails for a present value',
    condition: { path: 'args.override', op: 'not_exists' },
    args: { override: false },
    verdict: 'fails',
  },
  {
    name: 'not_exists treats null as absent',
    condition: { path: 'args.override', op: 'not_exists' },
    args: { override: null },
    verdict: 'holds',
  },
  {
    name: 'not_exists holds when a parent on the path is missing',
    condition: { path: 'args.a.b.c', op: 'not_exists' },
    args: { a: {} },
    verdict: 'holds',
  },

  // paths
  {
    name: 'a nested and indexed path args.a.b[0] reads into lists',
    condition: { path: 'args.a.b[0]', op: 'eq', value: 7 },
    args: { a: { b: [7, 8] } },
    verdict: 'holds',
  },
  {
    name: 'args.a.b[1] reads the second item',
    condition: { path: 'args.a.b[1]', op: 'eq', value: 7 },
    args: { a: { b: [7, 8] } },
    verdict: 'fails',
  },
  {
    name: 'an index past the end of a list is missing',
    condition: { path: 'args.a.b[2]', op: 'eq', value: 7 },
    args: { a: { b: [7, 8] } },
    verdict: 'missing',
  },
  {
    name: 'args.items.0.price reads a list item like [0]',
    condition: { path: 'args.items.0.price', op: 'gt', value: 100 },
    args: { items: [{ price: 150 }] },
    verdict: 'holds',
  },
  {
    name: 'args.items[0].price reads the same item',
    condition: { path: 'args.items[0].price', op: 'gt', value: 100 },
    args: { items: [{ price: 50 }] },
    verdict: 'fails',
  },
  {
    name: 'args.items.1.price past the end is missing',
    condition: { path: 'args.items.1.price', op: 'gt', value: 100 },
    args: { items: [{ price: 150 }] },
    verdict: 'missing',
  },
  {
    name: 'a quoted key with dots reads one field',
    condition: { path: 'args["k.with.dots"]', op: 'eq', value: 1 },
    args: { 'k.with.dots': 1 },
    verdict: 'holds',
  },
  {
    name: 'a quoted key with dots does not read nested fields',
    condition: { path: 'args["k.with.dots"]', op: 'eq', value: 1 },
    args: { k: { with: { dots: 1 } } },
    verdict: 'missing',
  },
  {
    name: 'a dotted path reads nested fields',
    condition: { path: 'args.k.with.dots', op: 'eq', value: 1 },
    args: { k: { with: { dots: 1 } } },
    verdict: 'holds',
  },
  {
    name: 'a quoted key with spaces and quotes',
    condition: { path: 'args["say \\"hi\\" now"]', op: 'eq', value: 'x' },
    args: { 'say "hi" now': 'x' },
    verdict: 'holds',
  },
  {
    name: 'a path through a string is missing',
    condition: { path: 'args.name.length', op: 'eq', value: 4 },
    args: { name: 'four' },
    verdict: 'missing',
  },
  { name: 'a path through null is missing', condition: { path: 'args.a.b', op: 'eq', value: 1 }, args: { a: null }, verdict: 'missing' },
  {
    name: 'an index into an object is missing',
    condition: { path: 'args.a[0]', op: 'eq', value: 1 },
    args: { a: { x: 1 } },
    verdict: 'missing',
  },
  {
    name: 'a deep path reads a value several levels down',
    condition: { path: 'args.order.lines[1].sku', op: 'starts_with', value: 'GIFT-' },
    args: { order: { lines: [{ sku: 'A' }, { sku: 'GIFT-9' }] } },
    verdict: 'holds',
  },

  // grant
  {
    name: 'grant eq holds for the calling grant',
    condition: { path: 'grant', op: 'eq', value: 'ci-bot' },
    args: {},
    grant: 'ci-bot',
    verdict: 'holds',
  },
  {
    name: 'grant eq fails for another grant',
    condition: { path: 'grant', op: 'eq', value: 'ci-bot' },
    args: {},
    grant: 'alice',
    verdict: 'fails',
  },
  {
    name: 'grant is missing when the call has no grant',
    condition: { path: 'grant', op: 'eq', value: 'ci-bot' },
    args: { grant: 'ci-bot' },
    verdict: 'missing',
  },
  { name: 'grant in a list', condition: { path: 'grant', op: 'in', value: ['ops', 'ci-bot'] }, args: {}, grant: 'ops', verdict: 'holds' },
  {
    name: 'grant starts_with',
    condition: { path: 'grant', op: 'starts_with', value: 'ci-' },
    args: {},
    grant: 'ci-nightly',
    verdict: 'holds',
  },
  { name: 'grant not_exists holds for an anonymous call', condition: { path: 'grant', op: 'not_exists' }, args: {}, verdict: 'holds' },
];

const EXPECTED: Record<ConditionVerdict, { deny_if: Decision['action']; approve_if: Decision['action']; require: Decision['action'] }> = {
  holds: { deny_if: 'deny', approve_if: 'require_approval', require: 'allow' },
  fails: { deny_if: 'allow', approve_if: 'allow', require: 'deny' },
  missing: { deny_if: 'allow', approve_if: 'allow', require: 'deny' },
  mismatch: { deny_if: 'deny', approve_if: 'require_approval', require: 'deny' },
};

for (const c of cases) {
  test(c.name, () => {
    const lists = ['deny_if', 'approve_if', 'require'] as const;
    const policies = lists.map((list) => policyFrom({ version: '1', default: 'deny', tools: { t: { [list]: [c.condition] } } }));
    // Checked before evaluating, which would otherwise hang the test; how long it takes is bench:policy's figure.
    if (c.linear) assert.equal(planRegex(String(c.condition.value), '').engine, 'linear');
    const outcomes = lists.map((list, i) => ({ list, decision: evaluate(policies[i]!, { tool: 't', args: c.args, grant: c.grant }) }));
    for (const { list, decision } of outcomes) {
      const fired = decision.action !== 'allow';
      assert.equal(decision.action, EXPECTED[c.verdict][list], `${list}: ${decision.reason}`);
      assert.equal(decision.rule, fired ? `tools.t.${list}[0]` : 'tools.t', `${list}: rule`);
    }
    const required = outcomes[2]?.decision;
    assert.ok(required);
    if (c.verdict === 'missing') assert.match(required.reason, new RegExp(`^required: ${escape(c.condition.path)} is missing`));
    else assert.doesNotMatch(required.reason, /is missing/);
    if (c.verdict === 'mismatch')
      assert.ok(required.reason.includes(c.says ?? `which ${c.condition.op} cannot compare with`), required.reason);
    else assert.doesNotMatch(required.reason, /cannot compare|characters long/);
  });
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
