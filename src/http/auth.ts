import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { tokenSha256, type LoadedConfig } from '../config/index.js';

export type Identity = { ok: true; grant: string | undefined; servers: string[] } | { ok: false; status: 401; message: string };
export type AdminIdentity = { ok: true; admin: string } | { ok: false; status: 401; message: string };

/**
 * Turns a request's bearer token into a grant. Without grants the gateway is
 * open, which `airlock start` only allows on loopback.
 */
export function createAuthenticator(config: LoadedConfig): (req: Request) => Identity {
  const allServers = Object.keys(config.servers);
  const grants = config.grants ?? [];
  if (grants.length === 0) return () => ({ ok: true, grant: undefined, servers: allServers });
  const match = tokenMatcher(
    grants.map((g) => ({ ...g, servers: g.servers ?? allServers })),
    'grant',
  );
  return (req) => {
    const found = match(bearerToken(req));
    return found.ok ? { ok: true, grant: found.entry.name, servers: found.entry.servers } : found;
  };
}

/**
 * The one admin a gateway without `admins` has (see resolveLocalAdmin),
 * known by the SHA-256 (hex) of its token: the gateway passes its own; a
 * command working on Redis passes every digest the gateways published.
 */
export interface LocalAdmin {
  name: string;
  sha256: readonly string[];
}

/**
 * Turns an admin token into an admin name, for `/api` and `/metrics` (the
 * request's bearer token) and the CLI. The config's `admins` when it has
 * some; else the local admin, whose token is its own (AIRLOCK_ADMIN_TOKEN,
 * or a file only its user may read), never one everyone knows; else nobody,
 * even on loopback: an agent on the same machine must not be able to
 * approve its own calls.
 */
export function createAdminAuthenticator(config: LoadedConfig, local?: LocalAdmin): (token: string | undefined) => AdminIdentity {
  const admins = config.admins ?? [];
  const entries = admins.length > 0 ? admins : local ? local.sha256.map((digest) => ({ name: local.name, token_sha256: digest })) : [];
  if (entries.length === 0) {
    return () => ({ ok: false, status: 401, message: `no admins are configured: add an \`admins\` entry with a token to ${config.file}` });
  }
  const match = tokenMatcher(entries, 'admin');
  return (token) => {
    const found = match(token);
    return found.ok ? { ok: true, admin: found.entry.name } : found;
  };
}

/** The token of an `Authorization: Bearer <token>` header, else undefined. */
export function bearerToken(req: Request): string | undefined {
  const header = req.headers.authorization;
  return header === undefined ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
}

/**
 * Tokens are compared as SHA-256 digests in constant time, against every
 * entry, so neither the comparison nor the loop says how close a guess was.
 */
function tokenMatcher<E extends { name: string; token?: string; token_sha256?: string }>(entries: E[], kind: string) {
  const digests = entries.map((entry) => ({ entry, digest: Buffer.from(tokenSha256(entry), 'hex') }));
  return (token: string | undefined): { ok: true; entry: E } | { ok: false; status: 401; message: string } => {
    if (token === undefined || token === '')
      return { ok: false, status: 401, message: `missing bearer token: send "Authorization: Bearer <${kind} token>"` };
    const digest = createHash('sha256').update(token).digest();
    let found: E | undefined;
    for (const candidate of digests) {
      if (timingSafeEqual(candidate.digest, digest) && !found) found = candidate.entry;
    }
    return found ? { ok: true, entry: found } : { ok: false, status: 401, message: `the bearer token matches no ${kind}` };
  };
}
