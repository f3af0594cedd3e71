import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluate, isHidden } from '../../src/policy/index.js';
import { policyFrom, V1 } from '../support/policy.js';

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
      assert.deepEqual(
        ['secret', 'admin_x', 'secrets', 'public'].map((t) => isHidden(policy, t)),
        [true, true, false, false],
      );
    },
  },
  {
    name: 'a policy whose schema has an $id can be loaded again (a reload)',
    run: () => {
      const doc = {
        ...V1,
        default: 'deny',
        tools: { t: { schema: { $id: 'https://example.com/reloaded', type: 'object', required: ['id'] } } },
      };
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
      const policy = policyFrom({
        ...V1,
        default: 'deny',
        tools: {
          t: { schema: { type: 'object', properties: { n: { type: 'number', default: 1 } } }, deny_if: [{ path: 'args.n', op: 'exists' }] },
        },
      });
      const args = {};
      assert.equal(evaluate(policy, { tool: 't', args }).action, 'allow');
      assert.deepEqual(args, {});
    },
  },
];

for (const c of reuseCases) test(c.name, c.run);
