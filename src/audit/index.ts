export { AUDIT_EVENTS, AuditEventSchema, type AuditEvent, type AuditEventName, type AuditInput, type AuditRecorder, type Approver } from './event.js';
