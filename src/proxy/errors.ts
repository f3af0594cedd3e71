import { AirlockError, ErrorCode } from '../errors.js';

/** The upstream server could not be reached, or the connection broke during the request. */
export class UpstreamUnavailableError extends AirlockError {
  readonly upstream: string;
  /** Whether the request had reached the server: if so, it may have run. */
  readonly sent: boolean;

  constructor(upstream: string, message: string, options: { sent: boolean; cause?: unknown }) {
    super(ErrorCode.UpstreamUnavailable, message, options);
    this.name = 'UpstreamUnavailableError';
    this.upstream = upstream;
    this.sent = options.sent;
  }
}

/**
 * A JSON-RPC error to answer a downstream request with. The SDK's McpError
 * puts "MCP error <code>:" into its message, which the client then prefixes
 * again; this carries the message exactly as an MCP server would send it.
 */
export class ProtocolError extends Error {
  readonly code: number;
  readonly data: unknown;

  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
    this.data = data;
  }

  /** The error an upstream server answered with, passed on as it sent it. */
  static fromUpstream(err: { code: number; message: string; data?: unknown }): ProtocolError {
    return new ProtocolError(err.code, err.message.replace(/^MCP error -?\d+: /, ''), err.data);
  }
}
