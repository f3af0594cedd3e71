import type { z } from 'zod';
import { AirlockError, ErrorCode } from './errors.js';

/** Validates a request's query or body; every problem is named (`query.limit: …`) in one AIRLOCK_BAD_ARGUMENTS. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${[where, ...i.path].join('.')}: ${i.message}`);
  throw new AirlockError(ErrorCode.BadArguments, problems.join('; '));
}
