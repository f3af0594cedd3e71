import { AMBIGUOUS_CODE_WORDS, CODE_ARGUMENT_WORDS, CODE_QUALIFIERS, QUERY_LANGUAGES } from './vocabulary.js';
import { splitWords } from './words.js';

// A schema may list any number of properties with any descriptions; these bound the work per tool.
const MAX_ARGUMENTS = 200;
const MAX_ARGUMENT_NAME_CHARS = 100;
const MAX_ARGUMENT_DESCRIPTION_CHARS = 500;

export type SchemaShape = { kind: 'object'; properties: [string, unknown][] } | { kind: 'malformed'; problem: string };

/** The input schema's top-level properties, or why there are none to read. Nothing in it is trusted to be well formed. */
export function readSchema(schema: unknown): SchemaShape {
  if (schema === undefined) return { kind: 'object', properties: [] };
  if (!isRecord(schema))
    return { kind: 'malformed', problem: `input schema is ${kindOf(schema)}, not an object; its arguments were not read` };
  const properties = schema.properties;
  if (properties === undefined) return { kind: 'object', properties: [] };
  if (!isRecord(properties))
    return { kind: 'malformed', problem: `input schema "properties" is ${kindOf(properties)}, not an object; its arguments were not read` };
  return { kind: 'object', properties: Object.entries(properties).slice(0, MAX_ARGUMENTS) };
}

/**
 * Arguments that take a command line, code or a query language: whatever
 * the tool's name says, such an argument lets the caller decide what runs.
 * An argument restricted by `enum` or `const`, or that cannot hold a string,
 * is not free-form.
 */
export function freeFormArguments(properties: [string, unknown][], toolDescription: string): string[] {
  return properties
    .filter(([name, schema]) => holdsText(schema) && namesCode(name.slice(0, MAX_ARGUMENT_NAME_CHARS), schema, toolDescription))
    .map(([name]) => name);
}

function namesCode(name: string, schema: unknown, toolDescription: string): boolean {
  const words = splitWords(name);
  const last = words.at(-1);
  if (last === undefined) return false;
  if (CODE_ARGUMENT_WORDS.has(last)) return true;
  if (AMBIGUOUS_CODE_WORDS.has(last)) return words.length === 1 || CODE_QUALIFIERS.has(words.at(-2) ?? '');
  if (last === 'query' || last === 'queries') {
    const described =
      isRecord(schema) && typeof schema.description === 'string' ? schema.description.slice(0, MAX_ARGUMENT_DESCRIPTION_CHARS) : '';
    return [words.join(' '), described, toolDescription].some((text) => QUERY_LANGUAGES.test(text));
  }
  return false;
}

// Deeper nesting than this is not a real argument schema, and recursing on it could exhaust the stack.
const MAX_SCHEMA_DEPTH = 4;

function holdsText(schema: unknown, depth = 0): boolean {
  // `true` and `{}` accept anything, a string included.
  if (!isRecord(schema)) return schema === true;
  if (depth > MAX_SCHEMA_DEPTH) return false;
  if ('enum' in schema || 'const' in schema) return false;
  const type = schema.type;
  if (type === undefined) {
    const branches = [schema.oneOf, schema.anyOf].filter(Array.isArray).flat();
    return branches.length === 0 || branches.some((branch) => holdsText(branch, depth + 1));
  }
  const types: unknown[] = Array.isArray(type) ? type : [type];
  if (types.includes('string')) return true;
  return types.includes('array') && (schema.items === undefined || holdsText(schema.items, depth + 1));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? 'a string' : `a ${typeof value}`;
}
