import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Problem } from '../errors.js';
import { problemAt, type SourceDocument } from './document.js';
import { suggest } from './zod-problems.js';

/** The hex SHA-256 a bearer token is compared by, whichever way the config gives it. */
export function tokenSha256(credential: { token?: string; token_sha256?: string }): string {
  if (credential.token !== undefined) return createHash('sha256').update(credential.token).digest('hex');
  return (credential.token_sha256 ?? '').toLowerCase();
}

/**
 * Checks that relate one part of the config to another or to the file
 * system. They read the unvalidated value, guarding each step, so that they
 * run (and report) even when the schema found problems elsewhere.
 */
export function crossCheck(source: SourceDocument, value: unknown, dir: string): Problem[] {
  if (!isRecord(value)) return [];
  const problems: Problem[] = [];
  const report = (path: readonly PropertyKey[], message: string): void => {
    problems.push(problemAt(source, path, message));
  };

  const servers = isRecord(value.servers) ? value.servers : {};
  for (const [name, server] of Object.entries(servers)) {
    if (!isRecord(server) || typeof server.policy !== 'string' || server.policy === '') continue;
    const missing = policyFileProblem(resolve(dir, server.policy));
    if (missing) report(['servers', name, 'policy'], missing);
  }

  const digestsOf = { grants: new Map<string, number>(), admins: new Map<string, number>() };
  for (const list of ['grants', 'admins'] as const) {
    const entries = Array.isArray(value[list]) ? (value[list] as unknown[]) : [];
    const names = new Map<string, number>();
    const digests = digestsOf[list];
    entries.forEach((entry, index) => {
      if (!isRecord(entry)) return;
      if (typeof entry.name === 'string') {
        const first = names.get(entry.name);
        if (first === undefined) names.set(entry.name, index);
        else report([list, index, 'name'], `duplicate name ${JSON.stringify(entry.name)} (also ${list}[${first}])`);
      }
      const key = typeof entry.token === 'string' ? 'token' : typeof entry.token_sha256 === 'string' ? 'token_sha256' : undefined;
      if (key === undefined || (typeof entry.token === 'string' && typeof entry.token_sha256 === 'string')) return;
      const digest = tokenSha256({ [key]: entry[key] as string });
      const first = digests.get(digest);
      const grant = list === 'admins' ? digestsOf.grants.get(digest) : undefined;
      if (grant !== undefined) report([list, index, key], `same token as grants[${grant}]: an agent holding it could approve its own calls`);
      else if (first === undefined) digests.set(digest, index);
      else report([list, index, key], `same token as ${list}[${first}]: every entry needs its own`);
    });
  }

  const serverNames = Object.keys(servers);
  const grants = Array.isArray(value.grants) ? (value.grants as unknown[]) : [];
  grants.forEach((grant, index) => {
    if (!isRecord(grant) || !Array.isArray(grant.servers)) return;
    grant.servers.forEach((name: unknown, at: number) => {
      if (typeof name === 'string' && name !== '' && !Object.hasOwn(servers, name)) {
        report(['grants', index, 'servers', at], `unknown server ${JSON.stringify(name)}${suggest(name, serverNames)}`);
      }
    });
  });

  if (isRecord(value.approvals) && value.approvals.channel === 'slack' && !('slack' in value)) {
    report(['approvals', 'channel'], 'is "slack" but there is no slack section: add one, or use "console"');
  }
  return problems;
}

function policyFileProblem(file: string): string | undefined {
  try {
    return statSync(file).isFile() ? undefined : `policy file is not a file: ${file}`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? `policy file not found: ${file}` : `cannot read policy file ${file}: ${(err as Error).message}`;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
