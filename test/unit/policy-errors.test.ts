import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DocumentError, ErrorCode } from '../../src/errors.js';
import { evaluate, loadPolicyFile } from '../../src/policy/index.js';
import { policyError, policyFrom } from '../support/policy.js';

interface Expected {
  /** Path inside the document, as the message prints it; '' for the whole file. */
  path: string;
  /** Substrings the problem's message must contain. */
  says: string[];
  line?: number;
}

interface Case {
  name: string;
  policy: object | string;
  file?: string;
  /** Every problem, one per mistake, in the order reported unless `anyOrder`. */
  problems: Expected[];
  anyOrder?: boolean;
}

const V1 = { version: '1', default: 'deny' } as const;
const tool = (rule: object) => ({ ...V1, tools: { x: rule } });
const condition = (c: object) => tool({ deny_if: [c] });
const limit = (l: object) => tool({ limits: [{ counter: 'c', window: 60, max: 1, ...l }] });

const COUNTER_CHARS = 'counter names use letters, digits, "_", "-" and "." only';

const cases: Case[] = [
  // actions, operators, keys
  {
    name: 'a misspelt action suggests the right one',
    policy: tool({ action: 'alow' }),
    problems: [{ path: 'tools.x.action', says: ['got "alow"', 'did you mean "allow"?'] }],
  },
  {
    name: 'an unknown action lists the accepted ones',
    policy: tool({ action: 'ask' }),
    problems: [{ path: 'tools.x.action', says: ['expected one of "allow", "deny", "require_approval"', 'got "ask"'] }],
  },
  {
    name: 'a misspelt op suggests the right one',
    policy: condition({ path: 'args.a', op: 'gtt', value: 1 }),
    problems: [{ path: 'tools.x.deny_if[0].op', says: ['got "gtt"', 'did you mean "gt"?'] }],
  },
  {
    name: 'an unknown op is refused',
    policy: condition({ path: 'args.a', op: 'between', value: [1, 2] }),
    problems: [{ path: 'tools.x.deny_if[0].op', says: ['"not_exists"', 'got "between"'] }],
  },
  {
    name: 'a condition without op says op is required',
    policy: condition({ path: 'args.a', value: 1 }),
    problems: [{ path: 'tools.x.deny_if[0].op', says: ['required'] }],
  },
  {
    name: 'an unknown top-level key suggests the right one',
    policy: { ...V1, tool: {} },
    problems: [{ path: 'tool', says: ['unknown key', 'did you mean "tools"?'] }],
  },
  {
    name: 'a misspelt hide suggests hide',
    policy: { ...V1, hidden: ['a'] },
    problems: [{ path: 'hidden', says: ['unknown key', 'did you mean "hide"?'] }],
  },
  {
    name: 'an unknown key inside a tool rule suggests the right one',
    policy: tool({ deny_iff: [] }),
    problems: [{ path: 'tools.x.deny_iff', says: ['unknown key', 'did you mean "deny_if"?'] }],
  },
  {
    name: 'an unknown key inside a condition suggests the right one',
    policy: condition({ path: 'args.a', op: 'eq', vaule: 1 }),
    problems: [{ path: 'tools.x.deny_if[0].vaule', says: ['unknown key', 'did you mean "value"?'] }],
  },
  {
    name: 'an unknown key inside a limit suggests the right one',
    policy: limit({ scop: 'grant' }),
    problems: [{ path: 'tools.x.limits[0].scop', says: ['unknown key', 'did you mean "scope"?'] }],
  },
  {
    name: 'an unknown key inside approval suggests the right one',
    policy: tool({ approval: { approver: ['U1'] } }),
    problems: [{ path: 'tools.x.approval.approver', says: ['unknown key', 'did you mean "approvers"?'] }],
  },
  {
    name: 'an unknown risk class lists the classes',
    policy: { ...V1, risk: { dangerous: 'deny' } },
    problems: [{ path: 'risk.dangerous', says: ['unknown key', 'read, write, execute, destructive, unknown'] }],
  },
  {
    name: 'an unknown risk action is refused',
    policy: { ...V1, risk: { write: 'ask' } },
    problems: [{ path: 'risk.write', says: ['got "ask"'] }],
  },
  {
    name: 'an unknown on_tool_change is refused',
    policy: { ...V1, on_tool_change: 'warn' },
    problems: [{ path: 'on_tool_change', says: ['got "warn"'] }],
  },
  {
    name: 'an unknown scope is refused',
    policy: limit({ scope: 'user' }),
    problems: [{ path: 'tools.x.limits[0].scope', says: ['expected one of "grant", "session", "global"', 'got "user"'] }],
  },

  // a key JavaScript objects cannot hold: dropped silently, a deny rule for a tool of that name would never apply
  {
    name: 'a __proto__ key is refused, not dropped (YAML)',
    policy: 'version: "1"\ndefault: allow\ntools:\n  __proto__: { action: deny }\n',
    file: 'p.yaml',
    problems: [{ path: 'tools.__proto__', says: ['the key "__proto__" cannot be used', 'would never apply'], line: 4 }],
  },
  {
    name: 'a __proto__ key is refused wherever it is (JSON)',
    policy: '{"version": "1", "default": "allow", "tools": {"x": {"action": "require_approval", "approval": {"__proto__": {}}}}}',
    file: 'p.json',
    problems: [{ path: 'tools.x.approval.__proto__', says: ['cannot be used'] }],
  },

  // version and default
  {
    name: 'a version other than "1" is refused',
    policy: { version: '2', default: 'deny' },
    problems: [{ path: 'version', says: ['expected one of "1", 1', 'got "2"'] }],
  },
  {
    name: 'a version written as another number is refused',
    policy: { version: 2, default: 'deny' },
    problems: [{ path: 'version', says: ['expected one of "1", 1', 'got 2'] }],
  },
  { name: 'a missing version is refused', policy: { default: 'deny' }, problems: [{ path: 'version', says: ['required'] }] },
  {
    name: 'a missing default is refused',
    policy: { version: '1', tools: {} },
    problems: [{ path: 'default', says: ['required', '"allow", "deny"'] }],
  },
  {
    name: 'default cannot be require_approval (PolicyLayer has allow and deny only)',
    policy: { version: '1', default: 'require_approval' },
    problems: [{ path: 'default', says: ['got "require_approval"'] }],
  },

  // shapes
  {
    name: 'tools must be a mapping',
    policy: { ...V1, tools: [] },
    problems: [{ path: 'tools', says: ['expected a mapping, got a list'] }],
  },
  { name: 'hide must be a list', policy: { ...V1, hide: '*' }, problems: [{ path: 'hide', says: ['expected a list, got "*"'] }] },
  {
    name: 'deny_if must be a list',
    policy: tool({ deny_if: { path: 'args.a', op: 'exists' } }),
    problems: [{ path: 'tools.x.deny_if', says: ['expected a list, got a mapping'] }],
  },
  {
    name: 'a tool rule must be a mapping',
    policy: { ...V1, tools: { x: 'allow' } },
    problems: [{ path: 'tools.x', says: ['expected a mapping, got "allow"'] }],
  },
  {
    name: 'a reason must be text',
    policy: tool({ reason: 42 }),
    problems: [{ path: 'tools.x.reason', says: ['expected a string, got 42'] }],
  },
  {
    name: 'a schema must be a mapping',
    policy: tool({ schema: 'object' }),
    problems: [{ path: 'tools.x.schema', says: ['expected a mapping, got "object"'] }],
  },
  {
    name: 'a YAML file holding a list is refused',
    policy: '- version: "1"\n',
    file: 'p.yaml',
    problems: [{ path: '', says: ['expected a mapping, got a list'] }],
  },

  // limits
  {
    name: 'max must be a number',
    policy: limit({ max: 'ten' }),
    problems: [{ path: 'tools.x.limits[0].max', says: ['expected a number, got "ten"'] }],
  },
  {
    name: 'max must be a whole number',
    policy: limit({ max: 1.5 }),
    problems: [{ path: 'tools.x.limits[0].max', says: ['expected an integer, got 1.5'] }],
  },
  {
    name: 'max cannot be negative',
    policy: limit({ max: -1 }),
    problems: [{ path: 'tools.x.limits[0].max', says: ['must be at least 0, got -1'] }],
  },
  {
    name: 'a negative window is refused',
    policy: limit({ window: -5 }),
    problems: [{ path: 'tools.x.limits[0].window', says: ['must be a positive number of seconds, got -5'] }],
  },
  {
    name: 'a zero window is refused',
    policy: limit({ window: 0 }),
    problems: [{ path: 'tools.x.limits[0].window', says: ['must be a positive number of seconds, got 0'] }],
  },
  {
    name: 'a zero window written with a unit is refused',
    policy: limit({ window: '0s' }),
    problems: [{ path: 'tools.x.limits[0].window', says: ['must be longer than zero, got "0s"'] }],
  },
  {
    name: 'a negative window written with a unit is refused',
    policy: limit({ window: '-5m' }),
    problems: [{ path: 'tools.x.limits[0].window', says: ['expected a duration like', 'got "-5m"'] }],
  },
  {
    name: 'a window that is not a duration is refused',
    policy: limit({ window: 'fortnight' }),
    problems: [{ path: 'tools.x.limits[0].window', says: ['expected a duration like "90s", "15m", "1h", "1d"', 'got "fortnight"'] }],
  },
  {
    name: 'a window with an unknown unit is refused',
    policy: limit({ window: '2w' }),
    problems: [{ path: 'tools.x.limits[0].window', says: ['got "2w"'] }],
  },
  {
    name: 'a window longer than a year is refused',
    policy: limit({ window: '400d' }),
    problems: [{ path: 'tools.x.limits[0].window', says: ['at most 366 days, got "400d"'] }],
  },
  {
    name: 'a bad rate_limit window is refused',
    policy: tool({ rate_limit: { max: 1, window: 'often' } }),
    problems: [{ path: 'tools.x.rate_limit.window', says: ['got "often"'] }],
  },
  {
    name: 'a bad rate_limit max is refused',
    policy: tool({ rate_limit: { max: 'ten', window: 60 } }),
    problems: [{ path: 'tools.x.rate_limit.max', says: ['expected a number, got "ten"'] }],
  },
  {
    name: 'a bad all_tools limit is refused',
    policy: { ...V1, all_tools: { limits: [{ counter: 'all', window: 'minute', max: -3 }] } },
    problems: [{ path: 'all_tools.limits[0].max', says: ['must be at least 0, got -3'] }],
  },
  {
    name: 'a counter name with ":" is refused',
    policy: limit({ counter: 'calls:minute' }),
    problems: [{ path: 'tools.x.limits[0].counter', says: [COUNTER_CHARS, 'no ":"'] }],
  },
  {
    name: 'a counter name with "{" is refused',
    policy: limit({ counter: 'calls{x}' }),
    problems: [{ path: 'tools.x.limits[0].counter', says: [COUNTER_CHARS] }],
  },
  {
    name: 'a counter name with a space is refused',
    policy: { ...V1, all_tools: { limits: [{ counter: 'all calls', window: 60, max: 1 }] } },
    problems: [{ path: 'all_tools.limits[0].counter', says: [COUNTER_CHARS] }],
  },
  {
    name: 'an empty counter name is refused',
    policy: limit({ counter: '' }),
    problems: [{ path: 'tools.x.limits[0].counter', says: [COUNTER_CHARS] }],
  },
  {
    name: 'two limits sharing a counter with different windows are refused',
    policy: {
      ...V1,
      tools: { a: { limits: [{ counter: 'shared', window: 60, max: 1 }] }, b: { limits: [{ counter: 'shared', window: '1h', max: 1 }] } },
    },
    problems: [
      { path: 'tools.b.limits[0].counter', says: ['counter "shared" is also defined at tools.a.limits[0] with another window or scope'] },
    ],
  },
  {
    name: 'two limits sharing a counter with different scopes are refused',
    policy: {
      ...V1,
      all_tools: { limits: [{ counter: 'shared', window: 60, max: 1 }] },
      tools: { b: { limits: [{ counter: 'shared', window: 60, max: 1, scope: 'global' }] } },
    },
    problems: [{ path: 'tools.b.limits[0].counter', says: ['is also defined at all_tools.limits[0]'] }],
  },
  {
    name: 'a counter repeated in one tool with another window is refused',
    policy: tool({
      limits: [
        { counter: 'c', window: 60, max: 1 },
        { counter: 'c', window: 61, max: 1 },
      ],
    }),
    problems: [{ path: 'tools.x.limits[1].counter', says: ['also defined at tools.x.limits[0]'] }],
  },

  // approval
  {
    name: 'min_approvals must be at least 1',
    policy: tool({ approval: { min_approvals: 0 } }),
    problems: [{ path: 'tools.x.approval.min_approvals', says: ['must be at least 1, got 0'] }],
  },
  {
    name: 'an approval timeout longer than 30 days is refused',
    policy: tool({ approval: { timeout: '31d' } }),
    problems: [{ path: 'tools.x.approval.timeout', says: ['at most 30 days, got "31d"'] }],
  },
  {
    name: 'approvers must be a list',
    policy: tool({ approval: { approvers: 'U1' } }),
    problems: [{ path: 'tools.x.approval.approvers', says: ['expected a list, got "U1"'] }],
  },
  {
    name: 'an empty approvers list (it would have let anyone decide)',
    policy: tool({ approval: { approvers: [] } }),
    problems: [
      { path: 'tools.x.approval.approvers', says: ['list at least one approver, or leave the key out to use approvals.approvers'] },
    ],
  },

  // regexes
  {
    name: 'a regex with a syntax error is refused',
    policy: condition({ path: 'args.a', op: 'regex', value: '(ab' }),
    problems: [{ path: 'tools.x.deny_if[0].value', says: ['invalid regex', 'Unterminated group'] }],
  },
  {
    name: 'a regex that may backtrack and needs backreferences is refused',
    policy: condition({ path: 'args.a', op: 'regex', value: '(a+)+\\1' }),
    problems: [
      { path: 'tools.x.deny_if[0].value', says: ['regex "(a+)+\\\\1" is refused', 'backtrack catastrophically', 'backreferences'] },
    ],
  },
  {
    name: 'a regex that may backtrack and needs lookaround is refused',
    policy: condition({ path: 'args.a', op: 'regex', value: '^(?=(a+)+$)b' }),
    problems: [{ path: 'tools.x.deny_if[0].value', says: ['is refused', 'lookaround'] }],
  },
  {
    name: 'a regex pattern must be a string',
    policy: condition({ path: 'args.a', op: 'regex', value: 5 }),
    problems: [{ path: 'tools.x.deny_if[0].value', says: ['regex needs a pattern string as value, got 5'] }],
  },
  {
    name: 'a very long regex is refused',
    policy: condition({ path: 'args.a', op: 'regex', value: 'a'.repeat(1001) }),
    problems: [{ path: 'tools.x.deny_if[0].value', says: ['longer than 1000 characters'] }],
  },

  // JSON Schema
  {
    name: "an invalid JSON Schema type is refused with ajv's reason",
    policy: tool({ schema: { type: 'strng' } }),
    problems: [{ path: 'tools.x.schema', says: ['invalid JSON Schema', 'must be equal to one of the allowed values'] }],
  },
  {
    name: 'a JSON Schema with an unknown keyword is refused (strict)',
    policy: tool({ schema: { type: 'object', propertys: {} } }),
    problems: [{ path: 'tools.x.schema', says: ['unknown keyword: "propertys"'] }],
  },
  {
    name: 'a JSON Schema with an unknown format is refused',
    policy: tool({ schema: { type: 'string', format: 'emale' } }),
    problems: [{ path: 'tools.x.schema', says: ['unknown format "emale"'] }],
  },

  // condition paths and values
  {
    name: 'a condition path must start with args',
    policy: condition({ path: 'amount', op: 'gt', value: 1 }),
    problems: [{ path: 'tools.x.deny_if[0].path', says: ['path must start with "args"', 'got "amount"'] }],
  },
  {
    name: 'a condition path must start with args, not arguments',
    policy: condition({ path: 'arguments.amount', op: 'gt', value: 1 }),
    problems: [{ path: 'tools.x.deny_if[0].path', says: ['got "arguments.amount"'] }],
  },
  {
    name: 'a condition path with an empty step is refused',
    policy: condition({ path: 'args..a', op: 'exists' }),
    problems: [{ path: 'tools.x.deny_if[0].path', says: ['cannot read path "args..a" at "..a"'] }],
  },
  {
    name: 'a condition path with an unclosed bracket is refused',
    policy: condition({ path: 'args.a[', op: 'exists' }),
    problems: [{ path: 'tools.x.deny_if[0].path', says: ['cannot read path "args.a[" at "["'] }],
  },
  {
    name: 'a condition path with a negative index is refused',
    policy: condition({ path: 'args.a[-1]', op: 'exists' }),
    problems: [{ path: 'tools.x.deny_if[0].path', says: ['cannot read path'] }],
  },
  {
    name: 'grant has no fields',
    policy: condition({ path: 'grant.name', op: 'eq', value: 'x' }),
    problems: [{ path: 'tools.x.deny_if[0].path', says: ['"grant" is the grant\'s name and has no fields'] }],
  },
  {
    name: 'an empty condition path is refused',
    policy: condition({ path: '', op: 'exists' }),
    problems: [{ path: 'tools.x.deny_if[0].path', says: ['too short'] }],
  },
  {
    name: 'ignore_case on gt is refused, naming the operators it applies to',
    policy: condition({ path: 'args.a', op: 'gt', value: 1, ignore_case: true }),
    problems: [
      {
        path: 'tools.x.deny_if[0].ignore_case',
        says: ['ignore_case applies to eq, neq, in, not_in, contains, starts_with, ends_with only, not gt'],
      },
    ],
  },
  {
    name: 'ignore_case on regex is refused and points to flags: i',
    policy: condition({ path: 'args.a', op: 'regex', value: 'x', ignore_case: false }),
    problems: [{ path: 'tools.x.deny_if[0].ignore_case', says: ['not regex', 'a regex ignores case with flags: i'] }],
  },
  {
    name: 'normalize on exists is refused',
    policy: condition({ path: 'args.a', op: 'exists', normalize: 'nfkc' }),
    problems: [{ path: 'tools.x.deny_if[0].normalize', says: ['normalize applies to eq, neq', 'not exists'] }],
  },
  {
    name: 'normalize takes nfkc only',
    policy: condition({ path: 'args.a', op: 'eq', value: 'x', normalize: 'nfc' }),
    problems: [{ path: 'tools.x.deny_if[0].normalize', says: ['expected "nfkc", got "nfc"'] }],
  },
  {
    name: 'ignore_case must be a boolean',
    policy: condition({ path: 'args.a', op: 'eq', value: 'x', ignore_case: 'yes' }),
    problems: [{ path: 'tools.x.deny_if[0].ignore_case', says: ['expected true or false, got "yes"'] }],
  },
  {
    name: 'flags on eq are refused at the flags key',
    policy: condition({ path: 'args.a', op: 'eq', value: 'x', flags: 'i' }),
    problems: [{ path: 'tools.x.deny_if[0].flags', says: ['flags apply to regex conditions only, not eq'] }],
  },
  {
    name: 'a YAML .inf value is refused: no JSON argument is infinite',
    policy: 'version: "1"\ndefault: deny\ntools:\n  x:\n    deny_if: [{ path: args.a, op: gte, value: .inf }]\n',
    file: 'p.yaml',
    problems: [{ path: 'tools.x.deny_if[0].value', says: ['Infinity is not a JSON number'], line: 5 }],
  },
  {
    name: 'a YAML .nan inside an in list is refused',
    policy: 'version: "1"\ndefault: deny\ntools:\n  x:\n    deny_if: [{ path: args.a, op: in, value: [1, .nan] }]\n',
    file: 'p.yaml',
    problems: [{ path: 'tools.x.deny_if[0].value', says: ['NaN is not a JSON number'] }],
  },
  {
    name: 'gt with a non-number value is refused',
    policy: condition({ path: 'args.a', op: 'gt', value: '100' }),
    problems: [{ path: 'tools.x.deny_if[0].value', says: ['gt needs a number as value, got "100"'] }],
  },
  {
    name: 'lte without a value is refused',
    policy: condition({ path: 'args.a', op: 'lte' }),
    problems: [{ path: 'tools.x.deny_if[0].value', says: ['lte needs a number as value'] }],
  },
  {
    name: 'in with a non-list value is refused',
    policy: condition({ path: 'args.a', op: 'in', value: 'usd' }),
    problems: [{ path: 'tools.x.deny_if[0].value', says: ['in needs a list as value, got "usd"'] }],
  },
  {
    name: 'not_in with a mapping value is refused',
    policy: condition({ path: 'args.a', op: 'not_in', value: { a: 1 } }),
    problems: [{ path: 'tools.x.deny_if[0].value', says: ['not_in needs a list as value'] }],
  },
  {
    name: 'exists with a value is refused',
    policy: condition({ path: 'args.a', op: 'exists', value: true }),
    problems: [{ path: 'tools.x.deny_if[0].value', says: ['exists takes no value'] }],
  },
  {
    name: 'not_exists with a value is refused',
    policy: condition({ path: 'args.a', op: 'not_exists', value: null }),
    problems: [{ path: 'tools.x.deny_if[0].value', says: ['not_exists takes no value'] }],
  },
  {
    name: 'eq without a value is refused',
    policy: condition({ path: 'args.a', op: 'eq' }),
    problems: [{ path: 'tools.x.deny_if[0].value', says: ['eq needs a value'] }],
  },
  {
    name: 'contains without a value is refused',
    policy: condition({ path: 'args.a', op: 'contains' }),
    problems: [{ path: 'tools.x.deny_if[0].value', says: ['contains needs a value'] }],
  },
  {
    name: 'starts_with with a non-string value is refused',
    policy: condition({ path: 'args.a', op: 'starts_with', value: 1 }),
    problems: [{ path: 'tools.x.deny_if[0].value', says: ['starts_with needs a string as value, got 1'] }],
  },
  {
    name: 'a bad condition in require is reported at require',
    policy: tool({
      require: [
        { path: 'args.a', op: 'exists' },
        { path: 'a', op: 'exists' },
      ],
    }),
    problems: [{ path: 'tools.x.require[1].path', says: ['must start with "args"'] }],
  },
  {
    name: 'a bad condition in approve_if is reported at approve_if',
    policy: tool({ approve_if: [{ path: 'args.a', op: 'gte', value: [1] }] }),
    problems: [{ path: 'tools.x.approve_if[0].value', says: ['gte needs a number'] }],
  },

  // tool keys and hide entries that can never match
  {
    name: 'a tool key with whitespace can never match',
    policy: { ...V1, tools: { 'read file': {} } },
    problems: [{ path: 'tools["read file"]', says: ['never contain whitespace'] }],
  },
  {
    name: 'a glob with whitespace can never match',
    policy: { ...V1, tools: { 'read *': {} } },
    problems: [{ path: 'tools["read *"]', says: ['never contain whitespace'] }],
  },
  {
    name: 'an empty tool key can never match',
    policy: { ...V1, tools: { '': {} } },
    problems: [{ path: 'tools[""]', says: ['an empty name matches no tool'] }],
  },
  {
    name: 'a tool key longer than any tool name can never match',
    policy: { ...V1, tools: { ['a'.repeat(129)]: {} } },
    problems: [{ path: `tools.${'a'.repeat(129)}`, says: ['at most 128 characters'] }],
  },
  {
    name: 'a glob after "*" can never match',
    policy: { ...V1, tools: { '*': {}, 'x_*': { action: 'deny' } } },
    problems: [{ path: 'tools.x_*', says: ['this glob can never match', 'the earlier glob "*" matches every tool first'] }],
  },
  {
    name: 'every glob after "*" is reported, naming the first catch-all',
    policy: { ...V1, tools: { 'a*': {}, '**': {}, 'b?': {}, '*': {}, 'c*': {} } },
    problems: [
      { path: 'tools.b?', says: ['earlier glob "**"'] },
      { path: 'tools.*', says: ['earlier glob "**"'] },
      { path: 'tools.c*', says: ['earlier glob "**"'] },
    ],
  },
  {
    name: 'a hide entry with whitespace can never match',
    policy: { ...V1, hide: ['ok', 'drop table'] },
    problems: [{ path: 'hide[1]', says: ['never contain whitespace'] }],
  },
  {
    name: 'an empty hide entry can never match',
    policy: { ...V1, hide: [''] },
    problems: [{ path: 'hide[0]', says: ['an empty name matches no tool'] }],
  },

  // files
  { name: 'an empty JSON file is refused', policy: '', problems: [{ path: '', says: ['file is empty'] }] },
  {
    name: 'a YAML file with only whitespace is refused',
    policy: '  \n\n',
    file: 'p.yaml',
    problems: [{ path: '', says: ['file is empty'] }],
  },
  {
    name: 'a YAML file with only comments is refused as empty',
    policy: '# nothing yet\n',
    file: 'p.yaml',
    problems: [{ path: '', says: ['file is empty'] }],
  },
  { name: 'a JSON syntax error is refused', policy: '{"version": "1",', problems: [{ path: '', says: ['invalid JSON'] }] },
  {
    name: 'a YAML syntax error is refused',
    policy: 'version: "1"\ndefault: [deny\n',
    file: 'p.yaml',
    problems: [{ path: '', says: ['invalid YAML'] }],
  },
  {
    name: 'a duplicated key in YAML is refused',
    policy: 'version: "1"\ndefault: deny\ndefault: allow\n',
    file: 'p.yaml',
    problems: [{ path: '', says: ['invalid YAML', 'Map keys must be unique'], line: 3 }],
  },
  {
    name: 'a duplicated tool in YAML is refused',
    policy: 'version: "1"\ndefault: deny\ntools:\n  x: {}\n  x: { action: deny }\n',
    file: 'p.yml',
    problems: [{ path: '', says: ['Map keys must be unique'], line: 5 }],
  },
  {
    name: 'a duplicated key in JSON is refused too',
    policy: '{\n"version": "1",\n"default": "deny",\n"default": "allow"\n}',
    problems: [{ path: '', says: ['invalid JSON', 'Map keys must be unique'], line: 4 }],
  },

  // line numbers in YAML
  {
    name: 'a problem in YAML carries its line',
    policy: 'version: "1"\ndefault: deny\ntools:\n  x:\n    limits:\n      - counter: c\n        window: 60\n        max: ten\n',
    file: 'policies/fs.yaml',
    problems: [{ path: 'tools.x.limits[0].max', says: ['expected a number, got "ten"'], line: 8 }],
  },

  // several problems at once
  {
    name: 'several schema problems in one file are reported together',
    policy:
      'version: "1"\ndefault: deny\ntools:\n  x:\n    action: alow\n    limits:\n      - counter: c\n        window: 60\n        max: ten\n    deny_iff: []\n',
    file: 'p.yaml',
    problems: [
      { path: 'tools.x.action', says: ['did you mean "allow"?'], line: 5 },
      { path: 'tools.x.limits[0].max', says: ['expected a number, got "ten"'], line: 9 },
      { path: 'tools.x.deny_iff', says: ['did you mean "deny_if"?'], line: 10 },
    ],
  },
  {
    name: 'several compile problems in one file are reported together',
    policy: {
      ...V1,
      hide: ['a b'],
      tools: {
        '*': {},
        'x_*': {},
        y: {
          deny_if: [
            { path: 'args.a', op: 'regex', value: '(a+)+\\1' },
            { path: 'b', op: 'exists' },
          ],
          schema: { type: 'strng' },
        },
        a: { limits: [{ counter: 'c', window: 60, max: 1 }] },
        b: { limits: [{ counter: 'c', window: '1h', max: 1 }] },
      },
    },
    problems: [
      { path: 'hide[0]', says: ['whitespace'] },
      { path: 'tools.x_*', says: ['can never match'] },
      { path: 'tools.y.deny_if[0].value', says: ['is refused'] },
      { path: 'tools.y.deny_if[1].path', says: ['must start with "args"'] },
      { path: 'tools.y.schema', says: ['invalid JSON Schema'] },
      { path: 'tools.b.limits[0].counter', says: ['also defined at tools.a.limits[0]'] },
    ],
    anyOrder: true,
  },
  {
    name: 'a missing version and a missing default are reported together',
    policy: { tools: {} },
    problems: [
      { path: 'version', says: ['required'] },
      { path: 'default', says: ['required'] },
    ],
  },
];

for (const c of cases) {
  test(c.name, () => {
    const file = c.file ?? 'test.json';
    const err = policyError(c.policy, file);
    assert.equal(err.code, ErrorCode.PolicyInvalid);
    const paths = (list: readonly { path: string }[]) => (c.anyOrder ? list.map((p) => p.path).sort() : list.map((p) => p.path));
    assert.deepEqual(paths(err.problems), paths(c.problems), err.message);
    const lines = err.message.split('\n');
    assert.equal(lines.length, c.problems.length, err.message);
    for (const expected of c.problems) {
      const i = err.problems.findIndex((p) => p.path === expected.path);
      const problem = err.problems[i];
      assert.ok(problem);
      assert.equal(problem.file, file);
      for (const part of expected.says)
        assert.ok(problem.message.includes(part), `${JSON.stringify(problem.message)} should contain ${JSON.stringify(part)}`);
      if (expected.line !== undefined) assert.equal(problem.line, expected.line);
      // The formatted message names the file, then the path, then the problem.
      const where = expected.path === '' ? `${file}: ` : `${file}: ${expected.path}: `;
      assert.ok(lines[i]?.startsWith(where), `${JSON.stringify(lines[i])} should start with ${JSON.stringify(where)}`);
      if (expected.line !== undefined) assert.ok(lines[i]?.endsWith(`(line ${expected.line})`), lines[i]);
    }
  });
}

// Documents that look odd but are fine: a check that refuses too much is a bug too.
const acceptedCases: { name: string; policy: object | string; file?: string }[] = [
  {
    name: 'the same counter with the same window written two ways is accepted',
    policy: {
      ...V1,
      all_tools: { limits: [{ counter: 'c', window: 'minute', max: 100 }] },
      tools: { a: { limits: [{ counter: 'c', window: 60, max: 5, scope: 'grant' }] } },
    },
  },
  {
    name: 'the same counter with another max is accepted',
    policy: {
      ...V1,
      tools: { a: { limits: [{ counter: 'c', window: 60, max: 5 }] }, b: { limits: [{ counter: 'c', window: 60, max: 50 }] } },
    },
  },
  {
    name: 'an exact key after a "*" glob is accepted (exact names win)',
    policy: { ...V1, tools: { '*': {}, list_customers: { action: 'deny' } } },
  },
  { name: 'a glob before "*" is accepted', policy: { ...V1, tools: { 'delete_*': { action: 'deny' }, '*': {} } } },
  {
    name: 'max 0 is accepted (it refuses every call)',
    policy: { ...V1, tools: { x: { limits: [{ counter: 'c', window: 'day', max: 0 }] } } },
  },
  {
    name: 'a $schema key and a description are accepted',
    policy: { $schema: './schema/policy.schema.json', description: 'filesystem', ...V1 },
  },
  {
    name: 'counter names may use letters, digits, "_", "-" and "."',
    policy: { ...V1, tools: { x: { limits: [{ counter: 'fs.write-rate_1', window: 60, max: 1 }] } } },
  },
  { name: 'a hide glob and a tool key in the same family are accepted', policy: { ...V1, hide: ['admin_*'], tools: { admin_read: {} } } },
  {
    name: 'YAML with anchors and aliases is accepted',
    policy: 'version: "1"\ndefault: deny\ntools:\n  a: &r { rate_limit: { max: 1, window: 60 } }\n  b: *r\n',
    file: 'p.yaml',
  },
];

for (const c of acceptedCases) {
  test(c.name, () => {
    const policy = policyFrom(c.policy, c.file);
    assert.equal(typeof evaluate(policy, { tool: 'x' }).action, 'string');
  });
}

const dir = mkdtempSync(join(tmpdir(), 'airlock-policy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const fileCases: { name: string; run: () => void }[] = [
  {
    name: 'loadPolicyFile names a missing file and says it is not found',
    run: () => {
      const file = join(dir, 'missing.yaml');
      assert.throws(
        () => loadPolicyFile(file),
        (err: unknown) => {
          assert.ok(err instanceof DocumentError);
          assert.equal(err.code, ErrorCode.PolicyInvalid);
          assert.deepEqual(
            err.problems.map((p) => [p.file, p.path, p.message]),
            [[file, '', 'file not found']],
          );
          assert.equal(err.message, `${file}: file not found`);
          return true;
        },
      );
    },
  },
  {
    name: 'loadPolicyFile names the file in every problem it reports',
    run: () => {
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, 'version: "1"\ndefault: deny\ntools:\n  x: { action: alow }\n');
      assert.throws(
        () => loadPolicyFile(file),
        (err: unknown) => {
          assert.ok(err instanceof DocumentError);
          assert.equal(
            err.message,
            `${file}: tools.x.action: expected one of "allow", "deny", "require_approval", got "alow", did you mean "allow"? (line 4)`,
          );
          return true;
        },
      );
    },
  },
  {
    name: 'loadPolicyFile reads a good YAML file',
    run: () => {
      const file = join(dir, 'good.yaml');
      writeFileSync(file, 'version: "1"\ndefault: deny\ntools:\n  list_customers: {}\n');
      const policy = loadPolicyFile(file);
      assert.equal(policy.file, file);
      assert.equal(evaluate(policy, { tool: 'list_customers' }).action, 'allow');
      assert.equal(evaluate(policy, { tool: 'other' }).action, 'deny');
    },
  },
  {
    name: 'loadPolicyFile reads a good JSON file',
    run: () => {
      const file = join(dir, 'good.json');
      writeFileSync(file, '{"version":"1","default":"allow","hide":["*"]}');
      assert.equal(evaluate(loadPolicyFile(file), { tool: 'x' }).action, 'hide');
    },
  },
  {
    name: 'loadPolicyFile refuses an empty file, naming it',
    run: () => {
      const file = join(dir, 'empty.json');
      writeFileSync(file, '');
      assert.throws(() => loadPolicyFile(file), { name: 'DocumentError', message: `${file}: file is empty` });
    },
  },
];

for (const c of fileCases) test(c.name, c.run);
