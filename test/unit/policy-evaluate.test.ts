import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluate, isHidden, type Approval, type Decision, type Limit, type ToolCall } from '../../src/policy/index.js';
import { decide, policyFrom } from '../support/policy.js';

interface Expect {
  action: Decision['action'];
  rule?: string;
  /** The `tools` key that matched; `null` when no key may have matched. */
  matched?: string | null;
  /** Substrings the reason must contain. */
  reason?: string[];
  /** The exact reason. */
  reasonIs?: string;
  limits?: Limit[];
  approval?: Approval;
}

interface Case {
  name: string;
  policy: object | string;
  file?: string;
  call: ToolCall;
  expect: Expect;
}

const V1 = { version: '1' } as const;

function limit(counter: string, window: string | number, window_ms: number, max: number, scope: Limit['scope'], rule: string): Limit {
  return { counter, window, window_ms, max, scope, rule };
}

/** Compares what a consumer can see: JSON drops properties left undefined. */
function plain(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

function check(decision: Decision, expect: Expect): void {
  const seen = JSON.stringify(decision);
  assert.equal(decision.action, expect.action, seen);
  if (expect.rule !== undefined) assert.equal(decision.rule, expect.rule, seen);
  if (expect.matched !== undefined) assert.equal(decision.matched, expect.matched ?? undefined, seen);
  for (const part of expect.reason ?? []) assert.ok(decision.reason.includes(part), `reason ${JSON.stringify(decision.reason)} should contain ${JSON.stringify(part)}`);
  if (expect.reasonIs !== undefined) assert.equal(decision.reason, expect.reasonIs);
  // A refused call is never counted, whatever the policy says about limits.
  if (decision.action === 'deny' || decision.action === 'hide') assert.deepEqual(decision.limits, [], seen);
  if (expect.limits !== undefined) assert.deepEqual(plain(decision.limits), plain(expect.limits));
  if (decision.action !== 'require_approval') assert.equal(decision.approval, undefined, seen);
  else assert.ok(decision.approval, `a require_approval decision carries approval settings: ${seen}`);
  if (expect.approval !== undefined) assert.deepEqual(plain(decision.approval), plain(expect.approval));
}

const NO_APPROVAL_SETTINGS: Approval = { approvers: [], min_approvals: 1 };

const globCases: Case[] = [
  {
    name: 'an exact key wins over an earlier glob that also matches',
    policy: { ...V1, default: 'deny', tools: { 'delete_*': { action: 'deny' }, delete_draft: {} } },
    call: { tool: 'delete_draft' },
    expect: { action: 'allow', rule: 'tools.delete_draft', matched: 'delete_draft' },
  },
  {
    name: 'an exact key wins over a later glob that also matches',
    policy: { ...V1, default: 'deny', tools: { delete_draft: { action: 'require_approval' }, 'delete_*': { action: 'deny' } } },
    call: { tool: 'delete_draft' },
    expect: { action: 'require_approval', rule: 'tools.delete_draft', matched: 'delete_draft' },
  },
  {
    name: 'a glob applies to the names it matches and that have no exact key',
    policy: { ...V1, default: 'allow', tools: { 'delete_*': { action: 'deny' }, delete_draft: {} } },
    call: { tool: 'delete_user' },
    expect: { action: 'deny', rule: 'tools.delete_*', matched: 'delete_*', reason: ['delete_user is denied by tools.delete_*'] },
  },
  {
    name: 'the first matching glob in file order wins',
    policy: { ...V1, default: 'deny', tools: { 'send_*': { action: 'require_approval' }, 'send_e*': { action: 'deny' } } },
    call: { tool: 'send_email' },
    expect: { action: 'require_approval', rule: 'tools.send_*', matched: 'send_*' },
  },
  {
    name: 'the first matching glob in file order wins, order reversed',
    policy: { ...V1, default: 'deny', tools: { 'send_e*': { action: 'deny' }, 'send_*': { action: 'require_approval' } } },
    call: { tool: 'send_email' },
    expect: { action: 'deny', rule: 'tools.send_e*', matched: 'send_e*' },
  },
  {
    name: 'a glob that does not match is skipped for a later one that does',
    policy: { ...V1, default: 'deny', tools: { 'read_*': { action: 'deny' }, '*_file': {} } },
    call: { tool: 'write_file' },
    expect: { action: 'allow', rule: 'tools.*_file', matched: '*_file' },
  },
  {
    name: '? matches exactly one character',
    policy: { ...V1, default: 'deny', tools: { 'get_?': {} } },
    call: { tool: 'get_a' },
    expect: { action: 'allow', matched: 'get_?' },
  },
  {
    name: '? does not match two characters',
    policy: { ...V1, default: 'deny', tools: { 'get_?': {} } },
    call: { tool: 'get_ab' },
    expect: { action: 'deny', rule: 'default', matched: null },
  },
  {
    name: '? does not match zero characters',
    policy: { ...V1, default: 'deny', tools: { 'get_?': {} } },
    call: { tool: 'get_' },
    expect: { action: 'deny', rule: 'default', matched: null },
  },
  {
    name: 'a glob in the middle of a key matches any run there',
    policy: { ...V1, default: 'allow', tools: { 'db_*_delete': { action: 'deny' } } },
    call: { tool: 'db_users_archive_delete' },
    expect: { action: 'deny', matched: 'db_*_delete' },
  },
  {
    name: 'a glob in the middle still needs the literal parts',
    policy: { ...V1, default: 'allow', tools: { 'db_*_delete': { action: 'deny' } } },
    call: { tool: 'db_users_read' },
    expect: { action: 'allow', rule: 'default', matched: null },
  },
  {
    name: 'a glob is anchored at both ends',
    policy: { ...V1, default: 'allow', tools: { 'read*': { action: 'deny' } } },
    call: { tool: 'unread_file' },
    expect: { action: 'allow', rule: 'default' },
  },
  {
    name: '* matches an empty run',
    policy: { ...V1, default: 'deny', tools: { 'list_*': {} } },
    call: { tool: 'list_' },
    expect: { action: 'allow', matched: 'list_*' },
  },
  {
    name: 'a dot in a glob is literal, not "any character"',
    policy: { ...V1, default: 'deny', tools: { 'file.*': {} } },
    call: { tool: 'fileXread' },
    expect: { action: 'deny', rule: 'default' },
  },
  {
    name: 'a dot in a glob matches a dot',
    policy: { ...V1, default: 'deny', tools: { 'file.*': {} } },
    call: { tool: 'file.read' },
    expect: { action: 'allow', matched: 'file.*' },
  },
  {
    name: 'regex characters in a glob are literal',
    policy: { ...V1, default: 'deny', tools: { 'a+b(*)': {} } },
    call: { tool: 'a+b(x)' },
    expect: { action: 'allow', matched: 'a+b(*)' },
  },
  {
    name: 'brackets and braces in a glob are literal (no picomatch classes)',
    policy: { ...V1, default: 'deny', tools: { '[ab]_{x,y}*': {} } },
    call: { tool: 'a_x' },
    expect: { action: 'deny', rule: 'default' },
  },
  {
    name: '"*" as a tool key matches every tool not listed exactly',
    policy: { ...V1, default: 'allow', tools: { '*': { action: 'require_approval' }, ping: {} } },
    call: { tool: 'anything' },
    expect: { action: 'require_approval', rule: 'tools.*', matched: '*' },
  },
];

const hideCases: Case[] = [
  {
    name: 'a hidden tool is answered as hidden, with the hide entry as rule',
    policy: { ...V1, default: 'allow', hide: ['delete_account'] },
    call: { tool: 'delete_account' },
    expect: { action: 'hide', rule: 'hide[0]', matched: null, reasonIs: 'delete_account is hidden by the policy (hide[0]: "delete_account")' },
  },
  {
    name: 'the rule names the hide entry that matched',
    policy: { ...V1, default: 'allow', hide: ['a', 'b'] },
    call: { tool: 'b' },
    expect: { action: 'hide', rule: 'hide[1]' },
  },
  {
    name: 'a hide glob hides every matching name',
    policy: { ...V1, default: 'allow', hide: ['admin_*'] },
    call: { tool: 'admin_reset_password' },
    expect: { action: 'hide', rule: 'hide[0]' },
  },
  {
    name: 'a hide glob with ? hides one-character variants only',
    policy: { ...V1, default: 'allow', hide: ['tmp?'] },
    call: { tool: 'tmp12' },
    expect: { action: 'allow', rule: 'default' },
  },
  {
    name: 'a hide glob in the middle of a name',
    policy: { ...V1, default: 'allow', hide: ['*_secret_*'] },
    call: { tool: 'read_secret_value' },
    expect: { action: 'hide', rule: 'hide[0]' },
  },
  {
    name: 'a name in hide does not hide names it only starts',
    policy: { ...V1, default: 'allow', hide: ['delete'] },
    call: { tool: 'delete_account' },
    expect: { action: 'allow', rule: 'default' },
  },
  {
    name: 'hide "*" hides a listed tool too',
    policy: { ...V1, default: 'deny', hide: ['*'], tools: { list_customers: {} } },
    call: { tool: 'list_customers' },
    expect: { action: 'hide', rule: 'hide[0]' },
  },
  {
    name: 'hide "*" hides an unlisted tool under default allow',
    policy: { ...V1, default: 'allow', hide: ['*'] },
    call: { tool: 'whatever' },
    expect: { action: 'hide', rule: 'hide[0]' },
  },
  {
    name: 'hide beats deny: a hidden and denied tool is hidden',
    policy: { ...V1, default: 'allow', hide: ['drop_table'], tools: { drop_table: { action: 'deny', reason: 'never' } } },
    call: { tool: 'drop_table' },
    expect: { action: 'hide', rule: 'hide[0]' },
  },
  {
    name: 'hide beats approval and carries no limits',
    policy: { ...V1, default: 'allow', hide: ['export_*'], all_tools: { limits: [{ counter: 'all', window: 60, max: 5 }] }, tools: { export_csv: { action: 'require_approval', limits: [{ counter: 'x', window: 60, max: 1 }] } } },
    call: { tool: 'export_csv' },
    expect: { action: 'hide', rule: 'hide[0]', limits: [] },
  },
  {
    name: 'hide beats a changed tool definition',
    policy: { ...V1, default: 'allow', hide: ['x'], on_tool_change: 'deny' },
    call: { tool: 'x', changed: true },
    expect: { action: 'hide', rule: 'hide[0]' },
  },
];

const precedenceCases: Case[] = [
  {
    name: 'deny_if beats approve_if when both fire',
    policy: { ...V1, default: 'deny', tools: { pay: { deny_if: [{ path: 'args.amount', op: 'gt', value: 10000 }], approve_if: [{ path: 'args.amount', op: 'gt', value: 100 }] } } },
    call: { tool: 'pay', args: { amount: 20000 } },
    expect: { action: 'deny', rule: 'tools.pay.deny_if[0]', matched: 'pay' },
  },
  {
    name: 'approve_if asks for approval when deny_if does not fire',
    policy: { ...V1, default: 'deny', tools: { pay: { deny_if: [{ path: 'args.amount', op: 'gt', value: 10000 }], approve_if: [{ path: 'args.amount', op: 'gt', value: 100 }] } } },
    call: { tool: 'pay', args: { amount: 500 } },
    expect: { action: 'require_approval', rule: 'tools.pay.approve_if[0]', matched: 'pay' },
  },
  {
    name: 'neither deny_if nor approve_if firing allows the call',
    policy: { ...V1, default: 'deny', tools: { pay: { deny_if: [{ path: 'args.amount', op: 'gt', value: 10000 }], approve_if: [{ path: 'args.amount', op: 'gt', value: 100 }] } } },
    call: { tool: 'pay', args: { amount: 50 } },
    expect: { action: 'allow', rule: 'tools.pay', matched: 'pay', reasonIs: 'pay is allowed by tools.pay' },
  },
  {
    name: 'action require_approval with a deny_if that fires is denied',
    policy: { ...V1, default: 'deny', tools: { wire: { action: 'require_approval', deny_if: [{ path: 'args.country', op: 'in', value: ['KP'] }] } } },
    call: { tool: 'wire', args: { country: 'KP' } },
    expect: { action: 'deny', rule: 'tools.wire.deny_if[0]' },
  },
  {
    name: 'action require_approval with a deny_if that does not fire asks for approval',
    policy: { ...V1, default: 'deny', tools: { wire: { action: 'require_approval', deny_if: [{ path: 'args.country', op: 'in', value: ['KP'] }] } } },
    call: { tool: 'wire', args: { country: 'NO' } },
    expect: { action: 'require_approval', rule: 'tools.wire', reasonIs: 'tools.wire requires approval' },
  },
  {
    name: 'action require_approval with a failing require is denied',
    policy: { ...V1, default: 'deny', tools: { wire: { action: 'require_approval', require: [{ path: 'args.memo', op: 'exists' }] } } },
    call: { tool: 'wire', args: {} },
    expect: { action: 'deny', rule: 'tools.wire.require[0]' },
  },
  {
    name: 'approve_if with action allow asks for approval when it fires',
    policy: { ...V1, default: 'deny', tools: { deploy: { action: 'allow', approve_if: [{ path: 'args.env', op: 'eq', value: 'prod' }] } } },
    call: { tool: 'deploy', args: { env: 'prod' } },
    expect: { action: 'require_approval', rule: 'tools.deploy.approve_if[0]' },
  },
  {
    name: 'action require_approval takes the approval even where approve_if would too',
    policy: { ...V1, default: 'deny', tools: { deploy: { action: 'require_approval', approve_if: [{ path: 'args.env', op: 'eq', value: 'prod' }] } } },
    call: { tool: 'deploy', args: { env: 'prod' } },
    expect: { action: 'require_approval', rule: 'tools.deploy' },
  },
  {
    name: 'action deny denies even when no condition fires',
    policy: { ...V1, default: 'allow', tools: { rm: { action: 'deny', approve_if: [{ path: 'args.x', op: 'exists' }] } } },
    call: { tool: 'rm', args: {} },
    expect: { action: 'deny', rule: 'tools.rm', matched: 'rm', reasonIs: 'rm is denied by tools.rm' },
  },
  {
    name: 'action deny beats a require that holds and an approve_if that fires',
    policy: { ...V1, default: 'allow', tools: { rm: { action: 'deny', require: [{ path: 'args.x', op: 'exists' }], approve_if: [{ path: 'args.x', op: 'exists' }] } } },
    call: { tool: 'rm', args: { x: 1 } },
    expect: { action: 'deny', rule: 'tools.rm' },
  },
  {
    name: 'a failing require beats an approve_if that fires',
    policy: { ...V1, default: 'deny', tools: { refund: { require: [{ path: 'args.reason', op: 'exists' }], approve_if: [{ path: 'args.amount', op: 'gt', value: 100 }] } } },
    call: { tool: 'refund', args: { amount: 500 } },
    expect: { action: 'deny', rule: 'tools.refund.require[0]' },
  },
  {
    name: 'deny_if fires if any condition holds: the second one here',
    policy: { ...V1, default: 'deny', tools: { q: { deny_if: [{ path: 'args.sql', op: 'contains', value: 'DROP' }, { path: 'args.sql', op: 'contains', value: 'TRUNCATE' }] } } },
    call: { tool: 'q', args: { sql: 'TRUNCATE t' } },
    expect: { action: 'deny', rule: 'tools.q.deny_if[1]' },
  },
  {
    name: 'deny_if reports the first condition that fires',
    policy: { ...V1, default: 'deny', tools: { q: { deny_if: [{ path: 'args.sql', op: 'contains', value: 'DROP' }, { path: 'args.sql', op: 'contains', value: 'TABLE' }] } } },
    call: { tool: 'q', args: { sql: 'DROP TABLE t' } },
    expect: { action: 'deny', rule: 'tools.q.deny_if[0]' },
  },
  {
    name: 'approve_if fires if any condition holds: the second one here',
    policy: { ...V1, default: 'deny', tools: { q: { approve_if: [{ path: 'args.rows', op: 'gt', value: 1000 }, { path: 'args.table', op: 'eq', value: 'users' }] } } },
    call: { tool: 'q', args: { rows: 1, table: 'users' } },
    expect: { action: 'require_approval', rule: 'tools.q.approve_if[1]' },
  },
  {
    name: 'require needs every condition: the second one fails here',
    policy: { ...V1, default: 'deny', tools: { refund: { require: [{ path: 'args.reason', op: 'exists' }, { path: 'args.currency', op: 'in', value: ['usd', 'eur'] }] } } },
    call: { tool: 'refund', args: { reason: 'dup', currency: 'gbp' } },
    expect: { action: 'deny', rule: 'tools.refund.require[1]' },
  },
  {
    name: 'require with every condition holding allows the call',
    policy: { ...V1, default: 'deny', tools: { refund: { require: [{ path: 'args.reason', op: 'exists' }, { path: 'args.currency', op: 'in', value: ['usd', 'eur'] }] } } },
    call: { tool: 'refund', args: { reason: 'dup', currency: 'usd' } },
    expect: { action: 'allow', rule: 'tools.refund' },
  },
  {
    name: 'a listed tool under default deny is allowed with no arguments at all',
    policy: { ...V1, default: 'deny', tools: { ping: { deny_if: [{ path: 'args.x', op: 'eq', value: 1 }] } } },
    call: { tool: 'ping' },
    expect: { action: 'allow', rule: 'tools.ping' },
  },
];

const requireSchemaCases: Case[] = [
  {
    name: 'a failing require denies with the condition as rule and what was missing',
    policy: { ...V1, default: 'deny', tools: { create_refund: { require: [{ path: 'args.reason', op: 'exists' }] } } },
    call: { tool: 'create_refund', args: { amount: 5 } },
    expect: { action: 'deny', rule: 'tools.create_refund.require[0]', matched: 'create_refund', reasonIs: 'required: args.reason is not present' },
  },
  {
    name: 'a require that holds allows',
    policy: { ...V1, default: 'deny', tools: { create_refund: { require: [{ path: 'args.reason', op: 'exists' }] } } },
    call: { tool: 'create_refund', args: { reason: 'duplicate' } },
    expect: { action: 'allow', rule: 'tools.create_refund' },
  },
  {
    name: 'a require on a missing path says it is missing and what the rule wants',
    policy: { ...V1, default: 'deny', tools: { deploy: { require: [{ path: 'args.env', op: 'eq', value: 'staging' }] } } },
    call: { tool: 'deploy', args: {} },
    expect: { action: 'deny', rule: 'tools.deploy.require[0]', reasonIs: 'required: args.env is missing (the rule wants it equal to "staging")' },
  },
  {
    name: 'a failing schema denies with ajv\'s message and the argument path',
    policy: { ...V1, default: 'deny', tools: { create_refund: { schema: { type: 'object', properties: { currency: { enum: ['usd', 'eur'] } } } } } },
    call: { tool: 'create_refund', args: { currency: 'gbp' } },
    expect: { action: 'deny', rule: 'tools.create_refund.schema', matched: 'create_refund', reason: ['arguments do not match the schema', 'args.currency must be equal to one of the allowed values'] },
  },
  {
    name: 'a passing schema allows',
    policy: { ...V1, default: 'deny', tools: { create_refund: { schema: { type: 'object', properties: { currency: { enum: ['usd', 'eur'] } } } } } },
    call: { tool: 'create_refund', args: { currency: 'eur' } },
    expect: { action: 'allow', rule: 'tools.create_refund' },
  },
  {
    name: 'a schema\'s required property missing is reported on the arguments',
    policy: { ...V1, default: 'deny', tools: { t: { schema: { type: 'object', required: ['id'] } } } },
    call: { tool: 't', args: {} },
    expect: { action: 'deny', rule: 'tools.t.schema', reason: ["arguments must have required property 'id'"] },
  },
  {
    name: 'a schema reports every error, joined',
    policy: { ...V1, default: 'deny', tools: { t: { schema: { type: 'object', properties: { n: { type: 'integer' }, s: { type: 'string' } } } } } },
    call: { tool: 't', args: { n: 'x', s: 1 } },
    expect: { action: 'deny', reason: ['args.n must be integer; args.s must be string'] },
  },
  {
    name: 'a schema error inside a list names the item',
    policy: { ...V1, default: 'deny', tools: { t: { schema: { type: 'object', properties: { items: { type: 'array', items: { type: 'object', properties: { price: { type: 'number', maximum: 100 } } } } } } } } },
    call: { tool: 't', args: { items: [{ price: 1 }, { price: 101 }] } },
    expect: { action: 'deny', reason: ['args.items.1.price must be <= 100'] },
  },
  {
    name: 'a schema with additionalProperties false refuses unexpected arguments',
    policy: { ...V1, default: 'deny', tools: { t: { schema: { type: 'object', properties: { a: {} }, additionalProperties: false } } } },
    call: { tool: 't', args: { a: 1, sneaky: true } },
    expect: { action: 'deny', rule: 'tools.t.schema', reason: ['must NOT have additional properties'] },
  },
  {
    name: 'a schema applies to a call without arguments as to {}',
    policy: { ...V1, default: 'deny', tools: { t: { schema: { type: 'object', required: ['id'] } } } },
    call: { tool: 't' },
    expect: { action: 'deny', rule: 'tools.t.schema' },
  },
  {
    name: 'a call without arguments passes an object schema that {} passes',
    policy: { ...V1, default: 'deny', tools: { t: { schema: { type: 'object', properties: { id: { type: 'string' } } } } } },
    call: { tool: 't' },
    expect: { action: 'allow', rule: 'tools.t' },
  },
  {
    name: 'a schema with formats checks them (ajv-formats)',
    policy: { ...V1, default: 'deny', tools: { t: { schema: { type: 'object', properties: { to: { type: 'string', format: 'email' } } } } } },
    call: { tool: 't', args: { to: 'not an address' } },
    expect: { action: 'deny', reason: ['args.to must match format "email"'] },
  },
  {
    name: 'a schema with $id and $ref to its $defs works',
    policy: { ...V1, default: 'deny', tools: { t: { schema: { $id: 'https://example.com/refund', type: 'object', properties: { amount: { $ref: '#/$defs/money' } }, $defs: { money: { type: 'number', minimum: 0 } } } } } },
    call: { tool: 't', args: { amount: -1 } },
    expect: { action: 'deny', reason: ['args.amount must be >= 0'] },
  },
  {
    name: 'a failing schema beats an approve_if that fires',
    policy: { ...V1, default: 'deny', tools: { t: { schema: { type: 'object', properties: { n: { type: 'number' } } }, approve_if: [{ path: 'args.n', op: 'exists' }] } } },
    call: { tool: 't', args: { n: 'x' } },
    expect: { action: 'deny', rule: 'tools.t.schema' },
  },
];

const defaultRiskCases: Case[] = [
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
    expect: { action: 'require_approval', rule: 'risk.write', matched: null, reason: ['update_row is not listed', 'its risk class is write', 'risk.write is require_approval'], approval: NO_APPROVAL_SETTINGS },
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
    policy: { ...V1, default: 'deny', risk: { write: 'require_approval' }, all_tools: { limits: [{ counter: 'calls', window: 'hour', max: 100 }] } },
    call: { tool: 'update_row', risk: 'write' },
    expect: { action: 'require_approval', limits: [limit('calls', 'hour', 3_600_000, 100, 'grant', 'all_tools.limits[0]')], approval: NO_APPROVAL_SETTINGS },
  },
];

const toolChangeCases: Case[] = [
  {
    name: 'a changed listed tool requires approval by default',
    policy: { ...V1, default: 'deny', tools: { search: {} } },
    call: { tool: 'search', changed: true },
    expect: { action: 'require_approval', rule: 'on_tool_change', matched: 'search', reason: ['search changed its description or input schema', 'a person must confirm'], approval: NO_APPROVAL_SETTINGS },
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
    policy: { ...V1, default: 'deny', on_tool_change: 'deny', tools: { pay: { approve_if: [{ path: 'args.amount', op: 'gt', value: 1 }] } } },
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
    name: 'an on_tool_change approval carries the rule\'s limits and approval settings',
    policy: { ...V1, default: 'deny', tools: { search: { limits: [{ counter: 's', window: 60, max: 3 }], approval: { approvers: ['U1'], min_approvals: 2 } } } },
    call: { tool: 'search', changed: true },
    expect: { action: 'require_approval', rule: 'on_tool_change', limits: [limit('s', 60, 60_000, 3, 'grant', 'tools.search.limits[0]')], approval: { approvers: ['U1'], min_approvals: 2 } },
  },
  {
    name: 'an on_tool_change approval of an unlisted tool carries all_tools limits',
    policy: { ...V1, default: 'allow', all_tools: { limits: [{ counter: 'all', window: 'day', max: 1000, scope: 'global' }] } },
    call: { tool: 'search', changed: true },
    expect: { action: 'require_approval', rule: 'on_tool_change', limits: [limit('all', 'day', 86_400_000, 1000, 'global', 'all_tools.limits[0]')] },
  },
];

const WINDOWS: [string | number, number][] = [
  ['second', 1_000], ['minute', 60_000], ['hour', 3_600_000], ['day', 86_400_000],
  [60, 60_000], [0.5, 500], ['90s', 90_000], ['15m', 900_000], ['1h', 3_600_000], ['1d', 86_400_000], ['250ms', 250],
];

const limitCases: Case[] = [
  ...WINDOWS.map(([window, ms]): Case => ({
    name: `a limit window of ${JSON.stringify(window)} is ${ms} ms`,
    policy: { ...V1, default: 'deny', tools: { t: { limits: [{ counter: 'c', window, max: 7 }] } } },
    call: { tool: 't' },
    expect: { action: 'allow', limits: [limit('c', window, ms, 7, 'grant', 'tools.t.limits[0]')] },
  })),
  {
    name: 'a limit keeps its scope and max, and several limits keep their order',
    policy: { ...V1, default: 'deny', tools: { t: { limits: [{ counter: 'a', window: 60, max: 0, scope: 'session' }, { counter: 'b', window: 'hour', max: 9, scope: 'global' }] } } },
    call: { tool: 't' },
    expect: { action: 'allow', limits: [limit('a', 60, 60_000, 0, 'session', 'tools.t.limits[0]'), limit('b', 'hour', 3_600_000, 9, 'global', 'tools.t.limits[1]')] },
  },
  {
    name: 'rate_limit is one limit with counter <tool>_rate and scope session',
    policy: { ...V1, default: 'deny', tools: { export: { rate_limit: { max: 10, window: 60 } } } },
    call: { tool: 'export' },
    expect: { action: 'allow', limits: [limit('export_rate', 60, 60_000, 10, 'session', 'tools.export.rate_limit')] },
  },
  {
    name: 'rate_limit on a glob key counts under the called tool\'s name',
    policy: { ...V1, default: 'deny', tools: { 'export_*': { rate_limit: { max: 2, window: '1h' } } } },
    call: { tool: 'export_csv' },
    expect: { action: 'allow', matched: 'export_*', limits: [limit('export_csv_rate', '1h', 3_600_000, 2, 'session', 'tools.export_*.rate_limit')] },
  },
  {
    name: 'limits come in order: the tool\'s limits, its rate_limit, then all_tools',
    policy: { ...V1, default: 'deny', all_tools: { limits: [{ counter: 'all', window: 'minute', max: 100 }] }, tools: { t: { limits: [{ counter: 'own', window: 'hour', max: 5 }], rate_limit: { max: 1, window: 'second' } } } },
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
    policy: { ...V1, default: 'deny', all_tools: { limits: [{ counter: 'all', window: 60, max: 30 }, { counter: 'daily', window: '1d', max: 500, scope: 'global' }] }, tools: { t: {} } },
    call: { tool: 't' },
    expect: { action: 'allow', limits: [limit('all', 60, 60_000, 30, 'grant', 'all_tools.limits[0]'), limit('daily', '1d', 86_400_000, 500, 'global', 'all_tools.limits[1]')] },
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
    policy: { ...V1, default: 'deny', all_tools: { limits: [{ counter: 'all', window: 60, max: 30 }] }, tools: { wire: { action: 'require_approval', limits: [{ counter: 'w', window: 'day', max: 3 }] } } },
    call: { tool: 'wire' },
    expect: { action: 'require_approval', limits: [limit('w', 'day', 86_400_000, 3, 'grant', 'tools.wire.limits[0]'), limit('all', 60, 60_000, 30, 'grant', 'all_tools.limits[0]')] },
  },
  {
    name: 'limits are carried when approve_if asks for approval',
    policy: { ...V1, default: 'deny', tools: { pay: { approve_if: [{ path: 'args.amount', op: 'gt', value: 100 }], rate_limit: { max: 5, window: '15m' } } } },
    call: { tool: 'pay', args: { amount: 500 } },
    expect: { action: 'require_approval', limits: [limit('pay_rate', '15m', 900_000, 5, 'session', 'tools.pay.rate_limit')] },
  },
  {
    name: 'no limits on an action deny decision',
    policy: { ...V1, default: 'deny', all_tools: { limits: [{ counter: 'all', window: 60, max: 30 }] }, tools: { rm: { action: 'deny', limits: [{ counter: 'r', window: 60, max: 1 }], rate_limit: { max: 1, window: 60 } } } },
    call: { tool: 'rm' },
    expect: { action: 'deny', limits: [] },
  },
  {
    name: 'no limits when deny_if fires',
    policy: { ...V1, default: 'deny', all_tools: { limits: [{ counter: 'all', window: 60, max: 30 }] }, tools: { pay: { deny_if: [{ path: 'args.amount', op: 'gt', value: 100 }], limits: [{ counter: 'p', window: 60, max: 1 }] } } },
    call: { tool: 'pay', args: { amount: 500 } },
    expect: { action: 'deny', limits: [] },
  },
  {
    name: 'no limits when require fails',
    policy: { ...V1, default: 'deny', all_tools: { limits: [{ counter: 'all', window: 60, max: 30 }] }, tools: { pay: { require: [{ path: 'args.memo', op: 'exists' }], limits: [{ counter: 'p', window: 60, max: 1 }] } } },
    call: { tool: 'pay' },
    expect: { action: 'deny', limits: [] },
  },
  {
    name: 'no limits when the schema fails',
    policy: { ...V1, default: 'deny', tools: { pay: { schema: { type: 'object', required: ['memo'] }, rate_limit: { max: 1, window: 60 } } } },
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

const approvalCases: Case[] = [
  {
    name: 'the approval block is carried in a require_approval decision',
    policy: { ...V1, default: 'deny', tools: { wire: { action: 'require_approval', approval: { timeout: '15m', approvers: ['U0123ABCD', 'S0456GROUP'], min_approvals: 2, channel: 'C999' } } } },
    call: { tool: 'wire' },
    expect: { action: 'require_approval', approval: { timeout_ms: 900_000, approvers: ['U0123ABCD', 'S0456GROUP'], min_approvals: 2, channel: 'C999' } },
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
    policy: { ...V1, default: 'deny', tools: { pay: { approve_if: [{ path: 'args.amount', op: 'gt', value: 100 }], approval: { approvers: ['U1'], timeout: '1h' } } } },
    call: { tool: 'pay', args: { amount: 101 } },
    expect: { action: 'require_approval', approval: { timeout_ms: 3_600_000, approvers: ['U1'], min_approvals: 1 } },
  },
  {
    name: 'an allowed call carries no approval even when the rule has an approval block',
    policy: { ...V1, default: 'deny', tools: { pay: { approve_if: [{ path: 'args.amount', op: 'gt', value: 100 }], approval: { approvers: ['U1'] } } } },
    call: { tool: 'pay', args: { amount: 99 } },
    expect: { action: 'allow' },
  },
  {
    name: 'a denied call carries no approval even when the rule has an approval block',
    policy: { ...V1, default: 'deny', tools: { pay: { action: 'require_approval', deny_if: [{ path: 'args.amount', op: 'gt', value: 100 }], approval: { approvers: ['U1'] } } } },
    call: { tool: 'pay', args: { amount: 101 } },
    expect: { action: 'deny' },
  },
];

const textCases: Case[] = [
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
    expect: { action: 'deny', rule: 'tools.pay.deny_if[0]', reasonIs: 'args.amount is a string "20000", which gt cannot compare with 10000' },
  },
  {
    name: 'an approval on a type mismatch says so',
    policy: { ...V1, default: 'deny', tools: { pay: { approve_if: [{ path: 'args.to', op: 'ends_with', value: '@corp.com' }] } } },
    call: { tool: 'pay', args: { to: ['a@corp.com'] } },
    expect: { action: 'require_approval', reasonIs: 'args.to is a list ["a@corp.com"], which ends_with cannot compare with "@corp.com"' },
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

const CONTRACT_EXAMPLE = {
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

const CONTRACT_EXAMPLE_YAML = `
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

const contractExpectations: { call: ToolCall; expect: Expect; what: string }[] = [
  { what: 'list_customers is allowed', call: { tool: 'list_customers' }, expect: { action: 'allow', rule: 'tools.list_customers', limits: [] } },
  {
    what: 'start_dicom_export_job needs approval, with its limit and approval settings',
    call: { tool: 'start_dicom_export_job', args: { study: '1.2.3' } },
    expect: { action: 'require_approval', rule: 'tools.start_dicom_export_job', reasonIs: 'Starts a bulk export of imaging data', limits: [DICOM_LIMIT], approval: { timeout_ms: 900_000, approvers: ['U0123ABCD', 'S0456GROUP'], min_approvals: 1 } },
  },
  { what: 'create_refund without a reason is denied by require', call: { tool: 'create_refund', args: { amount: 50 } }, expect: { action: 'deny', rule: 'tools.create_refund.require[0]' } },
  { what: 'create_refund over 10000 is denied by deny_if', call: { tool: 'create_refund', args: { reason: 'r', amount: 20000 } }, expect: { action: 'deny', rule: 'tools.create_refund.deny_if[0]', reason: ['args.amount is 20000', 'greater than 10000'] } },
  { what: 'create_refund over 100 needs approval', call: { tool: 'create_refund', args: { reason: 'r', amount: 500 } }, expect: { action: 'require_approval', rule: 'tools.create_refund.approve_if[0]', reason: ['args.amount is 500', 'greater than 100'] } },
  { what: 'a small create_refund is allowed', call: { tool: 'create_refund', args: { reason: 'r', amount: 50, currency: 'usd' } }, expect: { action: 'allow', rule: 'tools.create_refund' } },
  { what: 'create_refund in gbp fails the schema', call: { tool: 'create_refund', args: { reason: 'r', amount: 50, currency: 'gbp' } }, expect: { action: 'deny', rule: 'tools.create_refund.schema', reason: ['must be equal to one of the allowed values'] } },
  { what: 'delete_records is denied by the glob with its reason', call: { tool: 'delete_records' }, expect: { action: 'deny', rule: 'tools.delete_*', matched: 'delete_*', reasonIs: 'Agents may not delete' } },
  { what: 'delete_account is hidden, not merely denied', call: { tool: 'delete_account' }, expect: { action: 'hide', rule: 'hide[0]' } },
  { what: 'an unlisted tool is denied by default', call: { tool: 'describe_cases' }, expect: { action: 'deny', rule: 'default' } },
];

const documentCases: Case[] = [
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
    policy: '{"version":"1","default":"deny","hide":["delete_account"],"all_tools":{"limits":[]},"tools":{"create_charge":{"require":[],"deny_if":[],"limits":[]}}}',
    call: { tool: 'create_charge', args: { amount: 1 } },
    expect: { action: 'allow', rule: 'tools.create_charge', limits: [] },
  },
  {
    name: 'seed: start_dicom_export_job is allowed with its rate limit',
    policy: '{"version":"1","default":"deny","tools":{"start_dicom_export_job":{"limits":[{"counter":"start_dicom_export_job_rate","window":"minute","max":10,"scope":"grant"}]}}}',
    call: { tool: 'start_dicom_export_job' },
    expect: { action: 'allow', rule: 'tools.start_dicom_export_job', limits: [DICOM_LIMIT] },
  },
  {
    name: 'seed: describe_cases is denied because it is not listed and the default is deny',
    policy: '{"version":"1","default":"deny","tools":{"start_dicom_export_job":{"limits":[{"counter":"start_dicom_export_job_rate","window":"minute","max":10,"scope":"grant"}]}}}',
    call: { tool: 'describe_cases' },
    expect: { action: 'deny', rule: 'default', reason: ['describe_cases is not listed', 'the default is deny'] },
  },
  ...contractExpectations.map(({ what, call, expect }): Case => ({ name: `CONTRACT.md example (JSON): ${what}`, policy: CONTRACT_EXAMPLE, call, expect })),
  ...contractExpectations.map(({ what, call, expect }): Case => ({ name: `CONTRACT.md example (YAML): ${what}`, policy: CONTRACT_EXAMPLE_YAML, file: 'policies/example.yaml', call, expect })),
];

const cases: Case[] = [
  ...globCases,
  ...hideCases,
  ...precedenceCases,
  ...requireSchemaCases,
  ...defaultRiskCases,
  ...toolChangeCases,
  ...limitCases,
  ...approvalCases,
  ...textCases,
  ...documentCases,
];

for (const c of cases) {
  test(c.name, () => check(decide(c.policy, c.call, c.file), c.expect));
}

// Not decisions, but the same compiled policy used again and again.
const reuseCases: { name: string; run: () => void }[] = [
  {
    name: 'a glob lookup gives the same answer the second time (the lookup memo)',
    run: () => {
      const policy = policyFrom({ ...V1, default: 'deny', tools: { 'send_*': { action: 'require_approval' } } });
      for (const tool of ['send_email', 'send_email', 'other', 'other']) {
        assert.equal(evaluate(policy, { tool }).action, tool === 'other' ? 'deny' : 'require_approval');
      }
    },
  },
  {
    name: 'isHidden answers for exact names and globs',
    run: () => {
      const policy = policyFrom({ ...V1, default: 'allow', hide: ['secret', 'admin_*'] });
      assert.deepEqual(['secret', 'admin_x', 'secrets', 'public'].map((t) => isHidden(policy, t)), [true, true, false, false]);
    },
  },
  {
    name: 'a policy whose schema has an $id can be loaded again (a reload)',
    run: () => {
      const doc = { ...V1, default: 'deny', tools: { t: { schema: { $id: 'https://example.com/reloaded', type: 'object', required: ['id'] } } } };
      const first = policyFrom(doc);
      const second = policyFrom(doc);
      for (const policy of [first, second]) {
        assert.equal(evaluate(policy, { tool: 't', args: { id: 1 } }).action, 'allow');
        assert.equal(evaluate(policy, { tool: 't', args: {} }).action, 'deny');
      }
    },
  },
  {
    name: 'two tools may use schemas with the same $id',
    run: () => {
      const schema = (type: string) => ({ $id: 'https://example.com/shared', type: 'object', properties: { v: { type } } });
      const policy = policyFrom({ ...V1, default: 'deny', tools: { a: { schema: schema('string') }, b: { schema: schema('number') } } });
      assert.equal(evaluate(policy, { tool: 'a', args: { v: 'x' } }).action, 'allow');
      assert.equal(evaluate(policy, { tool: 'b', args: { v: 'x' } }).action, 'deny');
    },
  },
  {
    name: 'evaluating does not change the arguments it was given',
    run: () => {
      const policy = policyFrom({ ...V1, default: 'deny', tools: { t: { schema: { type: 'object', properties: { n: { type: 'number', default: 1 } } }, deny_if: [{ path: 'args.n', op: 'exists' }] } } });
      const args = {};
      assert.equal(evaluate(policy, { tool: 't', args }).action, 'allow');
      assert.deepEqual(args, {});
    },
  },
];

for (const c of reuseCases) test(c.name, c.run);
