import { test } from 'node:test';
import { checkDecision, decide, type DecisionCase, limit, NO_APPROVAL_SETTINGS, V1 } from '../support/policy.js';

const defaultRiskCases: DecisionCase[] = [
  {
    name: 'default allow allows an unlisted tool, with rule default',
    policy: { ...V1, default: 'allow' },
    call: { tool: 'search' },
    expect: { action: 'allow', rule: 'default', matched: null, reasonIs: 'search is not listed in the policy and the default is allow' },
  },
  {
    name: 'default deny denies an unlisted tool, with rule default',
    policy: { ...V1, default: 'deny', tools: { other: {} } },
    call: { tool: 'search' },
    expect: { action: 'deny', rule: 'default', matched: null, reasonIs: 'search is not listed in the policy and the default is deny' },
  },
  {
    name: 'listing a tool with {} allows it under default deny',
    policy: { ...V1, default: 'deny', tools: { search: {} } },
    call: { tool: 'search' },
    expect: { action: 'allow', rule: 'tools.search', matched: 'search' },
  },
  {
    name: 'an unlisted tool follows risk[class]: write requires approval',
    policy: { ...V1, default: 'allow', risk: { read: 'allow', write: 'require_approval', destructive: 'deny' } },
    call: { tool: 'update_row', risk: 'write' },
    expect: {
      action: 'require_approval',
      rule: 'risk.write',
      matched: null,
      reason: ['update_row is not listed', 'its risk class is write', 'risk.write is require_approval'],
      approval: NO_APPROVAL_SETTINGS,
    },
  },
  {
    name: 'risk can allow what the default denies',
    policy: { ...V1, default: 'deny', risk: { read: 'allow' } },
    call: { tool: 'get_row', risk: 'read' },
    expect: { action: 'allow', rule: 'risk.read' },
  },
  {
    name: 'risk can deny what the default allows',
    policy: { ...V1, default: 'allow', risk: { destructive: 'deny' } },
    call: { tool: 'drop_db', risk: 'destructive' },
    expect: { action: 'deny', rule: 'risk.destructive', reason: ['risk.destructive is deny'] },
  },
  {
    name: 'execute follows risk.execute',
    policy: { ...V1, default: 'allow', risk: { execute: 'require_approval' } },
    call: { tool: 'run_shell', risk: 'execute' },
    expect: { action: 'require_approval', rule: 'risk.execute' },
  },
  {
    name: 'a class risk names no action for falls back to default (deny)',
    policy: { ...V1, default: 'deny', risk: { read: 'allow' } },
    call: { tool: 'update_row', risk: 'write' },
    expect: { action: 'deny', rule: 'default', reason: ['the default is deny'] },
  },
  {
    name: 'a class risk names no action for falls back to default (allow)',
    policy: { ...V1, default: 'allow', risk: { write: 'deny' } },
    call: { tool: 'get_row', risk: 'read' },
    expect: { action: 'allow', rule: 'default' },
  },
  {
    name: 'a call with no risk class follows risk.unknown',
    policy: { ...V1, default: 'allow', risk: { unknown: 'require_approval' } },
    call: { tool: 'mystery' },
    expect: { action: 'require_approval', rule: 'risk.unknown', reason: ['its risk class is unknown'] },
  },
  {
    name: 'a call with no risk class and no risk.unknown follows default',
    policy: { ...V1, default: 'deny', risk: { read: 'allow' } },
    call: { tool: 'mystery' },
    expect: { action: 'deny', rule: 'default' },
  },
  {
    name: 'a listed tool ignores risk',
    policy: { ...V1, default: 'deny', risk: { write: 'deny' }, tools: { update_row: {} } },
    call: { tool: 'update_row', risk: 'write' },
    expect: { action: 'allow', rule: 'tools.update_row' },
  },
  {
    name: 'a tool matched by a glob ignores risk',
    policy: { ...V1, default: 'allow', risk: { destructive: 'allow' }, tools: { 'drop_*': { action: 'deny' } } },
    call: { tool: 'drop_db', risk: 'destructive' },
    expect: { action: 'deny', rule: 'tools.drop_*' },
  },
  {
    name: 'risk approval carries all_tools limits',
    policy: {
      ...V1,
      default: 'deny',
      risk: { write: 'require_approval' },
      all_tools: { limits: [{ counter: 'calls', window: 'hour', max: 100 }] },
    },
    call: { tool: 'update_row', risk: 'write' },
    expect: {
      action: 'require_approval',
      limits: [limit('calls', 'hour', 3_600_000, 100, 'grant', 'all_tools.limits[0]')],
      approval: NO_APPROVAL_SETTINGS,
    },
  },
];

const toolChangeCases: DecisionCase[] = [
  {
    name: 'a changed listed tool requires approval by default',
    policy: { ...V1, default: 'deny', tools: { search: {} } },
    call: { tool: 'search', changed: true },
    expect: {
      action: 'require_approval',
      rule: 'on_tool_change',
      matched: 'search',
      reason: ['search changed its description or input schema', 'a person must confirm'],
      approval: NO_APPROVAL_SETTINGS,
    },
  },
  {
    name: 'an unchanged listed tool is not affected by on_tool_change',
    policy: { ...V1, default: 'deny', on_tool_change: 'deny', tools: { search: {} } },
    call: { tool: 'search', changed: false },
    expect: { action: 'allow', rule: 'tools.search' },
  },
  {
    name: 'on_tool_change deny denies a changed listed tool, without limits',
    policy: { ...V1, default: 'deny', on_tool_change: 'deny', tools: { search: { limits: [{ counter: 's', window: 60, max: 1 }] } } },
    call: { tool: 'search', changed: true },
    expect: { action: 'deny', rule: 'on_tool_change', matched: 'search', reason: ['on_tool_change is deny'] },
  },
  {
    name: 'on_tool_change allow lets a changed listed tool through',
    policy: { ...V1, default: 'deny', on_tool_change: 'allow', tools: { search: {} } },
    call: { tool: 'search', changed: true },
    expect: { action: 'allow', rule: 'tools.search' },
  },
  {
    name: 'a changed unlisted tool under default allow requires approval by default',
    policy: { ...V1, default: 'allow' },
    call: { tool: 'search', changed: true },
    expect: { action: 'require_approval', rule: 'on_tool_change', matched: null, approval: NO_APPROVAL_SETTINGS },
  },
  {
    name: 'on_tool_change deny denies a changed unlisted tool',
    policy: { ...V1, default: 'allow', on_tool_change: 'deny' },
    call: { tool: 'search', changed: true },
    expect: { action: 'deny', rule: 'on_tool_change' },
  },
  {
    name: 'on_tool_change allow lets a changed unlisted tool through under default allow',
    policy: { ...V1, default: 'allow', on_tool_change: 'allow' },
    call: { tool: 'search', changed: true },
    expect: { action: 'allow', rule: 'default' },
  },
  {
    name: 'default deny still denies a changed unlisted tool',
    policy: { ...V1, default: 'deny' },
    call: { tool: 'search', changed: true },
    expect: { action: 'deny', rule: 'default' },
  },
  {
    name: 'default deny with on_tool_change deny names the default as the rule',
    policy: { ...V1, default: 'deny', on_tool_change: 'deny' },
    call: { tool: 'search', changed: true },
    expect: { action: 'deny', rule: 'default', reason: ['not listed'] },
  },
  {
    name: 'a deny_if that fires still denies a changed tool',
    policy: { ...V1, default: 'deny', tools: { q: { deny_if: [{ path: 'args.sql', op: 'contains', value: 'DROP' }] } } },
    call: { tool: 'q', args: { sql: 'DROP x' }, changed: true },
    expect: { action: 'deny', rule: 'tools.q.deny_if[0]' },
  },
  {
    name: 'action deny still denies a changed tool',
    policy: { ...V1, default: 'allow', tools: { rm: { action: 'deny' } } },
    call: { tool: 'rm', changed: true },
    expect: { action: 'deny', rule: 'tools.rm' },
  },
  {
    name: 'risk deny still denies a changed unlisted tool',
    policy: { ...V1, default: 'allow', risk: { destructive: 'deny' } },
    call: { tool: 'wipe', risk: 'destructive', changed: true },
    expect: { action: 'deny', rule: 'risk.destructive' },
  },
  {
    name: 'on_tool_change deny beats action require_approval',
    policy: { ...V1, default: 'deny', on_tool_change: 'deny', tools: { wire: { action: 'require_approval' } } },
    call: { tool: 'wire', changed: true },
    expect: { action: 'deny', rule: 'on_tool_change' },
  },
  {
    name: 'on_tool_change deny beats an approve_if that fires',
    policy: {
      ...V1,
      default: 'deny',
      on_tool_change: 'deny',
      tools: { pay: { approve_if: [{ path: 'args.amount', op: 'gt', value: 1 }] } },
    },
    call: { tool: 'pay', args: { amount: 5 }, changed: true },
    expect: { action: 'deny', rule: 'on_tool_change' },
  },
  {
    name: 'a changed tool with action require_approval keeps its own rule and reason',
    policy: { ...V1, default: 'deny', tools: { wire: { action: 'require_approval', reason: 'Moves money' } } },
    call: { tool: 'wire', changed: true },
    expect: { action: 'require_approval', rule: 'tools.wire', reasonIs: 'Moves money' },
  },
  {
    name: 'a changed tool whose approve_if fires reports the approve_if',
    policy: { ...V1, default: 'deny', tools: { pay: { approve_if: [{ path: 'args.amount', op: 'gt', value: 1 }] } } },
    call: { tool: 'pay', args: { amount: 5 }, changed: true },
    expect: { action: 'require_approval', rule: 'tools.pay.approve_if[0]' },
  },
  {
    name: "an on_tool_change approval carries the rule's limits and approval settings",
    policy: {
      ...V1,
      default: 'deny',
      tools: { search: { limits: [{ counter: 's', window: 60, max: 3 }], approval: { approvers: ['U1'], min_approvals: 2 } } },
    },
    call: { tool: 'search', changed: true },
    expect: {
      action: 'require_approval',
      rule: 'on_tool_change',
      limits: [limit('s', 60, 60_000, 3, 'grant', 'tools.search.limits[0]')],
      approval: { approvers: ['U1'], min_approvals: 2 },
    },
  },
  {
    name: 'an on_tool_change approval of an unlisted tool carries all_tools limits',
    policy: { ...V1, default: 'allow', all_tools: { limits: [{ counter: 'all', window: 'day', max: 1000, scope: 'global' }] } },
    call: { tool: 'search', changed: true },
    expect: {
      action: 'require_approval',
      rule: 'on_tool_change',
      limits: [limit('all', 'day', 86_400_000, 1000, 'global', 'all_tools.limits[0]')],
    },
  },
];

for (const c of [...defaultRiskCases, ...toolChangeCases]) {
  test(c.name, () => checkDecision(decide(c.policy, c.call, c.file), c.expect));
}
