import type { Logger } from 'pino';
import type { ApprovalRequest, ApprovalStatus } from '../../approvals/index.js';
import type { Channel } from '../channel.js';

/**
 * The console channel: requests wait in Redis for an admin, who lists and
 * decides them with `airlock approvals` or `/api/approvals`. Posting and
 * updating are log lines that tell the operator what to run.
 */
export class ConsoleChannel implements Channel {
  readonly name = 'console';
  /** Its API is the admin API's (`/api/approvals`), served whatever the channels, since console admins may always decide. */
  readonly routers = [];
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  async post(request: ApprovalRequest): Promise<undefined> {
    this.#logger.info(
      {
        approval_id: request.id,
        request_id: request.request_id,
        server: request.server,
        tool: request.tool,
        grant: request.grant,
        rule: request.rule,
        expires_at: new Date(request.expires_at).toISOString(),
      },
      `approval needed: ${request.server}/${request.tool} (${request.reason}); decide with: airlock approvals show ${request.id}`,
    );
    return undefined;
  }

  async update(request: ApprovalRequest, status: ApprovalStatus): Promise<void> {
    this.#logger.info(
      {
        approval_id: request.id,
        request_id: request.request_id,
        state: status.state,
        decided_by: status.decided_by,
        execution: status.execution?.result,
      },
      `approval ${request.id} ${status.state}${status.decided_by ? ` by ${status.decided_by}` : ''}${status.execution ? `; the call ran: ${status.execution.result}` : ''}`,
    );
  }

  async close(): Promise<void> {}
}
