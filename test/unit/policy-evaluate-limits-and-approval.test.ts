import { test } from 'node:test';
import { checkDecision, decide, type DecisionCase, limit, NO_APPROVAL_SETTINGS, V1 } from '../support/policy.js';

const WINDOWS: [string | number, number][] = [
  ['second', 1_000],
  ['minute', 60_000],
  ['hour', 3_600_000],
  ['day', 86_400_000],
  [60, 60_000],
  [0.5, 500],
  ['90s', 90_000],
  ['15m', 900_000],
  ['1h', 3_600_000],
  ['1d', 86_400_000],
  ['250ms', 250],
];

const limitCases: DecisionCase[] = [
  ...WINDOWS.map(([window, ms]): DecisionCase => ({
    name: `a limit window of ${JSON.stringify(window)} is ${ms} ms`,
    policy: { ...V1, default: 'deny', tools: { t: { limits: [{ counter: 'c', window, max: 7 }] } } },
    call: { tool: 't' },
    expect: { action: 'allow', limits: [limit('c', window, ms, 7, 'grant', 'tools.t.limits[0]')] },
  })),
  {
    name: 'a limit keeps its scope and max, and several limits keep their order',
    policy: {
      ...V1,
      default: 'deny',
      tools: {
        t: {
          limits: [
            { counter: 'a', window: 60, max: 0, scope: 'session' },
            { counter: 'b', window: 'hour', max: 9, scope: 'global' },
          ],
        },
      },
    },
    call: { tool: 't' },
    expect: {
      action: 'allow',
      limits: [limit('a', 60, 60_000, 0, 'session', 'tools.t.limits[0]'), limit('b', 'hour', 3_600_000, 9, 'global', 'tools.t.limits[1]')],
    },
  },
  {
    name: 'rate_limit is one limit with counter <tool>_rate and scope session',
    policy: { ...V1, default: 'deny', tools: { export: { rate_limit: { max: 10, window: 60 } } } },
    call: { tool: 'export' },
    expect: { action: 'allow', limits: [limit('export_rate', 60, 60_000, 10, 'session', 'tools.export.rate_limit')] },
  },
  {
    name: "rate_limit on a glob key counts under the called tool's name",
    policy: { ...V1, default: 'deny', tools: { 'export_*': { rate_limit: { max: 2, window: '1h' } } } },
    call: { tool: 'export_csv' },
    expect: {
      action: 'allow',
      matched: 'export_*',
      limits: [limit('export_csv_rate', '1h', 3_600_000, 2, 'session', 'tools.export_*.rate_limit')],
    },
  },
  {
    name: "limits come in order: the tool's limits, its rate_limit, then all_tools",
    policy: {
      ...V1,
      default: 'deny',
      all_tools: { limits: [{ counter: 'all', window: 'minute', max: 100 }] },
      tools: { t: { limits: [{ counter: 'own', window: 'hour', max: 5 }], rate_limit: { max: 1, window: 'second' } } },
    },
    call: { tool: 't' },
    expect: {
      action: 'allow',
      limits: [
        limit('own', 'hour', 3_600_000, 5, 'grant', 'tools.t.limits[0]'),
        limit('t_rate', 'second', 1_000, 1, 'session', 'tools.t.rate_limit'),
        limit('all', 'minute', 60_000, 100, 'grant', 'all_tools.limits[0]'),
      ],
    },
  },
  {
    name: 'all_tools limits apply to a listed tool without limits of its own',
    policy: {
      ...V1,
      default: 'deny',
      all_tools: {
        limits: [
          { counter: 'all', window: 60, max: 30 },
          { counter: 'daily', window: '1d', max: 500, scope: 'global' },
        ],
      },
      tools: { t: {} },
    },
    call: { tool: 't' },
    expect: {
      action: 'allow',
      limits: [
        limit('all', 60, 60_000, 30, 'grant', 'all_tools.limits[0]'),
        limit('daily', '1d', 86_400_000, 500, 'global', 'all_tools.limits[1]'),
      ],
    },
  },
  {
    name: 'all_tools limits apply to an unlisted tool under default allow',
    policy: { ...V1, default: 'allow', all_tools: { limits: [{ counter: 'all', window: 60, max: 30 }] } },
    call: { tool: 'anything' },
    expect: { action: 'allow', rule: 'default', limits: [limit('all', 60, 60_000, 30, 'grant', 'all_tools.limits[0]')] },
  },
  {
    name: 'all_tools limits apply to an unlisted tool allowed by risk',
    policy: { ...V1, default: 'deny', risk: { read: 'allow' }, all_tools: { limits: [{ counter: 'all', window: 60, max: 30 }] } },
    call: { tool: 'get', risk: 'read' },
    expect: { action: 'allow', rule: 'risk.read', limits: [limit('all', 60, 60_000, 30, 'grant', 'all_tools.limits[0]')] },
  },
  {
    name: 'limits are carried on a require_approval decision (counted before approval)',
    policy: {
      ...V1,
      default: 'deny',
      all_tools: { limits: [{ counter: 'all', window: 60, max: 30 }] },
      tools: { wire: { action: 'require_approval', limits: [{ counter: 'w', window: 'day', max: 3 }] } },
    },
    call: { tool: 'wire' },
    expect: {
      action: 'require_approval',
      limits: [
        limit('w', 'day', 86_400_000, 3, 'grant', 'tools.wire.limits[0]'),
        limit('all', 60, 60_000, 30, 'grant', 'all_tools.limits[0]'),
      ],
    },
  },
  {
    name: 'limits are carried when approve_if asks for approval',
    policy: {
      ...V1,
      default: 'deny',
      tools: { pay: { approve_if: [{ path: 'args.amount', op: 'gt', value: 100 }], rate_limit: { max: 5, window: '15m' } } },
    },
    call: { tool: 'pay', args: { amount: 500 } },
    expect: { action: 'require_approval', limits: [limit('pay_rate', '15m', 900_000, 5, 'session', 'tools.pay.rate_limit')] },
  },
  {
    name: 'no limits on an action deny decision',
    policy: {
      ...V1,
      default: 'deny',
      all_tools: { limits: [{ counter: 'all', window: 60, max: 30 }] },
      tools: { rm: { action: 'deny', limits: [{ counter: 'r', window: 60, max: 1 }], rate_limit: { max: 1, window: 60 } } },
    },
    call: { tool: 'rm' },
    expect: { action: 'deny', limits: [] },
  },
  {
    name: 'no limits when deny_if fires',
    policy: {
      ...V1,
      default: 'deny',
      all_tools: { limits: [{ counter: 'all', window: 60, max: 30 }] },
      tools: { pay: { deny_if: [{ path: 'args.amount', op: 'gt', value: 100 }], limits: [{ counter: 'p', window: 60, max: 1 }] } },
    },
    call: { tool: 'pay', args: { amount: 500 } },
    expect: { action: 'deny', limits: [] },
  },
  {
    name: 'no limits when require fails',
    policy: {
      ...V1,
      default: 'deny',
      all_tools: { limits: [{ counter: 'all', window: 60, max: 30 }] },
      tools: { pay: { require: [{ path: 'args.memo', op: 'exists' }], limits: [{ counter: 'p', window: 60, max: 1 }] } },
    },
    call: { tool: 'pay' },
    expect: { action: 'deny', limits: [] },
  },
  {
    name: 'no limits when the schema fails',
    policy: {
      ...V1,
      default: 'deny',
      tools: { pay: { schema: { type: 'object', required: ['memo'] }, rate_limit: { max: 1, window: 60 } } },
    },
    call: { tool: 'pay' },
    expect: { action: 'deny', limits: [] },
  },
  {
    name: 'no all_tools limits on a default deny',
    policy: { ...V1, default: 'deny', all_tools: { limits: [{ counter: 'all', window: 60, max: 30 }] } },
    call: { tool: 'unlisted' },
    expect: { action: 'deny', rule: 'default', limits: [] },
  },
  {
    name: 'a tool with no limits under a policy with none carries an empty list',
    policy: { ...V1, default: 'allow' },
    call: { tool: 'x' },
    expect: { action: 'allow', limits: [] },
  },
];

const approvalCases: DecisionCase[] = [
  {
    name: 'the approval block is carried in a require_approval decision',
    policy: {
      ...V1,
      default: 'deny',
      tools: {
        wire: {
          action: 'require_approval',
          approval: { timeout: '15m', approvers: ['U0123ABCD', 'S0456GROUP'], min_approvals: 2, channel: 'C999' },
        },
      },
    },
    call: { tool: 'wire' },
    expect: {
      action: 'require_approval',
      approval: { timeout_ms: 900_000, approvers: ['U0123ABCD', 'S0456GROUP'], min_approvals: 2, channel: 'C999' },
    },
  },
  {
    name: 'an approval timeout in seconds becomes milliseconds',
    policy: { ...V1, default: 'deny', tools: { wire: { action: 'require_approval', approval: { timeout: 90 } } } },
    call: { tool: 'wire' },
    expect: { action: 'require_approval', approval: { timeout_ms: 90_000, approvers: [], min_approvals: 1 } },
  },
  {
    name: 'an empty approval block means anyone, one approval, the configured timeout',
    policy: { ...V1, default: 'deny', tools: { wire: { action: 'require_approval', approval: {} } } },
    call: { tool: 'wire' },
    expect: { action: 'require_approval', approval: { approvers: [], min_approvals: 1 } },
  },
  {
    name: 'a require_approval without an approval block has default settings',
    policy: { ...V1, default: 'deny', tools: { wire: { action: 'require_approval' } } },
    call: { tool: 'wire' },
    expect: { action: 'require_approval', approval: NO_APPROVAL_SETTINGS },
  },
  {
    name: 'the approval block applies when approve_if asks for approval',
    policy: {
      ...V1,
      default: 'deny',
      tools: { pay: { approve_if: [{ path: 'args.amount', op: 'gt', value: 100 }], approval: { approvers: ['U1'], timeout: '1h' } } },
    },
    call: { tool: 'pay', args: { amount: 101 } },
    expect: { action: 'require_approval', approval: { timeout_ms: 3_600_000, approvers: ['U1'], min_approvals: 1 } },
  },
  {
    name: 'an allowed call carries no approval even when the rule has an approval block',
    policy: {
      ...V1,
      default: 'deny',
      tools: { pay: { approve_if: [{ path: 'args.amount', op: 'gt', value: 100 }], approval: { approvers: ['U1'] } } },
    },
    call: { tool: 'pay', args: { amount: 99 } },
    expect: { action: 'allow' },
  },
  {
    name: 'a denied call carries no approval even when the rule has an approval block',
    policy: {
      ...V1,
      default: 'deny',
      tools: {
        pay: { action: 'require_approval', deny_if: [{ path: 'args.amount', op: 'gt', value: 100 }], approval: { approvers: ['U1'] } },
      },
    },
    call: { tool: 'pay', args: { amount: 101 } },
    expect: { action: 'deny' },
  },
];

for (const c of [...limitCases, ...approvalCases]) {
  test(c.name, () => checkDecision(decide(c.policy, c.call, c.file), c.expect));
}
