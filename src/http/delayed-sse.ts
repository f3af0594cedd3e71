import type { FetchLikeMcpHandler } from '@modelcontextprotocol/node';

/**
 * A 2026 `tools/call` answered as the SDK answers it when it ends within
 * `graceMs` (one JSON body, with the HTTP status the specification gives
 * some errors: 400 for -32021, which a server's questions a client cannot
 * answer end in), else as an SSE stream opened at `graceMs`, with
 * keep-alive comments until the answer, written as its one event (or its
 * own stream, when the SDK streamed it after all). A held call without a
 * progress token sends nothing until it is decided, and fetch gives up on
 * headers after 300 s (undici's headersTimeout), well inside
 * approvals.timeout: the headers must not wait for the decision.
 */
export function sseAfter(handler: FetchLikeMcpHandler, options: { graceMs: number; keepAliveMs: number }): FetchLikeMcpHandler {
  return {
    fetch: async (request, requestOptions) => {
      const answer = handler.fetch(request, requestOptions);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), options.graceMs)));
      const first = await Promise.race([answer, late]);
      clearTimeout(timer);
      return first ?? streamed(answer, options.keepAliveMs);
    },
  };
}

const encoder = new TextEncoder();

function streamed(answer: Promise<Response>, keepAliveMs: number): Response {
  let beat: NodeJS.Timeout | undefined;
  let open = true;
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      // The client may have gone (toNodeHandler then cancels this body and aborts the request): nothing is written after.
      const write = (bytes: Uint8Array) => open && controller.enqueue(bytes);
      beat = setInterval(() => write(encoder.encode(': keepalive\n\n')), keepAliveMs);
      try {
        const response = await answer;
        clearInterval(beat);
        if (response.body !== null && response.headers.get('content-type')?.includes('text/event-stream')) {
          for await (const chunk of response.body) write(chunk);
        } else {
          const data = (await response.text()).split(/\r?\n/).map((line) => `data: ${line}\n`);
          write(encoder.encode(`event: message\n${data.join('')}\n`));
        }
        if (open) controller.close();
      } catch (err) {
        clearInterval(beat);
        if (open) controller.error(err);
      }
    },
    cancel() {
      open = false;
      clearInterval(beat);
    },
  });
  return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } });
}
