export {
  AUDIT_EVENTS,
  AuditEventSchema,
  type AuditEvent,
  type AuditEventName,
  type AuditInput,
  type AuditRecorder,
  type Approver,
} from './event.js';
export { AuditTrail, type AuditTrailOptions } from './trail.js';
export { AuditReader, type AuditPage, type VerifyReport } from './reader.js';
export { AuditMirror } from './mirror.js';
export { verifyAuditFile, type FileReport } from './verify-file.js';
export { parseAuditQuery, parsePointInTime, type AuditQuery } from './query.js';
export { CSV_HEADER, csvRow } from './format.js';
export type { ChainProblem, ChainReport } from './chain.js';
export type { CheckpointSettings } from './checkpoint.js';
export type { CheckpointReport, CheckpointRules, VerifyOptions } from './checkpoint-check.js';
export { RefusalSampler, type RefusalSamplerOptions } from './refusal-sampler.js';
