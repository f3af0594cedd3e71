import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { tokenSha256, type LoadedConfig } from '../config/index.js';

export type Identity = { ok: true; grant: string | undefined; servers: string[] } | { ok: false; status: 401; message: string };

/**
 * Turns a request's bearer token into a grant. Tokens are compared as
 * SHA-256 digests in constant time, against every grant, so neither the
 * comparison nor the loop says how close a guess was. Without grants the
 * gateway is open, which `airlock start` only allows on loopback.
 */
export function createAuthenticator(config: LoadedConfig): (req: Request) => Identity {
  const allServers = Object.keys(config.servers);
  const grants = (config.grants ?? []).map((g) => ({ name: g.name, digest: Buffer.from(tokenSha256(g), 'hex'), servers: g.servers ?? allServers }));
  if (grants.length === 0) return () => ({ ok: true, grant: undefined, servers: allServers });

  return (req) => {
    const header = req.headers.authorization;
    const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) return { ok: false, status: 401, message: 'missing bearer token: send "Authorization: Bearer <grant token>"' };
    const digest = createHash('sha256').update(match[1] as string).digest();
    let found: (typeof grants)[number] | undefined;
    for (const grant of grants) {
      if (timingSafeEqual(grant.digest, digest) && !found) found = grant;
    }
    if (!found) return { ok: false, status: 401, message: 'the bearer token matches no grant' };
    return { ok: true, grant: found.name, servers: found.servers };
  };
}
