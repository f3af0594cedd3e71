import type { Response } from 'express';

/**
 * An HTTP answer in the shape the SDK's own transport uses for transport-level
 * errors, so MCP clients read it like any server's error.
 */
export function sendJsonRpcError(res: Response, status: number, code: number, message: string, data?: Record<string, unknown>): void {
  if (res.headersSent) return;
  res.status(status).json({ jsonrpc: '2.0', error: { code, message, ...(data && { data }) }, id: null });
}
