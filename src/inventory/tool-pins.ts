import { createHash } from 'node:crypto';
import type { Tool } from '@modelcontextprotocol/client';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { z } from 'zod';
import { canonicalJson } from '../canonical-json.js';
import { withDeadline } from '../redis/index.js';
import { errorMessage } from '../errors.js';

/** The parts of a definition whose change can change what a call does. */
export function toolDigest(tool: Tool): string {
  const { name, description, inputSchema, annotations } = tool;
  return createHash('sha256')
    .update(canonicalJson({ name, description: description ?? null, inputSchema, annotations: annotations ?? null }))
    .digest('hex');
}

const PinSchema = z.object({
  digest: z.string(),
  /** When this definition was accepted (first seen, or `airlock tools accept`). */
  accepted_at: z.number(),
  /** `first seen` or the admin who accepted it. */
  accepted_by: z.string(),
  /** The accepted description, to show a reviewer what changed. */
  description: z.string(),
});
export type Pin = z.infer<typeof PinSchema>;

const ServedSchema = z.object({ tool: z.looseObject({ name: z.string(), inputSchema: z.looseObject({}) }), served_at: z.number() });

export interface ToolChange {
  /** The description it had when accepted, and what changed, in words. */
  pin: Pin;
  summary: string;
}

const KEEP_DESCRIPTION = 2_000;

/**
 * The accepted definition of every upstream tool, pinned in Redis
 * (`{airlock}:tools:<server>`, one field per tool) the first time any
 * instance sees it. A tool whose definition no longer matches its pin is
 * changed until an admin accepts it again. Each instance keeps the verdicts
 * in memory, so an unchanged tool costs no Redis call; a changed one is read
 * again on use, since another instance (or the CLI) may have accepted it.
 */
export class ToolPins {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #logger: Logger;
  /** Per server: tool name → current digest, for the tools whose pin differs (or could not be read). */
  readonly #changed = new Map<string, Map<string, string>>();

  constructor(redis: Redis, options: { prefix: string; timeoutMs: number; logger: Logger }) {
    this.#redis = redis;
    this.#prefix = options.prefix;
    this.#timeoutMs = options.timeoutMs;
    this.#logger = options.logger;
  }

  /**
   * Pins tools seen for the first time and notes which differ from their
   * pins. When Redis cannot be read every tool counts as changed until the
   * next sync succeeds: a definition nobody checked is not trusted.
   */
  async sync(server: string, tools: readonly Tool[]): Promise<{ added: string[]; changed: string[] }> {
    const digests = new Map(tools.map((t) => [t.name, toolDigest(t)]));
    try {
      const key = this.#key(server);
      const now = Date.now();
      const pipeline = this.#redis.pipeline();
      for (const tool of tools)
        pipeline.hsetnx(key, tool.name, JSON.stringify(pinFor(tool, digests.get(tool.name) ?? '', 'first seen', now)));
      // What this gateway serves, for `airlock tools (accept)`: a stdio server started by the CLI may not say the same.
      pipeline.del(this.#servedKey(server));
      if (tools.length > 0)
        pipeline.hset(this.#servedKey(server), ...tools.flatMap((t) => [t.name, JSON.stringify({ tool: t, served_at: now })]));
      const replies = (await withDeadline(pipeline.exec(), this.#timeoutMs, 'pinning tool definitions')) ?? [];
      const added = tools.filter((_, i) => replies[i]?.[1] === 1).map((t) => t.name);
      const pins = await this.pins(server);
      const changed = new Map([...digests].filter(([name, digest]) => pins.get(name)?.digest !== digest));
      this.#changed.set(server, changed);
      if (changed.size > 0)
        this.#logger.warn(
          { server, tools: [...changed.keys()] },
          'tool definitions changed since they were accepted: calls follow on_tool_change until `airlock tools accept`',
        );
      return { added, changed: [...changed.keys()] };
    } catch (err) {
      this.#changed.set(server, digests);
      this.#logger.warn(
        { server, err: errorMessage(err) },
        'tool pins could not be read: every tool of this server counts as changed until they can',
      );
      return { added: [], changed: [...digests.keys()] };
    }
  }

  /** Whether `tool` differed from its pin at the last look (no I/O: the hot path asks this first). */
  flagged(server: string, tool: string): boolean {
    return this.#changed.get(server)?.has(tool) ?? false;
  }

  /** Whether a call of `tool` meets a definition that changed since it was accepted; undefined when it did not. */
  async change(server: string, tool: Tool): Promise<ToolChange | undefined> {
    const current = this.#changed.get(server)?.get(tool.name);
    if (current === undefined) return undefined;
    let pin: Pin | undefined;
    try {
      pin = (await this.pins(server, [tool.name])).get(tool.name);
    } catch {
      return {
        pin: { digest: '', accepted_at: 0, accepted_by: '', description: '' },
        summary: 'its accepted definition cannot be read from Redis',
      };
    }
    if (pin?.digest === current) {
      this.#changed.get(server)?.delete(tool.name);
      return undefined;
    }
    if (!pin) return { pin: { digest: '', accepted_at: 0, accepted_by: '', description: '' }, summary: 'it has no accepted definition' };
    const description = (tool.description ?? '').slice(0, KEEP_DESCRIPTION);
    const summary =
      description !== pin.description
        ? `its description was ${JSON.stringify(pin.description)} and is now ${JSON.stringify(description)}`
        : 'its input schema or annotations changed';
    return { pin, summary };
  }

  /** Accepts the current definitions: they become the pins. */
  async accept(server: string, tools: readonly Tool[], by: string): Promise<void> {
    if (tools.length === 0) return;
    const now = Date.now();
    const fields = tools.flatMap((t) => [t.name, JSON.stringify(pinFor(t, toolDigest(t), by, now))]);
    await withDeadline(this.#redis.hset(this.#key(server), ...fields), this.#timeoutMs, 'accepting tool definitions');
    for (const tool of tools) this.#changed.get(server)?.delete(tool.name);
  }

  /** The pins of a server (or of some of its tools); entries that cannot be read are left out. */
  async pins(server: string, names?: string[]): Promise<Map<string, Pin>> {
    const key = this.#key(server);
    const entries: [string, string | null][] =
      names === undefined
        ? Object.entries(await withDeadline(this.#redis.hgetall(key), this.#timeoutMs, 'reading tool pins'))
        : (await withDeadline(this.#redis.hmget(key, ...names), this.#timeoutMs, 'reading tool pins')).map((value, i) => [
            names[i] as string,
            value,
          ]);
    const pins = new Map<string, Pin>();
    for (const [name, value] of entries) {
      const parsed = value === null ? undefined : PinSchema.safeParse(safeJson(value));
      if (parsed?.success) pins.set(name, parsed.data);
    }
    return pins;
  }

  /**
   * The definitions a gateway last served for `server` and when, as it saw
   * them (undefined when no gateway published any). Several instances with
   * their own stdio processes: the last one to read its list.
   */
  async served(server: string): Promise<{ tools: Tool[]; served_at: number } | undefined> {
    const fields = await withDeadline(this.#redis.hgetall(this.#servedKey(server)), this.#timeoutMs, 'reading served tool definitions');
    const entries = Object.values(fields).flatMap((value) => {
      const parsed = ServedSchema.safeParse(safeJson(value));
      return parsed.success ? [parsed.data] : [];
    });
    if (entries.length === 0) return undefined;
    return { tools: entries.map((e) => e.tool as Tool), served_at: Math.min(...entries.map((e) => e.served_at)) };
  }

  #servedKey(server: string): string {
    return `${this.#prefix}tools-served:${server}`;
  }

  #key(server: string): string {
    return `${this.#prefix}tools:${server}`;
  }
}

function pinFor(tool: Tool, digest: string, by: string, at: number): Pin {
  return { digest, accepted_at: at, accepted_by: by, description: (tool.description ?? '').slice(0, KEEP_DESCRIPTION) };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
