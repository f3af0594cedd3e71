import { test } from 'node:test';
import type { ToolCall } from '../../src/policy/index.js';
import { checkDecision, decide, type DecisionCase, type ExpectedDecision, limit } from '../support/policy.js';

const DOCUMENTED_EXAMPLE = {
  version: '1',
  default: 'deny',
  hide: ['delete_account'],
  all_tools: { limits: [] },
  tools: {
    list_customers: {},
    start_dicom_export_job: {
      action: 'require_approval',
      reason: 'Starts a bulk export of imaging data',
      limits: [{ counter: 'start_dicom_export_job_rate', window: 'minute', max: 10, scope: 'grant' }],
      approval: { timeout: '15m', approvers: ['U0123ABCD', 'S0456GROUP'], min_approvals: 1 },
    },
    create_refund: {
      require: [{ path: 'args.reason', op: 'exists' }],
      deny_if: [{ path: 'args.amount', op: 'gt', value: 10000 }],
      approve_if: [{ path: 'args.amount', op: 'gt', value: 100 }],
      schema: { type: 'object', properties: { currency: { enum: ['usd', 'eur'] } } },
    },
    'delete_*': { action: 'deny', reason: 'Agents may not delete' },
  },
};

const DOCUMENTED_EXAMPLE_YAML = `
version: "1"
default: deny
hide: [delete_account]
all_tools: { limits: [] }
tools:
  list_customers: {}
  start_dicom_export_job:
    action: require_approval
    reason: Starts a bulk export of imaging data
    limits: [{ counter: start_dicom_export_job_rate, window: minute, max: 10, scope: grant }]
    approval: { timeout: 15m, approvers: [U0123ABCD, S0456GROUP], min_approvals: 1 }
  create_refund:
    require: [{ path: args.reason, op: exists }]
    deny_if: [{ path: args.amount, op: gt, value: 10000 }]
    approve_if: [{ path: args.amount, op: gt, value: 100 }]
    schema: { type: object, properties: { currency: { enum: [usd, eur] } } }
  "delete_*": { action: deny, reason: Agents may not delete }
`;

const DICOM_LIMIT = limit('start_dicom_export_job_rate', 'minute', 60_000, 10, 'grant', 'tools.start_dicom_export_job.limits[0]');

const documentedExpectations: { call: ToolCall; expect: ExpectedDecision; what: string }[] = [
  {
    what: 'list_customers is allowed',
    call: { tool: 'list_customers' },
    expect: { action: 'allow', rule: 'tools.list_customers', limits: [] },
  },
  {
    what: 'start_dicom_export_job needs approval, with its limit and approval settings',
    call: { tool: 'start_dicom_export_job', args: { study: '1.2.3' } },
    expect: {
      action: 'require_approval',
      rule: 'tools.start_dicom_export_job',
      reasonIs: 'Starts a bulk export of imaging data',
      limits: [DICOM_LIMIT],
      approval: { timeout_ms: 900_000, approvers: ['U0123ABCD', 'S0456GROUP'], min_approvals: 1 },
    },
  },
  {
    what: 'create_refund without a reason is denied by require',
    call: { tool: 'create_refund', args: { amount: 50 } },
    expect: { action: 'deny', rule: 'tools.create_refund.require[0]' },
  },
  {
    what: 'create_refund over 10000 is denied by deny_if',
    call: { tool: 'create_refund', args: { reason: 'r', amount: 20000 } },
    expect: { action: 'deny', rule: 'tools.create_refund.deny_if[0]', reason: ['args.amount is 20000', 'greater than 10000'] },
  },
  {
    what: 'create_refund over 100 needs approval',
    call: { tool: 'create_refund', args: { reason: 'r', amount: 500 } },
    expect: { action: 'require_approval', rule: 'tools.create_refund.approve_if[0]', reason: ['args.amount is 500', 'greater than 100'] },
  },
  {
    what: 'a small create_refund is allowed',
    call: { tool: 'create_refund', args: { reason: 'r', amount: 50, currency: 'usd' } },
    expect: { action: 'allow', rule: 'tools.create_refund' },
  },
  {
    what: 'create_refund in gbp fails the schema',
    call: { tool: 'create_refund', args: { reason: 'r', amount: 50, currency: 'gbp' } },
    expect: { action: 'deny', rule: 'tools.create_refund.schema', reason: ['must be equal to one of the allowed values'] },
  },
  {
    what: 'delete_records is denied by the glob with its reason',
    call: { tool: 'delete_records' },
    expect: { action: 'deny', rule: 'tools.delete_*', matched: 'delete_*', reasonIs: 'Agents may not delete' },
  },
  { what: 'delete_account is hidden, not merely denied', call: { tool: 'delete_account' }, expect: { action: 'hide', rule: 'hide[0]' } },
  { what: 'an unlisted tool is denied by default', call: { tool: 'describe_cases' }, expect: { action: 'deny', rule: 'default' } },
];

const documentCases: DecisionCase[] = [
  {
    name: 'PolicyLayer: default deny with one listed tool allows that tool',
    policy: '{"version":"1","default":"deny","tools":{"list_customers":{}}}',
    call: { tool: 'list_customers' },
    expect: { action: 'allow', rule: 'tools.list_customers', limits: [] },
  },
  {
    name: 'PolicyLayer: default deny with one listed tool denies the others',
    policy: '{"version":"1","default":"deny","tools":{"list_customers":{}}}',
    call: { tool: 'create_customer' },
    expect: { action: 'deny', rule: 'default' },
  },
  {
    name: 'PolicyLayer: default allow with a hide list hides the listed names',
    policy: '{"version":"1","default":"allow","hide":["delete_account","drop_table"]}',
    call: { tool: 'drop_table' },
    expect: { action: 'hide', rule: 'hide[1]' },
  },
  {
    name: 'PolicyLayer: default allow with a hide list allows the rest',
    policy: '{"version":"1","default":"allow","hide":["delete_account","drop_table"]}',
    call: { tool: 'list_tables' },
    expect: { action: 'allow', rule: 'default', limits: [] },
  },
  {
    name: 'PolicyLayer: hide ["*"] hides everything',
    policy: '{"version":"1","default":"allow","hide":["*"]}',
    call: { tool: 'list_tables' },
    expect: { action: 'hide', rule: 'hide[0]' },
  },
  {
    name: 'PolicyLayer: all_tools limits count every call, scope grant by default',
    policy: '{"version":"1","default":"allow","all_tools":{"limits":[{"counter":"all_calls","window":"minute","max":60}]}}',
    call: { tool: 'list_tables' },
    expect: { action: 'allow', limits: [limit('all_calls', 'minute', 60_000, 60, 'grant', 'all_tools.limits[0]')] },
  },
  {
    name: 'PolicyLayer: the documented policy shape with empty lists loads and allows its tool',
    policy:
      '{"version":"1","default":"deny","hide":["delete_account"],"all_tools":{"limits":[]},"tools":{"create_charge":{"require":[],"deny_if":[],"limits":[]}}}',
    call: { tool: 'create_charge', args: { amount: 1 } },
    expect: { action: 'allow', rule: 'tools.create_charge', limits: [] },
  },
  {
    name: 'seed: start_dicom_export_job is allowed with its rate limit',
    policy:
      '{"version":"1","default":"deny","tools":{"start_dicom_export_job":{"limits":[{"counter":"start_dicom_export_job_rate","window":"minute","max":10,"scope":"grant"}]}}}',
    call: { tool: 'start_dicom_export_job' },
    expect: { action: 'allow', rule: 'tools.start_dicom_export_job', limits: [DICOM_LIMIT] },
  },
  {
    name: 'seed: describe_cases is denied because it is not listed and the default is deny',
    policy:
      '{"version":"1","default":"deny","tools":{"start_dicom_export_job":{"limits":[{"counter":"start_dicom_export_job_rate","window":"minute","max":10,"scope":"grant"}]}}}',
    call: { tool: 'describe_cases' },
    expect: { action: 'deny', rule: 'default', reason: ['describe_cases is not listed', 'the default is deny'] },
  },
  ...documentedExpectations.map(({ what, call, expect }): DecisionCase => ({
    name: `the documented example (JSON): ${what}`,
    policy: DOCUMENTED_EXAMPLE,
    call,
    expect,
  })),
  ...documentedExpectations.map(({ what, call, expect }): DecisionCase => ({
    name: `the documented example (YAML): ${what}`,
    policy: DOCUMENTED_EXAMPLE_YAML,
    file: 'policies/example.yaml',
    call,
    expect,
  })),
];

for (const c of documentCases) {
  test(c.name, () => checkDecision(decide(c.policy, c.call, c.file), c.expect));
}
