import type { NewApproval } from '../../src/approvals/index.js';

/**
 * The request of a held `fs/write_file` call of grant alpha, as the
 * approvals integration tests open it: `args` its arguments, `fields` any
 * field changed.
 */
export function writeFileApproval(args: Record<string, unknown>, fields: Partial<NewApproval> = {}): NewApproval {
  return {
    grant: 'alpha',
    session: 'session-1',
    client: 'test-agent',
    server: 'fs',
    tool: 'write_file',
    args,
    rule: 'tools.write_file',
    reason: 'Writing files needs a person',
    approvers: [],
    min_approvals: 1,
    channel: undefined,
    timeout_ms: 600_000,
    ...fields,
  };
}
