/**
 * Every error Airlock raises on purpose carries a stable code. Codes are
 * listed in the README's error table and never reused for another meaning.
 */
export const ErrorCode = {
  ConfigInvalid: 'AIRLOCK_CONFIG_INVALID',
  PolicyInvalid: 'AIRLOCK_POLICY_INVALID',
  UnknownServer: 'AIRLOCK_UNKNOWN_SERVER',
  UnknownGrant: 'AIRLOCK_UNKNOWN_GRANT',
  BadArguments: 'AIRLOCK_BAD_ARGUMENTS',
  RedisUnavailable: 'AIRLOCK_REDIS_UNAVAILABLE',
  UpstreamUnavailable: 'AIRLOCK_UPSTREAM_UNAVAILABLE',
  Unauthorized: 'AIRLOCK_UNAUTHORIZED',
  Forbidden: 'AIRLOCK_FORBIDDEN',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** One thing wrong in a config or policy file: where it is and what is wrong. */
export interface Problem {
  file: string;
  /** Path inside the document, e.g. `tools.write_file.limits[0].max`; empty for the whole file. */
  path: string;
  message: string;
  line?: number;
}

export class AirlockError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AirlockError';
    this.code = code;
  }
}

/** A config or policy document that cannot be used, with one entry per problem. */
export class DocumentError extends AirlockError {
  readonly problems: readonly Problem[];

  constructor(code: ErrorCode, problems: readonly Problem[]) {
    super(code, problems.map(formatProblem).join('\n'));
    this.name = 'DocumentError';
    this.problems = problems;
  }
}

/** `policies/fs.yaml: tools.write_file.limits[0].max: expected a number, got "ten" (line 12)` */
export function formatProblem(problem: Problem): string {
  const where = problem.path === '' ? problem.file : `${problem.file}: ${problem.path}`;
  const line = problem.line === undefined ? '' : ` (line ${problem.line})`;
  return `${where}: ${problem.message}${line}`;
}
