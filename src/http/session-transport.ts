import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { WebStandardStreamableHTTPServerTransport, type AuthInfo, type JSONRPCMessage } from '@modelcontextprotocol/server';

/**
 * A 2025 session's Streamable HTTP transport. It serves Node requests as the
 * SDK's `NodeStreamableHTTPServerTransport` does (the same request listener
 * over the Web Standard transport), and can also be fed messages that no
 * client sent: the SDK's transport has no way to adopt a session id opened
 * elsewhere, so a session is rebuilt by replaying its recorded `initialize`
 * (and what followed) into a fresh transport whose sessionIdGenerator returns
 * that id. Nothing replayed reaches a client: the answers are read and dropped.
 */
export class SessionTransport extends WebStandardStreamableHTTPServerTransport {
  /** Rewrites what the session sends its agent (the ids of Airlock's questions: see SessionAnswers). */
  outgoing: ((message: JSONRPCMessage) => JSONRPCMessage) | undefined;

  override send(message: JSONRPCMessage, options?: Parameters<WebStandardStreamableHTTPServerTransport['send']>[1]): Promise<void> {
    return super.send(this.outgoing ? this.outgoing(message) : message, options);
  }

  async handleNodeRequest(req: IncomingMessage & { auth?: AuthInfo }, res: ServerResponse, parsedBody: unknown): Promise<void> {
    const authInfo = req.auth;
    await getRequestListener((request) => this.handleRequest(request, { authInfo, parsedBody }), { overrideGlobalObjects: false })(
      req,
      res,
    );
  }

  /**
   * Posts `message` to the session as its client would on `path`, waits for
   * the answer and drops it. Rejects when the transport turns it away (an
   * initialize it will not take, say): the session is then not what its
   * record says. No MCP-Protocol-Version header: the transport then holds
   * the request to the version the replayed initialize negotiated.
   */
  async replay(path: string, message: JSONRPCMessage): Promise<void> {
    const headers: Record<string, string> = {
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
      ...(this.sessionId !== undefined && { 'mcp-session-id': this.sessionId }),
    };
    // The host is never looked at (Airlock checks Host before any session is touched); the path is the session's own.
    const request = new Request(new URL(path, 'http://airlock.invalid'), { method: 'POST', headers, body: JSON.stringify(message) });
    const answer = await this.handleRequest(request, { parsedBody: message });
    // Reading to the end waits for the session's Server to answer a request; a notification is answered 202 at once.
    const text = await answer.text();
    if (!answer.ok)
      throw new Error(`the transport turned the replayed ${describe(message)} down: HTTP ${answer.status} ${text.slice(0, 200)}`);
  }
}

function describe(message: JSONRPCMessage): string {
  return 'method' in message ? message.method : 'message';
}
