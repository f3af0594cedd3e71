import assert from 'node:assert/strict';
import type { DecisionMeta } from '../../src/proxy/index.js';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Asserts the documented shape of a refusal: `isError: true`, one text item
 * beginning `[KIND] `, and `_meta["airlock/decision"]` with the given fields
 * and a fresh UUID as request_id. Returns the text and the decision for more checks.
 */
export function assertRefusal(result: unknown, kind: string, expected: Partial<DecisionMeta>): { text: string; meta: DecisionMeta } {
  const r = result as { isError?: boolean; content?: { type: string; text?: string }[]; _meta?: Record<string, unknown> };
  assert.equal(r.isError, true, `expected a refusal, got ${JSON.stringify(result)}`);
  assert.equal(r.content?.length, 1, 'a refusal has exactly one content item');
  const item = r.content?.[0];
  assert.equal(item?.type, 'text');
  const text = item?.text ?? '';
  assert.ok(text.startsWith(`[${kind}] `), `expected the text to begin "[${kind}] ", got ${JSON.stringify(text)}`);
  const meta = r._meta?.['airlock/decision'] as DecisionMeta | undefined;
  assert.ok(meta, 'a refusal carries _meta["airlock/decision"]');
  assert.match(meta.request_id, UUID);
  assert.equal(typeof meta.reason, 'string');
  for (const [key, value] of Object.entries(expected)) assert.deepEqual(meta[key], value, `_meta["airlock/decision"].${key}`);
  return { text, meta };
}

/** The text of a tool result's first content item. */
export function firstText(result: unknown): string {
  const content = (result as { content?: { text?: string }[] }).content;
  return content?.[0]?.text ?? '';
}
