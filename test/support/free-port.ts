import { createServer } from 'node:net';

/**
 * A port of 127.0.0.1 nothing listens on right now, for a process that must
 * be told its port in advance (`airlock start --port N`, a README command
 * reading AIRLOCK_PORT). Another process could take it before that one
 * listens; the port is the kernel's choice of a free one, so that is rare.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
