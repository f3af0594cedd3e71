import type { Tool } from '@modelcontextprotocol/client';
import { pino } from 'pino';
import type { LoadedConfig } from '../config/index.js';
import { AirlockError, ErrorCode } from '../errors.js';
import { Upstream, type EraStore } from '../proxy/index.js';
import { serverNamed } from './lookup.js';

/** The last lines a server wrote on stderr are shown with a failure: they usually say why. */
const STDERR_LINES = 3;

/**
 * The live tool list of a configured server, read by starting it (or
 * connecting to it) the way the gateway does, then closing it again, with
 * the protocol revision it spoke. With `eras` (the deployment's, in Redis)
 * the server's generation is asked only if no one asked it before.
 */
export async function liveTools(config: LoadedConfig, name: string, eras?: EraStore): Promise<{ tools: Tool[]; protocol?: string }> {
  const stderr: string[] = [];
  // Upstream logs each stderr line of a stdio server as `{ stderr }`; nothing else it logs is shown.
  const logger = pino({ level: 'info' }, { write: (line: string) => keepStderr(line, stderr) });
  const upstream = new Upstream({
    name,
    server: serverNamed(config, name),
    logger,
    onNotification: () => undefined,
    ...(eras && { eras }),
  });
  try {
    await upstream.start();
    // Lines written just before a server exits are read after its exit is seen.
    await new Promise((resolve) => setImmediate(resolve));
    if (upstream.status !== 'connected') {
      const said = stderr.length === 0 ? '' : `; its stderr ended: ${stderr.map((line) => JSON.stringify(line)).join(' / ')}`;
      throw new AirlockError(
        ErrorCode.UpstreamUnavailable,
        `server ${name} did not answer tools/list: ${upstream.lastError ?? upstream.status}${said} (airlock doctor checks every server and says more)`,
      );
    }
    return { tools: [...upstream.tools], ...(upstream.protocol !== undefined && { protocol: upstream.protocol }) };
  } finally {
    await upstream.close();
  }
}

function keepStderr(line: string, kept: string[]): void {
  const entry = JSON.parse(line) as { stderr?: unknown };
  if (typeof entry.stderr !== 'string' || entry.stderr.trim() === '') return;
  kept.push(entry.stderr.trim().slice(0, 200));
  if (kept.length > STDERR_LINES) kept.shift();
}
