import { ProtocolErrorCode as JsonRpcError, type CallToolResult } from '@modelcontextprotocol/server';
import { ProtocolError } from './errors.js';

/** The first words of every refusal's text: stable, since agents and their users read them. */
export type RefusalKind =
  'POLICY DENIED' | 'RATE LIMITED' | 'APPROVAL PENDING' | 'APPROVAL USED' | 'APPROVAL REJECTED' | 'APPROVAL EXPIRED' | 'UNAVAILABLE';

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

/** Airlock's answer on `/mcp` for a resource URI no server lists or has a template for; a hidden one gets it too. */
export function unknownResource(uri: string): ProtocolError {
  return new ProtocolError(JsonRpcError.InvalidParams, `Unknown resource: ${uri}`);
}

/** Airlock's answer on `/mcp` for a prompt name without a known server's prefix. */
export function unknownPrompt(name: string): ProtocolError {
  return new ProtocolError(JsonRpcError.InvalidParams, `Unknown prompt: ${name}`);
}

/**
 * What a server built on the MCP SDK's McpServer (server-everything, and
 * most servers) answers for a resource, template or prompt it does not have,
 * byte for byte as it reaches the agent through Airlock, its own
 * "MCP error -32602: " included; a hidden one the rest of the policy would
 * let through gets it (a hidden resource on `/mcp` gets `unknownResource`),
 * so it reads like one the server does not have.
 */
export function notFoundAsServers(what: `Resource ${string}` | `Resource template ${string}` | `Prompt ${string}`): ProtocolError {
  return new ProtocolError(JsonRpcError.InvalidParams, `MCP error -32602: ${what} not found`);
}
