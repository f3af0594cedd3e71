import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatProblem } from '../../src/errors.js';
import { checkedRegExp, schemaRegexes } from '../../src/policy/argument-schema.js';
import { evaluate } from '../../src/policy/index.js';
import { policyError, policyFrom } from '../support/policy.js';

/**
 * A rule's JSON Schema runs on arguments an agent chose: a `pattern` or
 * `patternProperties` key that can backtrack catastrophically would let one
 * call stall every other call, so such a pattern is refused when the policy
 * loads, wherever it sits in the schema, naming the file, the path and the line.
 */
const EVIL = '^(a+)+$';
const yaml = (schema: string) => `version: "1"\ndefault: deny\ntools:\n  x:\n    schema:\n${schema.replace(/^/gm, '      ')}\n`;

interface Refused {
  name: string;
  schema: string;
  /** Every problem: path and line. */
  problems: [string, number][];
}

const refused: Refused[] = [
  {
    name: 'a property pattern',
    schema: `type: object\nproperties:\n  name: { type: string, pattern: "${EVIL}" }`,
    problems: [['tools.x.schema.properties.name.pattern', 8]],
  },
  {
    name: 'a patternProperties key',
    schema: `type: object\npatternProperties:\n  "${EVIL}": { type: string }`,
    problems: [[`tools.x.schema.patternProperties[${JSON.stringify(EVIL)}]`, 8]],
  },
  {
    name: 'a pattern in $defs, used through $ref',
    schema: `type: object\nproperties:\n  slug: { $ref: "#/$defs/slug" }\n$defs:\n  slug: { type: string, pattern: "${EVIL}" }`,
    problems: [['tools.x.schema["$defs"].slug.pattern', 10]],
  },
  {
    name: 'a patternProperties key in $defs',
    schema: `$ref: "#/$defs/labels"\n$defs:\n  labels:\n    type: object\n    patternProperties:\n      "${EVIL}": true`,
    problems: [[`tools.x.schema["$defs"].labels.patternProperties[${JSON.stringify(EVIL)}]`, 11]],
  },
  {
    name: 'a pattern deep in items and allOf',
    schema: `type: object\nproperties:\n  rows:\n    type: array\n    items:\n      allOf:\n        - properties:\n            id: { pattern: "${EVIL}" }`,
    problems: [['tools.x.schema.properties.rows.items.allOf[0].properties.id.pattern', 13]],
  },
  {
    name: 'a pattern in prefixItems',
    schema: `type: array\nprefixItems:\n  - { type: string }\n  - { type: string, pattern: "${EVIL}" }`,
    problems: [['tools.x.schema.prefixItems[1].pattern', 9]],
  },
  {
    name: 'a pattern in propertyNames',
    schema: `type: object\npropertyNames: { pattern: "${EVIL}" }`,
    problems: [['tools.x.schema.propertyNames.pattern', 7]],
  },
  {
    name: 'a pattern in additionalProperties',
    schema: `type: object\nadditionalProperties: { pattern: "${EVIL}" }`,
    problems: [['tools.x.schema.additionalProperties.pattern', 7]],
  },
  {
    name: 'a pattern in anyOf, oneOf and not',
    schema: `anyOf:\n  - { pattern: "${EVIL}" }\noneOf:\n  - { pattern: "${EVIL}" }\nnot: { pattern: "${EVIL}" }`,
    problems: [
      ['tools.x.schema.anyOf[0].pattern', 7],
      ['tools.x.schema.oneOf[0].pattern', 9],
      ['tools.x.schema.not.pattern', 10],
    ],
  },
  {
    name: 'a pattern in if, then and else',
    schema: `if: { pattern: "${EVIL}" }\nthen: { pattern: "${EVIL}" }\nelse: { pattern: "${EVIL}" }`,
    problems: [
      ['tools.x.schema.if.pattern', 6],
      ['tools.x.schema.then.pattern', 7],
      ['tools.x.schema.else.pattern', 8],
    ],
  },
  {
    name: 'a pattern in dependentSchemas, contains and unevaluatedProperties',
    schema: `dependentSchemas:\n  a: { properties: { b: { pattern: "${EVIL}" } } }\ncontains: { pattern: "${EVIL}" }\nunevaluatedProperties: { pattern: "${EVIL}" }`,
    problems: [
      ['tools.x.schema.dependentSchemas.a.properties.b.pattern', 7],
      ['tools.x.schema.contains.pattern', 8],
      ['tools.x.schema.unevaluatedProperties.pattern', 9],
    ],
  },
  {
    name: 'overlapping repetition (words and optional spaces)',
    schema: 'type: string\npattern: "^(\\\\w+\\\\s?)*$"',
    problems: [['tools.x.schema.pattern', 7]],
  },
  {
    name: 'polynomial backtracking (the usual e-mail pattern)',
    schema: 'type: string\npattern: "^[^@]+@[^@]+\\\\.[^@]+$"',
    problems: [['tools.x.schema.pattern', 7]],
  },
];

for (const c of refused) {
  test(`a schema pattern that may backtrack catastrophically is refused at load: ${c.name}`, () => {
    const err = policyError(yaml(c.schema), 'policies/p.yaml');
    assert.deepEqual(
      err.problems.map((p) => [p.path, p.line]),
      c.problems,
      err.message,
    );
    for (const problem of err.problems) {
      assert.equal(problem.file, 'policies/p.yaml');
      assert.match(
        problem.message,
        /^the pattern ".+" is refused: it may backtrack catastrophically on crafted input, and JSON Schema patterns run with the "u" flag/,
      );
      assert.match(problem.message, /regex condition/, 'the message says what to do instead');
    }
  });
}

test('the refusal reads as file, path, problem and line', () => {
  const err = policyError(yaml(`type: object\nproperties:\n  name: { type: string, pattern: "${EVIL}" }`), 'policies/p.yaml');
  assert.match(
    formatProblem(err.problems[0]!),
    /^policies\/p\.yaml: tools\.x\.schema\.properties\.name\.pattern: the pattern "\^\(a\+\)\+\$" is refused: .* \(line 8\)$/,
  );
});

test('a schema pattern that does not compile is refused at its path', () => {
  const err = policyError(yaml('type: object\nproperties:\n  a: { pattern: "(" }'), 'p.yaml');
  assert.deepEqual(
    err.problems.map((p) => [p.path, p.line]),
    [['tools.x.schema.properties.a.pattern', 8]],
  );
  assert.match(err.problems[0]!.message, /^invalid regex: .*Unterminated group/);
});

interface Loads {
  name: string;
  schema: object;
  /** Arguments and whether the schema admits them. */
  calls: [Record<string, unknown>, 'allow' | 'deny'][];
}

const loads: Loads[] = [
  {
    name: 'a safe pattern loads and is enforced',
    schema: { type: 'object', properties: { id: { type: 'string', pattern: '^pi_[A-Za-z0-9]+$' } } },
    calls: [
      [{ id: 'pi_123' }, 'allow'],
      [{ id: 'ch_123' }, 'deny'],
    ],
  },
  {
    name: 'a safe patternProperties key loads and is enforced',
    schema: { type: 'object', patternProperties: { '^x-': { type: 'string' } } },
    calls: [
      [{ 'x-a': 'ok' }, 'allow'],
      [{ 'x-a': 1 }, 'deny'],
      [{ y: 1 }, 'allow'],
    ],
  },
  {
    name: 'patterns keep the "u" flag: \\p{L} works',
    schema: { type: 'object', properties: { name: { type: 'string', pattern: '^\\p{L}+$' } } },
    calls: [
      [{ name: 'Åsa' }, 'allow'],
      [{ name: 'a1' }, 'deny'],
    ],
  },
  {
    name: 'a "pattern" inside const is data, not a pattern',
    schema: { type: 'object', properties: { rule: { const: { pattern: EVIL } } } },
    calls: [
      [{ rule: { pattern: EVIL } }, 'allow'],
      [{ rule: {} }, 'deny'],
    ],
  },
  {
    name: 'a pattern string inside enum is data',
    schema: { type: 'object', properties: { p: { enum: [EVIL] } } },
    calls: [[{ p: EVIL }, 'allow']],
  },
  {
    name: 'a property named "pattern" is not a pattern',
    schema: { type: 'object', properties: { pattern: { type: 'string' } }, required: ['pattern'] },
    calls: [
      [{ pattern: 'aaaa!' }, 'allow'],
      [{}, 'deny'],
    ],
  },
];

for (const c of loads) {
  test(`schema patterns: ${c.name}`, () => {
    const policy = policyFrom({ version: '1', default: 'deny', tools: { x: { schema: c.schema } } });
    for (const [args, action] of c.calls) assert.equal(evaluate(policy, { tool: 'x', args }).action, action, JSON.stringify(args));
  });
}

test('the walk finds patterns only in schema positions', () => {
  const found = schemaRegexes({
    pattern: 'a',
    properties: { pattern: { pattern: 'b' } },
    patternProperties: { c: { pattern: 'd' } },
    items: [{ pattern: 'e' }],
    const: { pattern: 'no' },
    enum: [{ pattern: 'no' }],
    default: { pattern: 'no' },
    examples: [{ pattern: 'no' }],
    dependencies: { a: ['pattern'] },
  });
  assert.deepEqual(found, [
    { pattern: 'a', path: ['pattern'] },
    { pattern: 'b', path: ['properties', 'pattern', 'pattern'] },
    { pattern: 'c', path: ['patternProperties', 'c'] },
    { pattern: 'd', path: ['patternProperties', 'c', 'pattern'] },
    { pattern: 'e', path: ['items', 0, 'pattern'] },
  ]);
});

test('every pattern ajv builds passes the same check, so one the walk missed cannot slip through', () => {
  assert.throws(() => checkedRegExp(EVIL, 'u'), /the pattern "\^\(a\+\)\+\$" is refused: it may backtrack catastrophically/);
  // Without the "u" flag the pattern could run on the linear engine, but a RegExp that gives up on long input cannot be handed to ajv.
  assert.throws(() => checkedRegExp(EVIL, ''), /is refused/);
  const safe = checkedRegExp('^\\p{L}+$', 'u');
  assert.ok(safe instanceof RegExp && safe.flags === 'u' && safe.test('Åsa'));
});
