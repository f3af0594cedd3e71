import type { DiscoverResult, PriorDiscovery } from '@modelcontextprotocol/client';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { canonicalDigest } from '../canonical-json.js';
import { durationMs, type LoadedConfig, type LoadedServer } from '../config/index.js';
import { withDeadline } from '../redis/index.js';

/**
 * Which MCP generation an upstream server speaks, remembered so it is asked
 * once: on stdio the SDK asks (`server/discover`) in a throwaway sibling
 * process, so every connect without a verdict starts the server twice. The
 * spec lets a client keep the answer for the life of the server process and
 * across restarts of the same configuration, probing again when it fails.
 */
export interface EraStore {
  /** The verdict for this server as configured now, if one is kept. */
  read(server: string, digest: string): Promise<PriorDiscovery | undefined>;
  write(server: string, digest: string, verdict: PriorDiscovery): Promise<void>;
  forget(server: string, digest: string): Promise<void>;
}

/**
 * What identifies a server's configuration: the command, its arguments,
 * folder and environment, or the URL and headers, and the protocol asked
 * for. A SHA-256 over all of it, so an environment variable or header that
 * holds a secret is never written anywhere; a change to any of it is a new
 * server, probed afresh.
 */
export function connectionDigest(server: LoadedServer): string {
  const protocol = server.protocol ?? 'auto';
  return server.transport === 'stdio'
    ? canonicalDigest({
        transport: 'stdio',
        command: server.command,
        args: server.args,
        cwd: server.cwd ?? null,
        env: server.env,
        protocol,
      })
    : canonicalDigest({ transport: 'http', url: server.url, headers: server.headers, protocol });
}

/** Verdicts kept by this process only (the CLI without Redis, tests). */
export class MemoryEraStore implements EraStore {
  readonly #verdicts = new Map<string, PriorDiscovery>();

  read(server: string, digest: string): Promise<PriorDiscovery | undefined> {
    return Promise.resolve(this.#verdicts.get(`${server}\n${digest}`));
  }

  write(server: string, digest: string, verdict: PriorDiscovery): Promise<void> {
    this.#verdicts.set(`${server}\n${digest}`, verdict);
    return Promise.resolve();
  }

  forget(server: string, digest: string): Promise<void> {
    this.#verdicts.delete(`${server}\n${digest}`);
    return Promise.resolve();
  }
}

/**
 * A stale 2026 verdict fails loudly at the first request (and is probed
 * again), but a stale 2025 one never fails: an upgraded server still
 * answers `initialize`. So a 2025 verdict is kept a day, a 2026 one a month.
 */
const LEGACY_TTL_S = 24 * 60 * 60;
const MODERN_TTL_S = 30 * 24 * 60 * 60;

/** As written by `RedisEraStore`; read back through this, since an older version may have written it. */
const StoredSchema = z.object({
  digest: z.string(),
  verdict: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('legacy') }),
    z.object({ kind: z.literal('modern'), discover: z.looseObject({ supportedVersions: z.array(z.string()) }) }),
  ]),
  stored_at: z.number(),
});

/**
 * Verdicts in Redis at `<prefix>upstream-era:<server>`, shared by every
 * gateway instance, `airlock stdio`, `doctor` and `tools`, and kept across
 * restarts. One key per server: a configuration change replaces it.
 * Redis trouble is never a connect failure: the verdict is then probed.
 */
export class RedisEraStore implements EraStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #now: () => number;

  constructor(redis: Redis, options: { prefix: string; timeoutMs: number; now?: () => number }) {
    this.#redis = redis;
    this.#prefix = options.prefix;
    this.#timeoutMs = options.timeoutMs;
    this.#now = options.now ?? Date.now;
  }

  async read(server: string, digest: string): Promise<PriorDiscovery | undefined> {
    const raw = await withDeadline(this.#redis.get(this.#key(server)), this.#timeoutMs, 'reading an upstream protocol verdict').catch(
      () => null,
    );
    if (raw === null) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return undefined;
    }
    const stored = StoredSchema.safeParse(parsed);
    if (!stored.success || stored.data.digest !== digest) return undefined;
    const { verdict } = stored.data;
    return verdict.kind === 'legacy' ? { kind: 'legacy' } : { kind: 'modern', discover: verdict.discover as DiscoverResult };
  }

  async write(server: string, digest: string, verdict: PriorDiscovery): Promise<void> {
    const value = JSON.stringify({ digest, verdict, stored_at: this.#now() });
    const ttl = verdict.kind === 'legacy' ? LEGACY_TTL_S : MODERN_TTL_S;
    await withDeadline(this.#redis.set(this.#key(server), value, 'EX', ttl), this.#timeoutMs, 'keeping an upstream protocol verdict').catch(
      () => undefined,
    );
  }

  async forget(server: string, digest: string): Promise<void> {
    // Only the verdict for this configuration: another instance may already run a newer one and have stored its own.
    const current = await this.read(server, digest);
    if (current === undefined) return;
    await withDeadline(this.#redis.del(this.#key(server)), this.#timeoutMs, 'dropping an upstream protocol verdict').catch(() => undefined);
  }

  #key(server: string): string {
    return `${this.#prefix}upstream-era:${server}`;
  }
}

/** The verdicts of a deployment: in its Redis when one is open, else in this process. */
export function eraStoreFor(config: LoadedConfig, redis: Redis | undefined): EraStore {
  return redis === undefined
    ? new MemoryEraStore()
    : new RedisEraStore(redis, { prefix: config.redis.prefix, timeoutMs: durationMs(config.redis.timeout) });
}
