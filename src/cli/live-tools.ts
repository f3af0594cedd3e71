import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { pino } from 'pino';
import type { LoadedConfig } from '../config/index.js';
import { AirlockError, ErrorCode } from '../errors.js';
import { Upstream } from '../proxy/index.js';
import { serverNamed } from './lookup.js';

/**
 * The live tool list of a configured server, read by starting it (or
 * connecting to it) the way the gateway does, then closing it again.
 */
export async function liveTools(config: LoadedConfig, name: string): Promise<Tool[]> {
  const upstream = new Upstream({
    name,
    server: serverNamed(config, name),
    logger: pino({ level: 'silent' }),
    onNotification: () => undefined,
  });
  try {
    await upstream.start();
    if (upstream.status !== 'connected') {
      throw new AirlockError(
        ErrorCode.UpstreamUnavailable,
        `server ${name} did not answer tools/list: ${upstream.lastError ?? upstream.status}`,
      );
    }
    return [...upstream.tools];
  } finally {
    await upstream.close();
  }
}
