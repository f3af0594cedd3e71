/**
 * The 2026-07-28 upstream for bench:proxy: one `echo` tool on the SDK v2
 * `Server`, answering what server-everything's echo answers. server-everything
 * is on the v1 SDK and speaks 2025-11-25 only, so the 2026 rows need a server
 * of their own.
 *
 * `echo-v2-server.ts stdio` serves both generations on stdin/stdout (the hops
 * spawn it); `echo-v2-server.ts http PORT` serves both on `/mcp` (2026 per
 * request, 2025 through the SDK's stateless fallback) for the direct side and
 * prints "listening on port PORT" once ready.
 */
import { createServer } from 'node:http';
import { createMcpHandler, Server } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { toNodeHandler } from '@modelcontextprotocol/node';

const ECHO = {
  name: 'echo',
  description: 'Echoes back the input',
  inputSchema: { type: 'object' as const, properties: { message: { type: 'string' } }, required: ['message'] },
};

function echoServer(): Server {
  const server = new Server({ name: 'bench-echo-v2', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler('tools/list', () => ({ tools: [ECHO] }));
  server.setRequestHandler('tools/call', (request) => {
    const message = (request.params.arguments as { message?: unknown } | undefined)?.message;
    return { content: [{ type: 'text', text: `Echo: ${String(message)}` }] };
  });
  return server;
}

const [mode, port] = process.argv.slice(2);
if (mode === 'stdio') {
  serveStdio(() => echoServer());
} else if (mode === 'http') {
  const handler = toNodeHandler(createMcpHandler(() => echoServer()));
  const http = createServer((req, res) => {
    if (req.url?.split('?')[0] !== '/mcp') {
      res.writeHead(404).end();
      return;
    }
    void handler(req, res);
  });
  http.listen(Number(port), '127.0.0.1', () => console.error(`listening on port ${port}`));
  process.once('SIGTERM', () => http.close(() => process.exit(0)));
} else {
  console.error('usage: echo-v2-server.ts stdio | http PORT');
  process.exit(2);
}
