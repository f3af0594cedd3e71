/**
 * Streamable HTTP by hand, for tests that need to see exactly what goes over
 * the wire (status codes, headers, malformed bodies) where an SDK client
 * would hide it or refuse to send it.
 */

/** The headers every Streamable HTTP POST must carry. */
export const MCP_HEADERS = { Accept: 'application/json, text/event-stream', 'Content-Type': 'application/json' } as const;

export interface JsonRpcError {
  code: number;
  message: string;
  data?: unknown;
}

export interface JsonRpcAnswer {
  jsonrpc: string;
  id: string | number | null;
  result?: Record<string, unknown>;
  error?: JsonRpcError;
}

export interface RawAnswer {
  status: number;
  headers: Headers;
  /** The JSON-RPC messages of the answer: the JSON body, or every `data:` of an SSE stream. Empty for a 202. */
  messages: JsonRpcAnswer[];
}

/** POSTs `body` (an object is JSON-encoded, a string sent as is) and returns the response without reading it. */
export function send(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { ...MCP_HEADERS, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Reads a response to the end and parses it as JSON or as an SSE stream of JSON-RPC messages. */
export async function read(response: Response): Promise<RawAnswer> {
  const text = await response.text();
  const type = response.headers.get('content-type') ?? '';
  let messages: JsonRpcAnswer[] = [];
  if (type.startsWith('text/event-stream')) {
    messages = text
      .split(/\r?\n\r?\n/)
      .map((event) =>
        event
          .split(/\r?\n/)
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trimStart())
          .join('\n'),
      )
      .filter((data) => data !== '')
      .map((data) => JSON.parse(data) as JsonRpcAnswer);
  } else if (text !== '') {
    const parsed = JSON.parse(text) as JsonRpcAnswer | JsonRpcAnswer[];
    messages = Array.isArray(parsed) ? parsed : [parsed];
  }
  return { status: response.status, headers: response.headers, messages };
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<RawAnswer> {
  return read(await send(url, body, headers));
}

/** The one message of an answer that must hold exactly one. */
export function only(answer: RawAnswer): JsonRpcAnswer {
  if (answer.messages.length !== 1)
    throw new Error(`expected one JSON-RPC message, got ${JSON.stringify(answer.messages)} (HTTP ${answer.status})`);
  return answer.messages[0]!;
}

export const INITIALIZE = {
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'airlock-raw-test', version: '1.0.0' } },
} as const;

/** Opens a session on `url` as an MCP client would (initialize, then `notifications/initialized`) and returns its id. */
export async function openSession(url: string, headers: Record<string, string> = {}): Promise<string> {
  const answer = await post(url, INITIALIZE, headers);
  const id = answer.headers.get('mcp-session-id');
  if (answer.status !== 200 || !id || !only(answer).result)
    throw new Error(`initialize failed: HTTP ${answer.status} ${JSON.stringify(answer.messages)}`);
  const initialized = await send(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { ...headers, 'mcp-session-id': id });
  await initialized.body?.cancel();
  if (initialized.status !== 202) throw new Error(`notifications/initialized answered HTTP ${initialized.status}`);
  return id;
}

/** A `tools/call` request message. */
export function toolCall(id: number, name: string, args?: unknown): Record<string, unknown> {
  return { jsonrpc: '2.0', id, method: 'tools/call', params: { name, ...(args !== undefined && { arguments: args }) } };
}
