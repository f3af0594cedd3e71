import { z } from 'zod';
import { ConfigSchema } from '../src/config/index.js';
import { PolicySchema } from '../src/policy/index.js';

/**
 * The JSON Schemas editors use to validate airlock.yaml and policy files,
 * generated from the zod schemas (the source of truth) in input form, so
 * defaults are optional as a person writes the file.
 */
export function jsonSchemas(): Record<string, object> {
  const render = (schema: z.ZodType, title: string) => ({
    ...z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }),
    title,
  });
  return {
    'policy.schema.json': render(PolicySchema, 'Airlock policy (a superset of PolicyLayer policy v1)'),
    'config.schema.json': withoutStringChecks(render(ConfigSchema, 'Airlock config (airlock.yaml)')),
  };
}

/**
 * Any string in airlock.yaml may be `${VAR}`, which Airlock checks after
 * interpolation; an editor checking `format` or `pattern` on the raw text
 * would flag every such value, so the config schema leaves those out.
 */
function withoutStringChecks(node: unknown): object {
  if (Array.isArray(node)) return node.map(withoutStringChecks);
  if (node === null || typeof node !== 'object') return node as object;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key]) => key !== 'format' && key !== 'pattern')
      .map(([key, value]) => [key, withoutStringChecks(value)]),
  );
}

export function renderSchema(schema: object): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}
