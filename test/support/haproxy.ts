import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { findExecutable } from '../../src/redis/index.js';
import { freePort } from './free-port.js';
import { until } from './poll.js';

export interface RunningHaproxy {
  /** `http://127.0.0.1:PORT` */
  url: string;
  stop(): Promise<void>;
}

/**
 * HAProxy (the Debian package `haproxy`, which .ci/run installs) in front of
 * `backends`, round robin and without stickiness, as a platform team would
 * put it in front of several Airlock instances. Resolves once it answers
 * /healthz through every backend being up.
 */
export async function startHaproxy(backends: readonly string[]): Promise<RunningHaproxy> {
  // Debian installs it in /usr/sbin, which a non-root PATH may lack.
  const binary = findExecutable('haproxy', [process.env.PATH ?? '', '/usr/sbin', '/sbin'].join(delimiter));
  if (!binary) throw new Error('haproxy is not installed: apt-get install -y haproxy (.ci/run does)');
  const dir = mkdtempSync(join(tmpdir(), 'airlock-haproxy-'));
  const port = await freePort();
  const config = [
    'global',
    '  maxconn 512',
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    // A session's GET stream stays open for as long as the client is connected.
    '  timeout client 10m',
    '  timeout server 10m',
    // The connection to a backend closes after each response, so every request is balanced on its own: no stickiness.
    '  option http-server-close',
    // A request sent to an instance that died before the health check noticed fails to connect: HAProxy retries it
    // and redispatches it to another backend (connect failures only: nothing reached the dead instance, so nothing
    // runs twice). The health check then takes the dead backend out, so later requests are not even tried there.
    '  retries 3',
    '  option redispatch 1',
    'frontend airlock',
    `  bind 127.0.0.1:${port}`,
    '  default_backend instances',
    'backend instances',
    '  balance roundrobin',
    '  option httpchk GET /healthz',
    '  default-server check inter 200ms fall 1 rise 1',
    ...backends.map((url, i) => `  server airlock${i} ${new URL(url).host}`),
    '',
  ].join('\n');
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, config);
  const child = spawn(binary, ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until('haproxy to answer through every backend', async () => {
      if (child.exitCode !== null) throw new Error(`haproxy exited with ${child.exitCode}: ${stderr}`);
      const answers = await Promise.all(
        backends.map(() =>
          fetch(`${url}/healthz`).then(
            (r) => r.status,
            () => 0,
          ),
        ),
      );
      return answers.every((status) => status === 200);
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, stop };
}
