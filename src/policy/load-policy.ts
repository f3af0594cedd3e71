import { problemsFromIssues, readSourceFile, type SourceDocument } from '../config/index.js';
import { DocumentError, ErrorCode } from '../errors.js';
import { compilePolicy, type CompiledPolicy } from './compile.js';
import { PolicySchema } from './schema.js';

/** Reads, validates and compiles one policy file; throws DocumentError listing every problem. */
export function loadPolicyFile(file: string): CompiledPolicy {
  return compileSource(readSourceFile(file, ErrorCode.PolicyInvalid));
}

export function compileSource(source: SourceDocument): CompiledPolicy {
  const parsed = PolicySchema.safeParse(source.value, { reportInput: true });
  if (!parsed.success) throw new DocumentError(ErrorCode.PolicyInvalid, problemsFromIssues(source, PolicySchema, parsed.error.issues));
  return compilePolicy(parsed.data, source);
}
