import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { planRegex, type RegexPlan } from './safe-regex.js';
import { errorMessage } from '../errors.js';

type SchemaPath = (string | number)[];

/** A rule's `schema:` compiled, or each place in it that cannot be used (path relative to the schema). */
export type ArgumentSchema = { validate: ValidateFunction } | { problems: { path: SchemaPath; message: string }[] };

/**
 * ajv runs `pattern` and `patternProperties` on arguments an agent chose, with
 * the `u` flag. V8's linear-time engine cannot run `u` patterns, and dropping
 * `u` would change what a pattern means (`.` on emoji, `\p{L}`), so a schema
 * pattern must be one that cannot backtrack catastrophically, or it is
 * refused. ajv builds every pattern through this, so one the walk below
 * missed is refused too, if without its exact path.
 */
export function checkedRegExp(pattern: string, flags: string): RegExp {
  const plan = planRegex(pattern, flags);
  if (plan.engine === 'backtracking') return plan.regex;
  // A linear plan would need a `test` that gives up on long text, and "no match" is the permissive answer for patternProperties.
  throw new Error(whyRefused(plan, pattern));
}
// ajv reads `code` only when it writes standalone validation code, which Airlock does not.
checkedRegExp.code = 'checkedRegExp';

// One validator instance per process, so its meta-schema is compiled once.
// ajv keeps every compiled schema (by object, and by `$id`); compileArgumentSchema
// removes each one again, or a reload would leak them and a schema with an
// `$id` would fail on the second load as "already exists".
const ajv = new Ajv2020({
  allErrors: true,
  strict: true,
  strictTypes: false,
  strictTuples: false,
  strictRequired: false,
  code: { regExp: checkedRegExp },
});
addFormats.default(ajv);

export function compileArgumentSchema(schema: Record<string, unknown>): ArgumentSchema {
  const problems = schemaRegexes(schema).flatMap(({ pattern, path }) => {
    const plan = planRegex(pattern, 'u');
    return plan.engine === 'backtracking' ? [] : [{ path, message: whyRefused(plan, pattern) }];
  });
  if (problems.length > 0) return { problems };
  try {
    return { validate: ajv.compile(schema) };
  } catch (err) {
    return { problems: [{ path: [], message: `invalid JSON Schema: ${errorMessage(err)}` }] };
  } finally {
    ajv.removeSchema(schema);
  }
}

function whyRefused(plan: Exclude<RegexPlan, { engine: 'backtracking' }>, pattern: string): string {
  if (plan.engine === 'none' && plan.refused === 'invalid') return plan.problem;
  const why = plan.engine === 'none' ? plan.problem : 'it may backtrack catastrophically on crafted input';
  return (
    `the pattern ${JSON.stringify(pattern)} is refused: ${why}, and JSON Schema patterns run with the "u" flag, ` +
    'which the linear-time engine cannot run; rewrite it so no part can match the same text in two ways (nested or overlapping repetition such as (a+)+ or (\\w+\\s?)*), ' +
    'or test the argument with a regex condition (require or deny_if, op: regex), which runs on the linear-time engine'
  );
}

// The keywords of JSON Schema 2020-12 (and the draft-07 ones ajv also reads) whose values are schemas.
const SCHEMA_KEYWORDS = new Set([
  'additionalProperties',
  'propertyNames',
  'items',
  'additionalItems',
  'contains',
  'not',
  'if',
  'then',
  'else',
  'unevaluatedItems',
  'unevaluatedProperties',
  'contentSchema',
]);
const SCHEMA_LIST_KEYWORDS = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems', 'items']);
const SCHEMA_MAP_KEYWORDS = new Set(['$defs', 'definitions', 'properties', 'patternProperties', 'dependentSchemas', 'dependencies']);

/**
 * Every regular expression in a schema, with its path: each `pattern`
 * keyword and each `patternProperties` key, in subschemas at any depth.
 * Only schema positions are walked, so a `const` or `enum` value, or a
 * property named "pattern", is not mistaken for one.
 */
export function schemaRegexes(schema: unknown): { pattern: string; path: SchemaPath }[] {
  const found: { pattern: string; path: SchemaPath }[] = [];
  const visit = (node: unknown, path: SchemaPath): void => {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'pattern' && typeof value === 'string') found.push({ pattern: value, path: [...path, key] });
      if (SCHEMA_KEYWORDS.has(key)) visit(value, [...path, key]);
      if (SCHEMA_LIST_KEYWORDS.has(key) && Array.isArray(value)) value.forEach((item, i) => visit(item, [...path, key, i]));
      if (SCHEMA_MAP_KEYWORDS.has(key) && value !== null && typeof value === 'object' && !Array.isArray(value)) {
        for (const [name, sub] of Object.entries(value)) {
          if (key === 'patternProperties') found.push({ pattern: name, path: [...path, key, name] });
          visit(sub, [...path, key, name]);
        }
      }
    }
  };
  visit(schema, []);
  return found;
}
