import assert from 'node:assert/strict';
import { parseSourceText } from '../../src/config/index.js';
import { DocumentError, ErrorCode } from '../../src/errors.js';
import {
  compileSource,
  evaluate,
  type Approval,
  type CompiledPolicy,
  type Decision,
  type Limit,
  type ToolCall,
} from '../../src/policy/index.js';

/**
 * Compiles a policy through the real parser, as `loadPolicyFile` would read it
 * from `file`. Objects are written as indented JSON so problems carry real line numbers.
 */
export function policyFrom(doc: object | string, file = 'test.json'): CompiledPolicy {
  const text = typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2);
  return compileSource(parseSourceText(text, file, ErrorCode.PolicyInvalid));
}

/** The decision a policy document gives for one call. */
export function decide(doc: object | string, call: ToolCall, file?: string): Decision {
  return evaluate(policyFrom(doc, file), call);
}

/** The DocumentError a malformed policy raises; fails the test when it loads. */
export function policyError(doc: object | string, file?: string): DocumentError {
  try {
    policyFrom(doc, file);
  } catch (err) {
    assert.ok(err instanceof DocumentError, `expected a DocumentError, got ${String(err)}`);
    return err;
  }
  assert.fail('the policy loaded, but it should have been refused');
}

/** What a test expects of a decision; anything left out is not checked. */
export interface ExpectedDecision {
  action: Decision['action'];
  rule?: string;
  /** The `tools` key that matched; `null` when no key may have matched. */
  matched?: string | null;
  /** Substrings the reason must contain. */
  reason?: string[];
  /** The exact reason. */
  reasonIs?: string;
  limits?: Limit[];
  approval?: Approval;
}

/** One row of a table-driven decision test: a policy, a call, what it decides. */
export interface DecisionCase {
  name: string;
  policy: object | string;
  file?: string;
  call: ToolCall;
  expect: ExpectedDecision;
}

export const V1 = { version: '1' } as const;

/** The approval settings of a rule that has no `approval` block. */
export const NO_APPROVAL_SETTINGS: Approval = { approvers: [], min_approvals: 1 };

export function limit(
  counter: string,
  window: string | number,
  window_ms: number,
  max: number,
  scope: Limit['scope'],
  rule: string,
): Limit {
  return { counter, window, window_ms, max, scope, rule };
}

/** Compares what a consumer can see: JSON drops properties left undefined. */
function plain(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

/** Asserts a decision is what `expect` says, and keeps the invariants every decision must hold. */
export function checkDecision(decision: Decision, expect: ExpectedDecision): void {
  const seen = JSON.stringify(decision);
  assert.equal(decision.action, expect.action, seen);
  if (expect.rule !== undefined) assert.equal(decision.rule, expect.rule, seen);
  if (expect.matched !== undefined) assert.equal(decision.matched, expect.matched ?? undefined, seen);
  for (const part of expect.reason ?? [])
    assert.ok(decision.reason.includes(part), `reason ${JSON.stringify(decision.reason)} should contain ${JSON.stringify(part)}`);
  if (expect.reasonIs !== undefined) assert.equal(decision.reason, expect.reasonIs);
  // A refused call is never counted, whatever the policy says about limits.
  if (decision.action === 'deny' || decision.action === 'hide') assert.deepEqual(decision.limits, [], seen);
  if (expect.limits !== undefined) assert.deepEqual(plain(decision.limits), plain(expect.limits));
  if (decision.action !== 'require_approval') assert.equal(decision.approval, undefined, seen);
  else assert.ok(decision.approval, `a require_approval decision carries approval settings: ${seen}`);
  if (expect.approval !== undefined) assert.deepEqual(plain(decision.approval), plain(expect.approval));
}
