import { test } from 'node:test';
import { checkDecision, decide, type DecisionCase, V1 } from '../support/policy.js';

const globCases: DecisionCase[] = [
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

const hideCases: DecisionCase[] = [
  {
    name: 'a hidden tool is answered as hidden, with the hide entry as rule',
    policy: { ...V1, default: 'allow', hide: ['delete_account'] },
    call: { tool: 'delete_account' },
    expect: {
      action: 'hide',
      rule: 'hide[0]',
      matched: null,
      reasonIs: 'delete_account is hidden by the policy (hide[0]: "delete_account")',
    },
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
    policy: {
      ...V1,
      default: 'allow',
      hide: ['export_*'],
      all_tools: { limits: [{ counter: 'all', window: 60, max: 5 }] },
      tools: { export_csv: { action: 'require_approval', limits: [{ counter: 'x', window: 60, max: 1 }] } },
    },
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

for (const c of [...globCases, ...hideCases]) {
  test(c.name, () => checkDecision(decide(c.policy, c.call, c.file), c.expect));
}
