import type { AuditEventName, AuditInput, AuditRecorder } from '../audit/index.js';
import type { RefusalEvent, SampledRefusals } from './sampled-refusals.js';

type CallFacts = Pick<
  AuditInput,
  'request_id' | 'grant' | 'session' | 'client' | 'protocol' | 'server' | 'tool' | 'approval_id' | 'task_id' | 'channel'
>;
export type StepFacts = Omit<AuditInput, 'event' | keyof CallFacts>;

/** The audit events of one call, each carrying the call's own fields (request id, grant, session, server, tool, …). */
export interface CallAudit {
  record(event: AuditEventName, step?: StepFacts): void;
  /** A refusal an agent can repeat at will: audited in full when it is the first of its kind this minute (true), else counted (see SampledRefusals). */
  refused(event: RefusalEvent, step?: StepFacts): boolean;
  /** Resolves once the event is stored; rejects when it cannot be, and the call must then not go on. */
  commit(event: AuditEventName, step?: StepFacts): Promise<void>;
  /** The same, with more fields on every event (`approval_id` once a call is held). */
  with(facts: CallFacts): CallAudit;
}

export function callAudit(recorder: AuditRecorder, refusals: Pick<SampledRefusals, 'record'>, call: CallFacts): CallAudit {
  return {
    record: (event, step) => recorder.record({ event, ...call, ...step }),
    refused: (event, step) => refusals.record({ event, ...call, ...step }),
    commit: (event, step) => recorder.commit({ event, ...call, ...step }),
    with: (facts) => callAudit(recorder, refusals, { ...call, ...facts }),
  };
}
