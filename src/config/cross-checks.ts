import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Problem } from '../errors.js';
import { problemAt, type SourceDocument } from './document.js';
import { LOCAL_ADMIN_NAME, SLACK_GROUP_ID, SLACK_USER_ID } from './schema.js';
import { describeValue, suggest } from './zod-problems.js';
import { errorMessage } from '../errors.js';

/** The hex SHA-256 a bearer token is compared by, whichever way the config gives it. */
export function tokenSha256(credential: { token?: string; token_sha256?: string }): string {
  if (credential.token !== undefined) return createHash('sha256').update(credential.token).digest('hex');
  return (credential.token_sha256 ?? '').toLowerCase();
}

/**
 * Checks that relate one part of the config to another (the file system's
 * part is policyFileProblems). They read the unvalidated value, guarding each
 * step, so that they run (and report) even when the schema found problems
 * elsewhere.
 */
export function crossCheck(source: SourceDocument, value: unknown, knownChannels?: readonly string[]): Problem[] {
  if (!isRecord(value)) return [];
  const problems: Problem[] = [];
  const report = (path: readonly PropertyKey[], message: string): void => {
    problems.push(problemAt(source, path, message));
  };

  const servers = isRecord(value.servers) ? value.servers : {};
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
      if (grant !== undefined)
        report([list, index, key], `same token as grants[${grant}]: an agent holding it could approve its own calls`);
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

  checkChannels(value, knownChannels, report);
  checkPeople(value, report);
  return problems;
}

/** Each channel `approvals.channel` or `approvals.channels` names must be one this process has, and Slack needs its section. */
function checkChannels(
  value: Record<string, unknown>,
  known: readonly string[] | undefined,
  report: (path: readonly PropertyKey[], message: string) => void,
): void {
  if (!isRecord(value.approvals)) return;
  const { channel, channels } = value.approvals;
  const named: [PropertyKey[], unknown][] = Array.isArray(channels)
    ? channels.map((name: unknown, at) => [['approvals', 'channels', at], name])
    : [[['approvals', 'channel'], channel]];
  for (const [path, name] of named) {
    if (typeof name !== 'string' || name === '') continue;
    if (known !== undefined && !known.includes(name)) {
      report(
        path,
        `expected one of ${known.map((k) => JSON.stringify(k)).join(', ')}, got ${describeValue(name)}${suggest(name, known, { listOtherwise: false })}`,
      );
    } else if (name === 'slack' && !('slack' in value)) {
      report(path, 'is "slack" but there is no slack section: add one, or use "console"');
    }
  }
}

/**
 * `people` must link each identity to one person, and name only admins that
 * exist; `approvals.approvers` must name someone. A typo in either would
 * silently give a vote to nobody, or two votes to one person.
 */
function checkPeople(value: Record<string, unknown>, report: (path: readonly PropertyKey[], message: string) => void): void {
  const configured = (Array.isArray(value.admins) ? value.admins : []).flatMap((a: unknown) =>
    isRecord(a) && typeof a.name === 'string' ? [a.name] : [],
  );
  const admins = configured.length > 0 ? configured : [LOCAL_ADMIN_NAME];
  const people = Array.isArray(value.people) ? (value.people as unknown[]) : [];
  const personNames = new Map<string, number>();
  const owners = { slack: new Map<string, number>(), admins: new Map<string, number>() };
  people.forEach((person, index) => {
    if (!isRecord(person)) return;
    if (typeof person.name === 'string') {
      const first = personNames.get(person.name);
      if (first !== undefined) report(['people', index, 'name'], `duplicate name ${JSON.stringify(person.name)} (also people[${first}])`);
      else personNames.set(person.name, index);
      const ownAdmins = Array.isArray(person.admins) ? person.admins : [];
      if (admins.includes(person.name) && !ownAdmins.includes(person.name)) {
        report(
          ['people', index, 'name'],
          `${JSON.stringify(person.name)} is also an admin's name but not among this person's admins: an approvers list naming it would be ambiguous; add it to admins or rename the person`,
        );
      }
    }
    for (const kind of ['slack', 'admins'] as const) {
      const ids = Array.isArray(person[kind]) ? (person[kind] as unknown[]) : [];
      ids.forEach((id, at) => {
        if (typeof id !== 'string') return;
        const first = owners[kind].get(id);
        if (first !== undefined && first !== index)
          report(['people', index, kind, at], `${JSON.stringify(id)} already belongs to people[${first}]: an identity is one person's`);
        else owners[kind].set(id, index);
        if (kind === 'admins' && !admins.includes(id))
          report(['people', index, kind, at], `no admin named ${JSON.stringify(id)}${suggest(id, admins)}`);
      });
    }
  });
  const approvers = isRecord(value.approvals) && Array.isArray(value.approvals.approvers) ? (value.approvals.approvers as unknown[]) : [];
  const known = [...admins, ...personNames.keys()];
  approvers.forEach((entry, index) => {
    if (typeof entry !== 'string' || entry === '' || SLACK_USER_ID.test(entry) || SLACK_GROUP_ID.test(entry) || known.includes(entry))
      return;
    report(
      ['approvals', 'approvers', index],
      `${JSON.stringify(entry)} names no admin, person, Slack user (U…, W…) or Slack user group (S…)${suggest(entry, known)}`,
    );
  });
}

/** Each server's `policy` that names no file (relative paths against `dir`), checked on the unvalidated value like crossCheck. */
export function policyFileProblems(source: SourceDocument, value: unknown, dir: string): Problem[] {
  const servers = isRecord(value) && isRecord(value.servers) ? value.servers : {};
  return Object.entries(servers).flatMap(([name, server]) => {
    if (!isRecord(server) || typeof server.policy !== 'string' || server.policy === '') return [];
    const missing = policyFileProblem(resolve(dir, server.policy));
    return missing ? [problemAt(source, ['servers', name, 'policy'], missing)] : [];
  });
}

function policyFileProblem(file: string): string | undefined {
  try {
    return statSync(file).isFile() ? undefined : `policy file is not a file: ${file}`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR'
      ? `policy file not found: ${file}`
      : `cannot read policy file ${file}: ${errorMessage(err)}`;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
