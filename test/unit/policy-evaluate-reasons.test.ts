import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkDecision, decide, type DecisionCase, V1 } from '../support/policy.js';

const textCases: DecisionCase[] = [
  {
    name: 'a deny_if reason says what the value was and what the rule wanted',
    policy: { ...V1, default: 'deny', tools: { create_refund: { deny_if: [{ path: 'args.amount', op: 'gt', value: 10000 }] } } },
    call: { tool: 'create_refund', args: { amount: 20000 } },
    expect: { action: 'deny', reasonIs: 'args.amount is 20000, which is greater than 10000' },
  },
  {
    name: "a rule's reason is shown on deny, followed by the detail",
    policy: {
      ...V1,
      default: 'deny',
      tools: { create_refund: { reason: 'Large refunds go through finance', deny_if: [{ path: 'args.amount', op: 'gt', value: 10000 }] } },
    },
    call: { tool: 'create_refund', args: { amount: 20000 } },
    expect: { action: 'deny', reasonIs: 'Large refunds go through finance (args.amount is 20000, which is greater than 10000)' },
  },
  {
    name: "a rule's reason is shown on an action deny",
    policy: { ...V1, default: 'allow', tools: { 'delete_*': { action: 'deny', reason: 'Agents may not delete' } } },
    call: { tool: 'delete_records' },
    expect: { action: 'deny', reasonIs: 'Agents may not delete' },
  },
  {
    name: "a rule's reason is shown on an action require_approval",
    policy: { ...V1, default: 'deny', tools: { export: { action: 'require_approval', reason: 'Starts a bulk export of imaging data' } } },
    call: { tool: 'export' },
    expect: { action: 'require_approval', reasonIs: 'Starts a bulk export of imaging data' },
  },
  {
    name: "a rule's reason is shown when approve_if fires, with the detail",
    policy: {
      ...V1,
      default: 'deny',
      tools: {
        pay: { reason: 'Payments over 100 need a second pair of eyes', approve_if: [{ path: 'args.amount', op: 'gte', value: 100 }] },
      },
    },
    call: { tool: 'pay', args: { amount: 100 } },
    expect: {
      action: 'require_approval',
      reasonIs: 'Payments over 100 need a second pair of eyes (args.amount is 100, which is at least 100)',
    },
  },
  {
    name: "a rule's reason is shown when require fails",
    policy: {
      ...V1,
      default: 'deny',
      tools: { refund: { reason: 'Refunds need a reason', require: [{ path: 'args.reason', op: 'exists' }] } },
    },
    call: { tool: 'refund', args: {} },
    expect: { action: 'deny', reasonIs: 'Refunds need a reason (required: args.reason is not present)' },
  },
  {
    name: "a rule's reason is shown when the schema fails",
    policy: {
      ...V1,
      default: 'deny',
      tools: { refund: { reason: 'Refunds in usd only', schema: { type: 'object', properties: { currency: { const: 'usd' } } } } },
    },
    call: { tool: 'refund', args: { currency: 'eur' } },
    expect: {
      action: 'deny',
      reason: ['Refunds in usd only (arguments do not match the schema: args.currency must be equal to constant)'],
    },
  },
  {
    name: 'a type mismatch says what type it saw',
    policy: { ...V1, default: 'deny', tools: { pay: { deny_if: [{ path: 'args.amount', op: 'gt', value: 10000 }] } } },
    call: { tool: 'pay', args: { amount: '20000' } },
    expect: {
      action: 'deny',
      rule: 'tools.pay.deny_if[0]',
      reasonIs: 'args.amount is a string "20000", which gt cannot compare with 10000 (the rule compares numbers)',
    },
  },
  {
    name: 'an approval on a type mismatch says so',
    policy: { ...V1, default: 'deny', tools: { pay: { approve_if: [{ path: 'args.to', op: 'ends_with', value: '@corp.com' }] } } },
    call: { tool: 'pay', args: { to: ['a@corp.com'] } },
    expect: {
      action: 'require_approval',
      reasonIs: 'args.to is a list ["a@corp.com"], which ends_with cannot compare with "@corp.com" (the rule compares strings)',
    },
  },
  {
    name: 'a regex reason shows the pattern between slashes',
    policy: { ...V1, default: 'deny', tools: { git: { deny_if: [{ path: 'args.branch', op: 'regex', value: '^(main|master)$' }] } } },
    call: { tool: 'git', args: { branch: 'main' } },
    expect: { action: 'deny', reasonIs: 'args.branch is "main", which is matching /^(main|master)$/' },
  },
  {
    name: 'an in reason shows the list',
    policy: { ...V1, default: 'deny', tools: { refund: { require: [{ path: 'args.currency', op: 'in', value: ['usd', 'eur'] }] } } },
    call: { tool: 'refund', args: { currency: 'gbp' } },
    expect: { action: 'deny', reasonIs: 'required: args.currency is "gbp", which is not one of ["usd","eur"]' },
  },
  {
    name: 'a grant condition names the grant',
    policy: { ...V1, default: 'deny', tools: { deploy: { require: [{ path: 'grant', op: 'eq', value: 'release-bot' }] } } },
    call: { tool: 'deploy', grant: 'ci-bot' },
    expect: { action: 'deny', reasonIs: 'required: grant is "ci-bot", which is not equal to "release-bot"' },
  },
  {
    name: 'a not_exists reason says the value is present',
    policy: { ...V1, default: 'deny', tools: { q: { require: [{ path: 'args.override', op: 'not_exists' }] } } },
    call: { tool: 'q', args: { override: true } },
    expect: { action: 'deny', reasonIs: 'required: args.override is not absent' },
  },
  {
    name: 'a long string is quoted as its first 32 characters and its length, never more',
    policy: { ...V1, default: 'deny', tools: { q: { deny_if: [{ path: 'args.sql', op: 'contains', value: 'DROP' }] } } },
    call: { tool: 'q', args: { sql: `DROP ${'x'.repeat(200)}` } },
    expect: { action: 'deny', reasonIs: `args.sql is "DROP ${'x'.repeat(27)}"…(205 characters), which is containing "DROP"` },
  },
  {
    name: 'a string of exactly 32 characters is quoted whole',
    policy: { ...V1, default: 'deny', tools: { q: { require: [{ path: 'args.s', op: 'eq', value: 'x' }] } } },
    call: { tool: 'q', args: { s: 'y'.repeat(32) } },
    expect: { action: 'deny', reasonIs: `required: args.s is "${'y'.repeat(32)}", which is not equal to "x"` },
  },
  {
    name: 'a cut never splits a character made of two UTF-16 units',
    policy: { ...V1, default: 'deny', tools: { q: { require: [{ path: 'args.s', op: 'eq', value: 'x' }] } } },
    call: { tool: 'q', args: { s: `${'y'.repeat(31)}😀tail` } },
    expect: { action: 'deny', reasonIs: `required: args.s is "${'y'.repeat(31)}"…(37 characters), which is not equal to "x"` },
  },
  {
    name: 'a long list is summarised by its size',
    policy: { ...V1, default: 'deny', tools: { q: { require: [{ path: 'args.ids', op: 'contains', value: 0 }] } } },
    call: { tool: 'q', args: { ids: Array.from({ length: 40 }, (_, i) => i + 1) } },
    expect: { action: 'deny', reasonIs: 'required: args.ids is a list of 40 items, which is not containing 0' },
  },
  {
    name: 'a short list is quoted whole',
    policy: { ...V1, default: 'deny', tools: { q: { require: [{ path: 'args.ids', op: 'contains', value: 0 }] } } },
    call: { tool: 'q', args: { ids: [1, 2] } },
    expect: { action: 'deny', reasonIs: 'required: args.ids is [1,2], which is not containing 0' },
  },
  {
    name: 'a long object of the wrong type is summarised by its size, with its type',
    policy: { ...V1, default: 'deny', tools: { q: { deny_if: [{ path: 'args.env', op: 'eq', value: 'prod' }] } } },
    call: { tool: 'q', args: { env: { name: 'prod', region: 'eu-west-1', account: '123456789012' } } },
    expect: {
      action: 'deny',
      reasonIs: 'args.env is an object with 3 keys, which eq cannot compare with "prod" (the rule compares strings)',
    },
  },
  {
    name: 'a wrong type names both types: a string for a boolean',
    policy: { ...V1, default: 'deny', tools: { q: { deny_if: [{ path: 'args.force', op: 'eq', value: true }] } } },
    call: { tool: 'q', args: { force: 'true' } },
    expect: { action: 'deny', reasonIs: 'args.force is a string "true", which eq cannot compare with true (the rule compares booleans)' },
  },
  {
    name: 'a wrong type for in names the types of the list',
    policy: { ...V1, default: 'deny', tools: { q: { require: [{ path: 'args.n', op: 'in', value: ['a', 1] }] } } },
    call: { tool: 'q', args: { n: null } },
    expect: {
      action: 'deny',
      reasonIs: 'required: args.n is null, which in cannot compare with ["a",1] (the rule compares strings and numbers)',
    },
  },
  {
    name: 'invisible and bidirectional characters in a quoted value are escaped',
    policy: { ...V1, default: 'deny', tools: { q: { require: [{ path: 'args.f', op: 'ends_with', value: '.txt' }] } } },
    call: { tool: 'q', args: { f: 'a\u202etxt.exe\u0085' } },
    expect: { action: 'deny', reasonIs: 'required: args.f is "a\\u202etxt.exe\\u0085", which is not ending with ".txt"' },
  },
  {
    name: 'a reason says when a condition ignores case and normalizes',
    policy: {
      ...V1,
      default: 'deny',
      tools: { q: { deny_if: [{ path: 'args.env', op: 'eq', value: 'prod', ignore_case: true, normalize: 'nfkc' }] } },
    },
    call: { tool: 'q', args: { env: 'ＰＲＯＤ' } },
    expect: { action: 'deny', reasonIs: 'args.env is "ＰＲＯＤ", which is equal to "prod" (ignoring case, after NFKC normalization)' },
  },
];

for (const c of textCases) {
  test(c.name, () => checkDecision(decide(c.policy, c.call, c.file), c.expect));
}

/**
 * The verdict is the arguments'; the value a reason quotes is the quotable
 * one (the pipeline passes the redacted arguments), at the same path.
 */
const SECRET = `sk_live_${'4eC39HqLyjWDarjtT1zdp7dc'.repeat(3)}`;
const quotableCases: DecisionCase[] = [
  {
    name: "a deny_if reason quotes the quotable value, and the decision is still the arguments'",
    policy: { ...V1, default: 'deny', tools: { q: { deny_if: [{ path: 'args.key', op: 'starts_with', value: 'sk_live_' }] } } },
    call: { tool: 'q', args: { key: SECRET }, quotable: { key: '[redacted]' } },
    expect: { action: 'deny', reasonIs: 'args.key is "[redacted]", which is starting with "sk_live_"' },
  },
  {
    name: 'a require reason quotes the quotable value',
    policy: { ...V1, default: 'deny', tools: { q: { require: [{ path: 'args.key', op: 'starts_with', value: 'pk_' }] } } },
    call: { tool: 'q', args: { key: SECRET }, quotable: { key: '[redacted]' } },
    expect: { action: 'deny', reasonIs: 'required: args.key is "[redacted]", which is not starting with "pk_"' },
  },
  {
    name: 'an approve_if reason quotes the quotable value',
    policy: { ...V1, default: 'deny', tools: { q: { approve_if: [{ path: 'args.key', op: 'contains', value: 'live' }] } } },
    call: { tool: 'q', args: { key: SECRET }, quotable: { key: '[redacted]' } },
    expect: { action: 'require_approval', reasonIs: 'args.key is "[redacted]", which is containing "live"' },
  },
  {
    name: 'a mismatch names the type the condition saw, and quotes the quotable value',
    policy: { ...V1, default: 'deny', tools: { q: { deny_if: [{ path: 'args.auth.token', op: 'eq', value: 'x' }] } } },
    call: { tool: 'q', args: { auth: { token: [SECRET] } }, quotable: { auth: { token: '[redacted]' } } },
    expect: {
      action: 'deny',
      reasonIs: 'args.auth.token is a list "[redacted]", which eq cannot compare with "x" (the rule compares strings)',
    },
  },
  {
    name: 'a quoted value missing from the quotable arguments says so, and never falls back to the argument',
    policy: { ...V1, default: 'deny', tools: { q: { deny_if: [{ path: 'args.key', op: 'contains', value: 'live' }] } } },
    call: { tool: 'q', args: { key: SECRET }, quotable: {} },
    expect: { action: 'deny', reasonIs: 'args.key is (not shown), which is containing "live"' },
  },
  {
    name: 'the quotable arguments do not change the decision: a quotable value that would pass is ignored',
    policy: { ...V1, default: 'deny', tools: { q: { deny_if: [{ path: 'args.amount', op: 'gt', value: 100 }] } } },
    call: { tool: 'q', args: { amount: 500 }, quotable: { amount: 1 } },
    expect: { action: 'deny', reasonIs: 'args.amount is 1, which is greater than 100' },
  },
];

for (const c of quotableCases) {
  test(c.name, () => {
    const decision = decide(c.policy, c.call, c.file);
    checkDecision(decision, c.expect);
    assert.ok(!decision.reason.includes(SECRET.slice(0, 12)), `no part of the secret in ${JSON.stringify(decision.reason)}`);
  });
}

test('without quotable arguments, a secret longer than 32 characters is quoted by 32 of them at most', () => {
  const decision = decide(
    { ...V1, default: 'deny', tools: { q: { deny_if: [{ path: 'args.key', op: 'starts_with', value: 'sk_' }] } } },
    { tool: 'q', args: { key: SECRET } },
  );
  assert.ok(decision.reason.includes(`"${SECRET.slice(0, 32)}"…(${SECRET.length} characters)`), decision.reason);
  assert.ok(!decision.reason.includes(SECRET.slice(0, 33)), decision.reason);
});
