/**
 * The yardstick for bench:proxy: the thinnest MCP proxy the SDK allows, with
 * the same transports Airlock uses on both sides (Streamable HTTP server per
 * session, one Streamable HTTP client to the upstream, the same per-request
 * fetch signals) and nothing else: no policy, limits, audit, logs or metrics.
 * What Airlock costs beyond it is Airlock's own; what it shares with it is
 * the SDK's.
 *
 * Run alone (`bare-hop.ts UPSTREAM_URL PORT`) it prints "listening" once
 * ready and stops on SIGTERM.
 */
import { randomUUID } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  isInitializeRequest,
  ListToolsRequestSchema,
  type CallToolResult,
} from '@modelcontextprotocol/sdk/types.js';
import { withRequestSignals } from '../src/proxy/request-signal.js';

export interface BareHop {
  url: string;
  close(): Promise<void>;
}

export async function startBareHop(upstreamUrl: string, port = 0): Promise<BareHop> {
  const upstream = new Client({ name: 'bare-hop', version: '1.0.0' });
  await upstream.connect(new StreamableHTTPClientTransport(new URL(upstreamUrl), { fetch: withRequestSignals() }));
  const sessions = new Map<string, { server: Server; transport: StreamableHTTPServerTransport }>();
  const app = express();
  app.use(express.json({ limit: '1mb' }));
  app.all('/mcp', async (req, res) => {
    const id = req.headers['mcp-session-id'];
    const session = typeof id === 'string' ? sessions.get(id) : undefined;
    if (session) return session.transport.handleRequest(req, res, req.body);
    if (!isInitializeRequest(req.body))
      return res.status(400).json({ jsonrpc: '2.0', error: { code: -32000, message: 'no such session' }, id: null });
    const server = new Server({ name: 'bare-hop', version: '1.0.0' }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, () => upstream.listTools());
    server.setRequestHandler(
      CallToolRequestSchema,
      async (request, extra) => (await upstream.callTool(request.params, undefined, { signal: extra.signal })) as CallToolResult,
    );
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sid) => {
        sessions.set(sid, { server, transport });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  const http = await new Promise<HttpServer>((resolve) => {
    const listening = app.listen(port, '127.0.0.1', () => resolve(listening));
  });
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    close: async () => {
      await Promise.all([...sessions.values()].map((s) => s.server.close()));
      await upstream.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const hop = await startBareHop(process.argv[2] ?? '', Number(process.argv[3]));
  console.log(`listening on ${hop.url}`);
  process.once('SIGTERM', () => void hop.close().then(() => process.exit(0)));
}
