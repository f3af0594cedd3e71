import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_ARGUMENT_DEPTH, nestsDeeperThan } from '../../src/proxy/argument-depth.js';

const arrays = (depth: number): unknown => {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
};
const objects = (depth: number): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = { a: value, b: 'x' };
  return value;
};
const mixed = (depth: number): unknown => {
  let value: unknown = null;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value, 1] : { a: value };
  return value;
};

test('arguments up to the limit pass; one level more is too deep, for arrays, objects and mixtures', () => {
  for (const build of [arrays, objects, mixed]) {
    assert.equal(nestsDeeperThan(build(MAX_ARGUMENT_DEPTH), MAX_ARGUMENT_DEPTH), false);
    assert.equal(nestsDeeperThan(build(MAX_ARGUMENT_DEPTH + 1), MAX_ARGUMENT_DEPTH), true);
  }
  assert.equal(
    nestsDeeperThan({ shallow: 1, deep: { x: arrays(MAX_ARGUMENT_DEPTH) } }, MAX_ARGUMENT_DEPTH),
    true,
    'the deepest branch counts, wherever it is',
  );
});

test('scalars and empty containers are depth 0 or 1; a million levels are judged without overflowing the stack', () => {
  assert.equal(nestsDeeperThan('text', 0), false);
  assert.equal(nestsDeeperThan({}, 0), true);
  assert.equal(nestsDeeperThan({}, 1), false);
  assert.equal(nestsDeeperThan(arrays(1_000_000), MAX_ARGUMENT_DEPTH), true);
});
