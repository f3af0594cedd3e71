/**
 * Arguments nested deeper than this are refused before anything reads them:
 * canonical JSON, redaction and policy conditions walk them recursively, and
 * no tool's input needs more (a 5,000-deep array overflowed the stack).
 */
export const MAX_ARGUMENT_DEPTH = 64;

/** Whether `value` nests arrays and objects more than `limit` levels deep; walks without recursion and stops at the first too-deep branch. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const pending: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (next.value === null || typeof next.value !== 'object') continue;
    const depth = next.depth + 1;
    if (depth > limit) return true;
    for (const child of Array.isArray(next.value) ? next.value : Object.values(next.value)) {
      if (child !== null && typeof child === 'object') pending.push({ value: child, depth });
    }
  }
  return false;
}
