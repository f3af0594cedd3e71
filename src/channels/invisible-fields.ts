import type { ApprovalRequest } from '../approvals/index.js';
import { containsInvisible } from '../invisible-characters.js';

/** The parts of a request a reviewer reads that the agent, its client, an upstream or a policy author chose. */
const UNTRUSTED_FIELDS = ['server', 'tool', 'arguments', 'grant', 'client', 'rule', 'reason'] as const;
export type UntrustedField = (typeof UNTRUSTED_FIELDS)[number];

/** Which of them hold invisible or direction-changing characters (empty: none), for the warning every channel shows. */
export function fieldsWithInvisible(request: ApprovalRequest): UntrustedField[] {
  return UNTRUSTED_FIELDS.filter((field) => containsInvisible(request[field]));
}
