import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedisServer, type RedisServer } from '../../src/redis/index.js';

export interface TestRedis {
  /** `redis://127.0.0.1:PORT`; the same across `restart()`. */
  readonly url: string;
  readonly port: number;
  /** The current redis-server process. */
  readonly pid: number;
  /** The server's folder (its append-only file, if any, lives here). */
  readonly dir: string;
  /** Stops the server and removes its folder. Safe to call twice. */
  stop(): Promise<void>;
  /** SIGSTOP: the port still accepts connections but nothing answers, like a hung or half-open Redis. */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
  /** Stops the server and starts a new one on the same port and folder, running `whileDown` in between. */
  restart(whileDown?: () => Promise<void>): Promise<void>;
}

/**
 * A private `redis-server` on a free port of 127.0.0.1 with its own temporary
 * folder, for any test that needs Redis (never the shared one on 6379).
 * Persistence is off unless `appendonly` is set.
 *
 * The caller stops it, typically `after(() => redis.stop())`. Should it
 * forget, the server is still killed when the test process exits, and it
 * never keeps that process alive.
 */
export async function startRedis(options: { appendonly?: boolean } = {}): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-redis-'));
  const start = (port?: number) => startRedisServer({ binary: 'redis-server', dir, port, appendonly: options.appendonly ?? false });
  let server: RedisServer = await start();
  let stopped = false;
  return {
    get url() {
      return server.url;
    },
    get port() {
      return server.port;
    },
    get pid() {
      return server.pid;
    },
    dir,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
    pause() {
      process.kill(server.pid, 'SIGSTOP');
    },
    resume() {
      process.kill(server.pid, 'SIGCONT');
    },
    async restart(whileDown) {
      await server.stop();
      try {
        await whileDown?.();
      } finally {
        server = await start(server.port);
      }
    },
  };
}
