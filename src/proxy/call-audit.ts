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

/** The methods are the class's, shared by every call: a held call keeps one small object, not a closure per method. */
export function callAudit(recorder: AuditRecorder, refusals: Pick<SampledRefusals, 'record'>, call: CallFacts): CallAudit {
  return new FactsAudit(recorder, refusals, call);
}

class FactsAudit implements CallAudit {
  readonly #recorder: AuditRecorder;
  readonly #refusals: Pick<SampledRefusals, 'record'>;
  readonly #call: CallFacts;

  constructor(recorder: AuditRecorder, refusals: Pick<SampledRefusals, 'record'>, call: CallFacts) {
    this.#recorder = recorder;
    this.#refusals = refusals;
    this.#call = call;
  }

  record(event: AuditEventName, step?: StepFacts): void {
    this.#recorder.record({ event, ...this.#call, ...step });
  }

  refused(event: RefusalEvent, step?: StepFacts): boolean {
    return this.#refusals.record({ event, ...this.#call, ...step });
  }

  commit(event: AuditEventName, step?: StepFacts): Promise<void> {
    return this.#recorder.commit({ event, ...this.#call, ...step });
  }

  with(facts: CallFacts): CallAudit {
    return new FactsAudit(this.#recorder, this.#refusals, { ...this.#call, ...facts });
  }
}
