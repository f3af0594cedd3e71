import type { CallToolResult, InputRequiredResult } from '@modelcontextprotocol/server';
import type { CreateTaskResult } from './call-ends.js';
import type { ModernInput } from './input-rounds.js';
import type { Progress } from './progress.js';
import type { Asker } from './questions.js';

export interface AgentCall {
  server: string;
  tool: string;
  /** The name the agent used (`server__tool` on /mcp), for "unknown tool" answers. */
  calledAs: string;
  args: Record<string, unknown> | undefined;
  /** The downstream request's `_meta`, passed on to the server (its progress token is replaced by the SDK's own). */
  meta: Record<string, unknown> | undefined;
  grant: string | undefined;
  session: string | undefined;
  /** The MCP client's name from its `initialize`, shown to reviewers. */
  client: string | undefined;
  /** The protocol version the client spoke: its session's (2025), or the one its request names (2026). */
  protocol: string | undefined;
  signal: AbortSignal;
  /** Set when the agent asked for progress: heartbeats while held, then the server's own progress. */
  progress?: Progress;
  /**
   * Closes the agent's stream for this call (a 2025 session's, which the
   * agent resumes with `Last-Event-ID`): run when the server closes its own
   * before the result, so the agent sees the polling the server asked for.
   */
  closeStream?: () => void;
  /**
   * How this call's agent is asked what its server asks mid-call (sampling,
   * elicitation, roots): a 2025 session's request on the call's stream. None
   * for a 2026 client, whose questions travel in an `input_required` result.
   */
  asker?: Asker;
  /** A 2026 client's request: its capabilities, and on a retry its answers and Airlock's state (see input-rounds.ts). */
  input?: ModernInput;
}

/**
 * A tool's result, or for a 2026 client a round of its server's questions to
 * answer and call again, or a task to poll (the tasks extension).
 */
export type AnyCallResult = CallToolResult | InputRequiredResult | CreateTaskResult;
