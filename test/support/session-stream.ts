import { MCP_HEADERS, type JsonRpcAnswer } from './raw-mcp.js';

/** A 2025 session's standalone GET stream, read as it arrives. */
export interface SessionStream {
  status: number;
  /** Every JSON-RPC message received so far. */
  messages: JsonRpcAnswer[];
  close(): void;
}

/** Opens the GET stream of session `id` on `url`: where the server sends what is not the answer to a request. */
export async function openSessionStream(url: string, id: string, headers: Record<string, string> = {}): Promise<SessionStream> {
  const abort = new AbortController();
  const response = await fetch(url, {
    headers: { ...headers, Accept: MCP_HEADERS.Accept, 'mcp-session-id': id },
    signal: abort.signal,
  });
  const messages: JsonRpcAnswer[] = [];
  if (response.ok && response.body) {
    const decoder = new TextDecoder();
    let buffer = '';
    void (async () => {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        const events = buffer.split(/\r?\n\r?\n/);
        buffer = events.pop() ?? '';
        for (const event of events) {
          const data = event
            .split(/\r?\n/)
            .filter((line) => line.startsWith('data:'))
            .map((line) => line.slice(5).trimStart())
            .join('\n');
          if (data !== '') messages.push(JSON.parse(data) as JsonRpcAnswer);
        }
      }
    })().catch(() => undefined);
  } else {
    await response.body?.cancel();
  }
  return { status: response.status, messages, close: () => abort.abort() };
}
