import type { Tool } from '@modelcontextprotocol/client';
import express, { type Router } from 'express';
import { z } from 'zod';
import { AirlockError, ErrorCode } from '../errors.js';
import { toolRows, type ToolPins } from '../inventory/index.js';
import { parseInput } from '../parse-input.js';
import type { CompiledPolicy } from '../policy/index.js';

export interface ToolsApiOptions {
  servers: string[];
  /** A server's live tools as the gateway serves them, and its policy now. */
  toolsOf(server: string): readonly Tool[];
  policyOf(server: string): CompiledPolicy;
  pins: ToolPins;
}

const QuerySchema = z.object({ server: z.string().min(1).optional(), grant: z.string().min(1).optional() }).strict();

/** `GET /api/tools`: the inventory as this gateway sees it (mounted behind the admin API). */
export function toolsApiRoutes(options: ToolsApiOptions): Router {
  const router = express.Router();
  router.get('/api/tools', async (req, res) => {
    const query = parseInput(QuerySchema, req.query, 'query');
    if (query.server !== undefined && !options.servers.includes(query.server)) {
      throw new AirlockError(ErrorCode.UnknownServer, `no server named "${query.server}" behind this gateway`);
    }
    const names = query.server === undefined ? options.servers : [query.server];
    const servers = await Promise.all(
      names.map(async (server) => {
        const pins = await options.pins.pins(server).catch(() => undefined);
        return { server, tools: toolRows(server, options.toolsOf(server), options.policyOf(server), pins, query.grant) };
      }),
    );
    res.json({ servers });
  });
  return router;
}
