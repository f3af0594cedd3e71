import type { ArgumentsDigest } from '../arguments-digest.js';
import { capText, MAX_NAME_CHARS, MAX_TEXT_CHARS } from '../cap-text.js';
import { hideCredentialsIn, type Redactor } from '../redact.js';
import type { DraftEvent } from './chain.js';
import type { AuditInput } from './event.js';

export interface ShapeOptions {
  redactor: Redactor;
  /** Largest redacted arguments (JSON bytes) kept whole; larger ones are stored cut, as text. */
  maxArgumentsBytes: number;
  instance: string;
  /** The deployment's keyed digest, the one approvals bind to. */
  digest: ArgumentsDigest;
}

/**
 * The stored form of an event: the arguments' digest (of what was sent,
 * secrets included, so it matches the approval's) and a redacted copy that
 * is cut to size. Fields a caller left undefined are left out.
 */
export function shapeEvent(input: AuditInput, time: number, options: ShapeOptions): DraftEvent {
  const { args, ...fields } = input;
  const draft: Record<string, unknown> = { time: new Date(time).toISOString(), instance: options.instance };
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) draft[key] = value;
  let hide = hideCredentialsIn;
  if (args !== undefined) {
    draft.digest = options.digest(args);
    const { value, redacted } = options.redactor.redact(args);
    // A policy's reason may quote the argument it tested, an error may echo one.
    if (redacted && (draft.reason !== undefined || draft.detail !== undefined)) hide = options.redactor.textHider(args, value);
    const json = JSON.stringify(value);
    if (Buffer.byteLength(json) <= options.maxArgumentsBytes) {
      draft.arguments = value;
    } else {
      draft.arguments = cutUtf8(json, options.maxArgumentsBytes);
      draft.arguments_truncated = true;
    }
  }
  // Hidden before they are cut, so no cut can leave part of a secret that the whole would have matched.
  if (typeof draft.reason === 'string') draft.reason = hide(draft.reason);
  if (typeof draft.detail === 'string') draft.detail = hide(draft.detail);
  capFields(draft);
  return draft as DraftEvent;
}

/** Free text and URIs may be long; every other string field is a name or an id, but the arguments, which have a cap of their own. */
const TEXT_FIELDS = new Set(['reason', 'detail', 'resource', 'prompt']);
const UNCAPPED = new Set(['arguments']);

/** Every string an agent, an upstream or a reviewer could make long, cut with a marker (see capText). */
function capFields(draft: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(draft)) {
    if (typeof value === 'string' && !UNCAPPED.has(key))
      draft[key] = capText(value, TEXT_FIELDS.has(key) ? MAX_TEXT_CHARS : MAX_NAME_CHARS);
  }
  if (Array.isArray(draft.approvers)) {
    draft.approvers = (draft.approvers as Record<string, unknown>[]).map((a) =>
      Object.fromEntries(Object.entries(a).map(([k, v]) => [k, typeof v === 'string' ? capText(v, MAX_NAME_CHARS) : v])),
    );
  }
}

/** The longest prefix of `text` within `bytes` UTF-8 bytes, never splitting a character. */
function cutUtf8(text: string, bytes: number): string {
  const cut = Buffer.from(text).subarray(0, bytes).toString('utf8');
  return cut.endsWith('\uFFFD') ? cut.slice(0, -1) : cut;
}
