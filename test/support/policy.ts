import assert from 'node:assert/strict';
import { parseSourceText } from '../../src/config/index.js';
import { DocumentError, ErrorCode } from '../../src/errors.js';
import { compileSource, evaluate, type CompiledPolicy, type Decision, type ToolCall } from '../../src/policy/index.js';

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
