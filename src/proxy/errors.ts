import { ProtocolError as SdkProtocolError, SdkError, SdkErrorCode } from '@modelcontextprotocol/client';
import { AirlockError, ErrorCode, errorMessage } from '../errors.js';

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
 * A JSON-RPC error to answer a downstream request with: the SDK's own
 * class, so its server sends code, message and data as they are, with
 * the message exactly as an MCP server would write it.
 */
export class ProtocolError extends SdkProtocolError {
  constructor(code: number, message: string, data?: unknown) {
    super(code, message, data);
    this.name = 'ProtocolError';
  }

  /** The error an upstream server answered with, passed on as it sent it (the v2 client adds nothing to its message). */
  static fromUpstream(err: { code: number; message: string; data?: unknown }): ProtocolError {
    return new ProtocolError(err.code, err.message, err.data);
  }
}

const METHOD_NOT_FOUND = -32601;
const INTERNAL_ERROR = -32603;

/**
 * What a failed upstream request means for the caller: the server's own
 * JSON-RPC answer passed on, a method the server's generation lacks as
 * "method not found", and everything else (timeouts, a closed connection,
 * HTTP failures, a result that does not parse) as unavailable.
 */
export function upstreamFailure(name: string, err: unknown): unknown {
  if (err instanceof UpstreamUnavailableError || err instanceof ProtocolError) return err;
  const network = networkFailure(err);
  if (network?.connected === false)
    return new UpstreamUnavailableError(name, `upstream ${name} cannot be reached (${network.code})`, { sent: false, cause: err });
  if (err instanceof SdkProtocolError) return ProtocolError.fromUpstream(err);
  if (err instanceof SdkError) {
    switch (err.code) {
      case SdkErrorCode.MethodNotSupportedByProtocolVersion:
        return new ProtocolError(METHOD_NOT_FOUND, `Method not found: upstream ${name} speaks a protocol revision without it`);
      // A 2026 server asking its user for input mid-call: Airlock declares no such capability, so a server should not (next issue).
      case SdkErrorCode.UnsupportedResultType:
      case SdkErrorCode.InputRequiredRoundsExceeded:
        return new ProtocolError(INTERNAL_ERROR, `upstream ${name} asked for input Airlock cannot relay yet (${err.message})`);
      case SdkErrorCode.NotConnected:
        return new UpstreamUnavailableError(name, `upstream ${name} is not connected`, { sent: false, cause: err });
      case SdkErrorCode.RequestTimeout:
      case SdkErrorCode.ConnectionClosed:
      case SdkErrorCode.SendFailed:
      case SdkErrorCode.InvalidResult:
      default:
        break;
    }
  }
  return new UpstreamUnavailableError(name, `upstream ${name} failed: ${errorMessage(err)}`, { sent: true, cause: err });
}

/** Socket errors that mean no connection was made, so nothing was sent. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * A request to an HTTP server that failed below HTTP (fetch's TypeError
 * "fetch failed", the socket's error as its cause): `connected` is false
 * when no connection was made. Undefined for any other error.
 */
export function networkFailure(err: unknown): { code: string; connected: boolean } | undefined {
  if (!(err instanceof TypeError) || err.message !== 'fetch failed') return undefined;
  const cause = (err as { cause?: { code?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : 'network error';
  return { code, connected: !NOT_CONNECTED.has(code) };
}
