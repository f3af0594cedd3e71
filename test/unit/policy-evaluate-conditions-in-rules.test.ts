import { test } from 'node:test';
import { checkDecision, decide, type DecisionCase, V1 } from '../support/policy.js';

const precedenceCases: DecisionCase[] = [
  {
    name: 'deny_if beats approve_if when both fire',
    policy: {
      ...V1,
      default: 'deny',
      tools: {
        pay: { deny_if: [{ path: 'args.amount', op: 'gt', value: 10000 }], approve_if: [{ path: 'args.amount', op: 'gt', value: 100 }] },
      },
    },
    call: { tool: 'pay', args: { amount: 20000 } },
    expect: { action: 'deny', rule: 'tools.pay.deny_if[0]', matched: 'pay' },
  },
  {
    name: 'approve_if asks for approval when deny_if does not fire',
    policy: {
      ...V1,
      default: 'deny',
      tools: {
        pay: { deny_if: [{ path: 'args.amount', op: 'gt', value: 10000 }], approve_if: [{ path: 'args.amount', op: 'gt', value: 100 }] },
      },
    },
    call: { tool: 'pay', args: { amount: 500 } },
    expect: { action: 'require_approval', rule: 'tools.pay.approve_if[0]', matched: 'pay' },
  },
  {
    name: 'neither deny_if nor approve_if firing allows the call',
    policy: {
      ...V1,
      default: 'deny',
      tools: {
        pay: { deny_if: [{ path: 'args.amount', op: 'gt', value: 10000 }], approve_if: [{ path: 'args.amount', op: 'gt', value: 100 }] },
      },
    },
    call: { tool: 'pay', args: { amount: 50 } },
    expect: { action: 'allow', rule: 'tools.pay', matched: 'pay', reasonIs: 'pay is allowed by tools.pay' },
  },
  {
    name: 'action require_approval with a deny_if that fires is denied',
    policy: {
      ...V1,
      default: 'deny',
      tools: { wire: { action: 'require_approval', deny_if: [{ path: 'args.country', op: 'in', value: ['KP'] }] } },
    },
    call: { tool: 'wire', args: { country: 'KP' } },
    expect: { action: 'deny', rule: 'tools.wire.deny_if[0]' },
  },
  {
    name: 'action require_approval with a deny_if that does not fire asks for approval',
    policy: {
      ...V1,
      default: 'deny',
      tools: { wire: { action: 'require_approval', deny_if: [{ path: 'args.country', op: 'in', value: ['KP'] }] } },
    },
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
    policy: {
      ...V1,
      default: 'deny',
      tools: { deploy: { action: 'require_approval', approve_if: [{ path: 'args.env', op: 'eq', value: 'prod' }] } },
    },
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
    policy: {
      ...V1,
      default: 'allow',
      tools: { rm: { action: 'deny', require: [{ path: 'args.x', op: 'exists' }], approve_if: [{ path: 'args.x', op: 'exists' }] } },
    },
    call: { tool: 'rm', args: { x: 1 } },
    expect: { action: 'deny', rule: 'tools.rm' },
  },
  {
    name: 'a failing require beats an approve_if that fires',
    policy: {
      ...V1,
      default: 'deny',
      tools: { refund: { require: [{ path: 'args.reason', op: 'exists' }], approve_if: [{ path: 'args.amount', op: 'gt', value: 100 }] } },
    },
    call: { tool: 'refund', args: { amount: 500 } },
    expect: { action: 'deny', rule: 'tools.refund.require[0]' },
  },
  {
    name: 'deny_if fires if any condition holds: the second one here',
    policy: {
      ...V1,
      default: 'deny',
      tools: {
        q: {
          deny_if: [
            { path: 'args.sql', op: 'contains', value: 'DROP' },
            { path: 'args.sql', op: 'contains', value: 'TRUNCATE' },
          ],
        },
      },
    },
    call: { tool: 'q', args: { sql: 'TRUNCATE t' } },
    expect: { action: 'deny', rule: 'tools.q.deny_if[1]' },
  },
  {
    name: 'deny_if reports the first condition that fires',
    policy: {
      ...V1,
      default: 'deny',
      tools: {
        q: {
          deny_if: [
            { path: 'args.sql', op: 'contains', value: 'DROP' },
            { path: 'args.sql', op: 'contains', value: 'TABLE' },
          ],
        },
      },
    },
    call: { tool: 'q', args: { sql: 'DROP TABLE t' } },
    expect: { action: 'deny', rule: 'tools.q.deny_if[0]' },
  },
  {
    name: 'approve_if fires if any condition holds: the second one here',
    policy: {
      ...V1,
      default: 'deny',
      tools: {
        q: {
          approve_if: [
            { path: 'args.rows', op: 'gt', value: 1000 },
            { path: 'args.table', op: 'eq', value: 'users' },
          ],
        },
      },
    },
    call: { tool: 'q', args: { rows: 1, table: 'users' } },
    expect: { action: 'require_approval', rule: 'tools.q.approve_if[1]' },
  },
  {
    name: 'require needs every condition: the second one fails here',
    policy: {
      ...V1,
      default: 'deny',
      tools: {
        refund: {
          require: [
            { path: 'args.reason', op: 'exists' },
            { path: 'args.currency', op: 'in', value: ['usd', 'eur'] },
          ],
        },
      },
    },
    call: { tool: 'refund', args: { reason: 'dup', currency: 'gbp' } },
    expect: { action: 'deny', rule: 'tools.refund.require[1]' },
  },
  {
    name: 'require with every condition holding allows the call',
    policy: {
      ...V1,
      default: 'deny',
      tools: {
        refund: {
          require: [
            { path: 'args.reason', op: 'exists' },
            { path: 'args.currency', op: 'in', value: ['usd', 'eur'] },
          ],
        },
      },
    },
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

const requireSchemaCases: DecisionCase[] = [
  {
    name: 'a failing require denies with the condition as rule and what was missing',
    policy: { ...V1, default: 'deny', tools: { create_refund: { require: [{ path: 'args.reason', op: 'exists' }] } } },
    call: { tool: 'create_refund', args: { amount: 5 } },
    expect: {
      action: 'deny',
      rule: 'tools.create_refund.require[0]',
      matched: 'create_refund',
      reasonIs: 'required: args.reason is not present',
    },
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
    expect: {
      action: 'deny',
      rule: 'tools.deploy.require[0]',
      reasonIs: 'required: args.env is missing (the rule wants it equal to "staging")',
    },
  },
  {
    name: "a failing schema denies with ajv's message and the argument path",
    policy: {
      ...V1,
      default: 'deny',
      tools: { create_refund: { schema: { type: 'object', properties: { currency: { enum: ['usd', 'eur'] } } } } },
    },
    call: { tool: 'create_refund', args: { currency: 'gbp' } },
    expect: {
      action: 'deny',
      rule: 'tools.create_refund.schema',
      matched: 'create_refund',
      reason: ['arguments do not match the schema', 'args.currency must be equal to one of the allowed values'],
    },
  },
  {
    name: 'a passing schema allows',
    policy: {
      ...V1,
      default: 'deny',
      tools: { create_refund: { schema: { type: 'object', properties: { currency: { enum: ['usd', 'eur'] } } } } },
    },
    call: { tool: 'create_refund', args: { currency: 'eur' } },
    expect: { action: 'allow', rule: 'tools.create_refund' },
  },
  {
    name: "a schema's required property missing is reported on the arguments",
    policy: { ...V1, default: 'deny', tools: { t: { schema: { type: 'object', required: ['id'] } } } },
    call: { tool: 't', args: {} },
    expect: { action: 'deny', rule: 'tools.t.schema', reason: ["arguments must have required property 'id'"] },
  },
  {
    name: 'a schema reports every error, joined',
    policy: {
      ...V1,
      default: 'deny',
      tools: { t: { schema: { type: 'object', properties: { n: { type: 'integer' }, s: { type: 'string' } } } } },
    },
    call: { tool: 't', args: { n: 'x', s: 1 } },
    expect: { action: 'deny', reason: ['args.n must be integer; args.s must be string'] },
  },
  {
    name: 'a schema error inside a list names the item',
    policy: {
      ...V1,
      default: 'deny',
      tools: {
        t: {
          schema: {
            type: 'object',
            properties: { items: { type: 'array', items: { type: 'object', properties: { price: { type: 'number', maximum: 100 } } } } },
          },
        },
      },
    },
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
    policy: {
      ...V1,
      default: 'deny',
      tools: { t: { schema: { type: 'object', properties: { to: { type: 'string', format: 'email' } } } } },
    },
    call: { tool: 't', args: { to: 'not an address' } },
    expect: { action: 'deny', reason: ['args.to must match format "email"'] },
  },
  {
    name: 'a schema with $id and $ref to its $defs works',
    policy: {
      ...V1,
      default: 'deny',
      tools: {
        t: {
          schema: {
            $id: 'https://example.com/refund',
            type: 'object',
            properties: { amount: { $ref: '#/$defs/money' } },
            $defs: { money: { type: 'number', minimum: 0 } },
          },
        },
      },
    },
    call: { tool: 't', args: { amount: -1 } },
    expect: { action: 'deny', reason: ['args.amount must be >= 0'] },
  },
  {
    name: 'a failing schema beats an approve_if that fires',
    policy: {
      ...V1,
      default: 'deny',
      tools: { t: { schema: { type: 'object', properties: { n: { type: 'number' } } }, approve_if: [{ path: 'args.n', op: 'exists' }] } },
    },
    call: { tool: 't', args: { n: 'x' } },
    expect: { action: 'deny', rule: 'tools.t.schema' },
  },
];

for (const c of [...precedenceCases, ...requireSchemaCases]) {
  test(c.name, () => checkDecision(decide(c.policy, c.call, c.file), c.expect));
}
