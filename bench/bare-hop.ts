/**
 * The yardstick for bench:proxy: the thinnest MCP proxy the SDK v2 allows,
 * with nothing but the SDK's own layers: express with a JSON body parser on
 * `/mcp`, 2025 clients on a session transport each
 * (`NodeStreamableHTTPServerTransport`), 2026 clients per request
 * (`createMcpHandler`), and one v2 `Client` to a stdio upstream; no policy,
 * limits, audit, logs or metrics. What Airlock costs beyond it is Airlock's
 * own; what it shares with it is the SDK's.
 *
 * Run alone (`bare-hop.ts PORT legacy|2026-07-28 COMMAND [ARGS...]`) it
 * prints "listening on URL" once ready and stops on SIGTERM.
 */
import { randomUUID } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { CallToolResultSchema, ListToolsResultSchema } from '@modelcontextprotocol/core';
import { NodeStreamableHTTPServerTransport, toNodeHandler } from '@modelcontextprotocol/node';
import { classifyInboundRequest, createMcpHandler, isInitializeRequest, Server } from '@modelcontextprotocol/server';

export interface BareHop {
  url: string;
  close(): Promise<void>;
}

export interface BareHopUpstream {
  command: string;
  args: string[];
  /** 'legacy': the 2025 handshake; a version pins the modern era at it. */
  protocol: 'legacy' | '2026-07-28';
}

export async function startBareHop(spec: BareHopUpstream, port = 0): Promise<BareHop> {
  const upstream = new Client(
    { name: 'bare-hop', version: '1.0.0' },
    { versionNegotiation: { mode: spec.protocol === 'legacy' ? 'legacy' : { pin: spec.protocol } } },
  );
  await upstream.connect(new StdioClientTransport({ command: spec.command, args: spec.args, stderr: 'ignore' }));
  const makeServer = () => {
    const server = new Server({ name: 'bare-hop', version: '1.0.0' }, { capabilities: { tools: {} } });
    server.setRequestHandler('tools/list', () => upstream.request({ method: 'tools/list', params: {} }, ListToolsResultSchema));
    server.setRequestHandler('tools/call', (request, ctx) =>
      upstream.request({ method: 'tools/call', params: request.params }, CallToolResultSchema, { signal: ctx.mcpReq.signal }),
    );
    return server;
  };
  const modern = toNodeHandler(createMcpHandler(makeServer, { legacy: 'reject' }));
  const sessions = new Map<string, { server: Server; transport: NodeStreamableHTTPServerTransport }>();
  const app = express();
  app.use(express.json({ limit: '1mb' }));
  app.all('/mcp', async (req, res) => {
    const header = (name: string) => (typeof req.headers[name] === 'string' ? req.headers[name] : undefined);
    const route = classifyInboundRequest({
      httpMethod: req.method,
      protocolVersionHeader: header('mcp-protocol-version'),
      mcpMethodHeader: header('mcp-method'),
      mcpNameHeader: header('mcp-name'),
      body: req.body,
    });
    if (route.kind !== 'legacy') return modern(req, res, req.body);
    const id = header('mcp-session-id');
    const session = id === undefined ? undefined : sessions.get(id);
    if (session) return session.transport.handleRequest(req, res, req.body);
    if (!isInitializeRequest(req.body))
      return res.status(400).json({ jsonrpc: '2.0', error: { code: -32000, message: 'no such session' }, id: null });
    const server = makeServer();
    const transport: NodeStreamableHTTPServerTransport = new NodeStreamableHTTPServerTransport({
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
  const [port = '0', protocol = 'legacy', command = '', ...args] = process.argv.slice(2);
  if (protocol !== 'legacy' && protocol !== '2026-07-28') throw new Error(`bare-hop: unknown protocol ${protocol}`);
  const hop = await startBareHop({ command, args, protocol }, Number(port));
  console.log(`listening on ${hop.url}`);
  process.once('SIGTERM', () => void hop.close().then(() => process.exit(0)));
}
