/**
 * Every error Airlock raises on purpose carries a stable code. Codes are
 * listed in docs/http-api.md's error table (a test checks) and never reused for another meaning.
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
  TokenFileInvalid: 'AIRLOCK_TOKEN_FILE_INVALID',
  Forbidden: 'AIRLOCK_FORBIDDEN',
  ApprovalNotFound: 'AIRLOCK_APPROVAL_NOT_FOUND',
  ApprovalDecided: 'AIRLOCK_APPROVAL_DECIDED',
  NotApprover: 'AIRLOCK_NOT_APPROVER',
  ApprovalTampered: 'AIRLOCK_APPROVAL_TAMPERED',
  AuditBroken: 'AIRLOCK_AUDIT_BROKEN',
  SlackUnavailable: 'AIRLOCK_SLACK_UNAVAILABLE',
  ShuttingDown: 'AIRLOCK_SHUTTING_DOWN',
  HostNotAllowed: 'AIRLOCK_HOST_NOT_ALLOWED',
  PolicyDenied: 'AIRLOCK_POLICY_DENIED',
  SessionLimit: 'AIRLOCK_SESSION_LIMIT',
  OAuthNotSupported: 'AIRLOCK_OAUTH_NOT_SUPPORTED',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.BadArguments]: 400,
  [ErrorCode.Unauthorized]: 401,
  [ErrorCode.Forbidden]: 403,
  [ErrorCode.NotApprover]: 403,
  [ErrorCode.HostNotAllowed]: 403,
  [ErrorCode.UnknownServer]: 404,
  [ErrorCode.UnknownGrant]: 404,
  [ErrorCode.ApprovalNotFound]: 404,
  [ErrorCode.ApprovalDecided]: 409,
  [ErrorCode.ApprovalTampered]: 409,
  [ErrorCode.SessionLimit]: 429,
  [ErrorCode.RedisUnavailable]: 503,
  [ErrorCode.UpstreamUnavailable]: 503,
  [ErrorCode.SlackUnavailable]: 503,
  [ErrorCode.ShuttingDown]: 503,
};

/** The HTTP status an error is answered with on `/api`. */
export function httpStatus(code: ErrorCode): number {
  return HTTP_STATUS[code] ?? 500;
}

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

/** What went wrong, from anything thrown: an Error's message, else the thrown value as text (some libraries throw strings). */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
