import { ErrorCode as JsonRpcError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { ProtocolError } from './errors.js';

/** The first words of every refusal's text, as CONTRACT.md fixes them. */
export type RefusalKind = 'POLICY DENIED' | 'RATE LIMITED' | 'APPROVAL REJECTED' | 'APPROVAL EXPIRED' | 'UNAVAILABLE';

export interface DecisionMeta {
  decision: string;
  rule?: string;
  reason: string;
  request_id: string;
  server: string;
  tool: string;
  [detail: string]: unknown;
}

/**
 * A refusal is a tool result, not a protocol error, so the agent reads the
 * reason as it reads any tool output; `_meta["airlock/decision"]` carries the
 * same facts for programs.
 */
export function refusal(kind: RefusalKind, text: string, meta: DecisionMeta): CallToolResult {
  return {
    content: [{ type: 'text', text: `[${kind}] ${text}` }],
    isError: true,
    _meta: { 'airlock/decision': meta },
  };
}

/**
 * What an MCP server answers for a tool it does not have (the error of the
 * specification's own example). Hidden tools get exactly this, so an agent
 * cannot tell a hidden tool from one that does not exist.
 */
export function unknownTool(name: string): ProtocolError {
  return new ProtocolError(JsonRpcError.InvalidParams, `Unknown tool: ${name}`);
}
