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
    name: 'a rule\'s reason is shown on deny, followed by the detail',
    policy: { ...V1, default: 'deny', tools: { create_refund: { reason: 'Large refunds go through finance', deny_if: [{ path: 'args.amount', op: 'gt', value: 10000 }] } } },
    call: { tool: 'create_refund', args: { amount: 20000 } },
    expect: { action: 'deny', reasonIs: 'Large refunds go through finance (args.amount is 20000, which is greater than 10000)' },
  },
  {
    name: 'a rule\'s reason is shown on an action deny',
    policy: { ...V1, default: 'allow', tools: { 'delete_*': { action: 'deny', reason: 'Agents may not delete' } } },
    call: { tool: 'delete_records' },
    expect: { action: 'deny', reasonIs: 'Agents may not delete' },
  },
  {
    name: 'a rule\'s reason is shown on an action require_approval',
    policy: { ...V1, default: 'deny', tools: { export: { action: 'require_approval', reason: 'Starts a bulk export of imaging data' } } },
    call: { tool: 'export' },
    expect: { action: 'require_approval', reasonIs: 'Starts a bulk export of imaging data' },
  },
  {
    name: 'a rule\'s reason is shown when approve_if fires, with the detail',
    policy: { ...V1, default: 'deny', tools: { pay: { reason: 'Payments over 100 need a second pair of eyes', approve_if: [{ path: 'args.amount', op: 'gte', value: 100 }] } } },
    call: { tool: 'pay', args: { amount: 100 } },
    expect: { action: 'require_approval', reasonIs: 'Payments over 100 need a second pair of eyes (args.amount is 100, which is at least 100)' },
  },
  {
    name: 'a rule\'s reason is shown when require fails',
    policy: { ...V1, default: 'deny', tools: { refund: { reason: 'Refunds need a reason', require: [{ path: 'args.reason', op: 'exists' }] } } },
    call: { tool: 'refund', args: {} },
    expect: { action: 'deny', reasonIs: 'Refunds need a reason (required: args.reason is not present)' },
  },
  {
    name: 'a rule\'s reason is shown when the schema fails',
    policy: { ...V1, default: 'deny', tools: { refund: { reason: 'Refunds in usd only', schema: { type: 'object', properties: { currency: { const: 'usd' } } } } } },
    call: { tool: 'refund', args: { currency: 'eur' } },
    expect: { action: 'deny', reason: ['Refunds in usd only (arguments do not match the schema: args.currency must be equal to constant)'] },
  },
  {
    name: 'a type mismatch says what type it saw',
    policy: { ...V1, default: 'deny', tools: { pay: { deny_if: [{ path: 'args.amount', op: 'gt', value: 10000 }] } } },
    call: { tool: 'pay', args: { amount: '20000' } },
    expect: { action: 'deny', rule: 'tools.pay.deny_if[0]', reasonIs: 'args.amount is a string "20000", which gt cannot compare with 10000 (the rule compares numbers)' },
  },
  {
    name: 'an approval on a type mismatch says so',
    policy: { ...V1, default: 'deny', tools: { pay: { approve_if: [{ path: 'args.to', op: 'ends_with', value: '@corp.com' }] } } },
    call: { tool: 'pay', args: { to: ['a@corp.com'] } },
    expect: { action: 'require_approval', reasonIs: 'args.to is a list ["a@corp.com"], which ends_with cannot compare with "@corp.com" (the rule compares strings)' },
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
    name: 'a long value is shortened in the reason',
    policy: { ...V1, default: 'deny', tools: { q: { deny_if: [{ path: 'args.sql', op: 'contains', value: 'DROP' }] } } },
    call: { tool: 'q', args: { sql: `DROP ${'x'.repeat(200)}` } },
    expect: { action: 'deny', reason: ['args.sql is "DROP xxx', '..., which is containing "DROP"'] },
  },
];

for (const c of textCases) {
  test(c.name, () => checkDecision(decide(c.policy, c.call, c.file), c.expect));
}
