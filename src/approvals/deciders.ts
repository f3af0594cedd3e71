import type { ApprovalRequest } from './request.js';

/** Someone deciding through one channel: a Slack user by id, or a console admin by name. */
export interface Decider {
  /** The channel: `slack` or `console`. */
  via: string;
  /** A Slack user id, or an admin's name. */
  id: string;
  /**
   * The listed Slack user groups (`S…`) the user is in. Only Slack knows
   * their members, so the Slack channel resolves them before deciding.
   */
  memberOf?: readonly string[];
}

/** A `people` entry of the config: the identities one person decides through. */
export interface PersonEntry {
  name: string;
  slack: readonly string[];
  admins: readonly string[];
}

export type Entitlement =
  { ok: true; person: string | undefined } | { ok: false; why: 'console_only' | 'not_listed'; message: string; person: string | undefined };

/**
 * Who may decide a held call, and who counts as one person. A request
 * carries the approvers list that applied when it was held (the rule's, or
 * `approvals.approvers`); an empty one means no list applied, and then only
 * console admins decide: a Slack channel anyone can read is not a list of
 * people entitled to release a call. When a list applies, it governs every
 * channel. A listed identity, group or person's name entitles the whole
 * person (every identity `people` links to them), but group membership is
 * known only for the Slack user who clicked.
 */
export class Deciders {
  readonly #byIdentity = new Map<string, PersonEntry>();
  readonly #byName = new Map<string, PersonEntry>();

  constructor(people: readonly PersonEntry[] = []) {
    for (const person of people) {
      this.#byName.set(person.name, person);
      for (const id of person.slack) this.#byIdentity.set(identityKey('slack', id), person);
      for (const id of person.admins) this.#byIdentity.set(identityKey('console', id), person);
    }
  }

  /** The `people` name of whoever holds this identity, if one links it. */
  personOf(decider: Pick<Decider, 'via' | 'id'>): string | undefined {
    return this.#byIdentity.get(identityKey(decider.via, decider.id))?.name;
  }

  entitlement(request: Pick<ApprovalRequest, 'approvers' | 'server' | 'tool'>, decider: Decider): Entitlement {
    const person = this.#byIdentity.get(identityKey(decider.via, decider.id));
    const call = `${request.server}/${request.tool}`;
    if (request.approvers.length === 0) {
      if (decider.via === 'console') return { ok: true, person: person?.name };
      return {
        ok: false,
        why: 'console_only',
        person: person?.name,
        message: `no approvers list applies to ${call}, so only console admins may decide it; to let Slack users decide such calls, list them in approvals.approvers (config) or the rule's approval.approvers (policy)`,
      };
    }
    const listed = new Set(request.approvers);
    const names = person ? [person.name, ...person.slack, ...person.admins] : [decider.id];
    if (names.some((n) => listed.has(n)) || (decider.memberOf ?? []).some((g) => listed.has(g))) return { ok: true, person: person?.name };
    const who = person ? `${person.name} (${describeIdentity(decider)})` : describeIdentity(decider);
    return {
      ok: false,
      why: 'not_listed',
      person: person?.name,
      message: `${who} is not an approver for ${call} (approvers: ${request.approvers.join(', ')})`,
    };
  }
}

/** Who decides a hold: the rule's approvers, else the config's `approvals.approvers`, else nobody listed (console admins only). */
export function approverList(
  rule: readonly string[] | undefined,
  configured: readonly string[] | undefined,
): { approvers: readonly string[]; from: 'rule' | 'config' | null } {
  if (rule !== undefined && rule.length > 0) return { approvers: rule, from: 'rule' };
  if (configured !== undefined && configured.length > 0) return { approvers: configured, from: 'config' };
  return { approvers: [], from: null };
}

/** The approvers of a hold in words: `U0ALICE, S0OPS` (with where the list came from), or that only console admins decide. */
export function describeApprovers(list: { approvers: readonly string[]; from: 'rule' | 'config' | null }): string {
  if (list.approvers.length === 0)
    return "console admins only (no approvers list applies: set approvals.approvers, or the rule's approval.approvers)";
  return `${list.approvers.join(', ')}${list.from === 'config' ? ' (approvals.approvers)' : ''}`;
}

/**
 * The person a vote counts for: its `people` name, else the identity
 * itself. decide.lua keys votes the same way (`voter_key`), so one person
 * approves once whichever identity they use.
 */
export function voterKey(vote: { by: string; via: string; person?: string }): string {
  return vote.person !== undefined ? `person:${vote.person}` : identityKey(vote.via, vote.by);
}

/** `alice`, or `Slack user U0ALICE`: a person as a refusal names them. */
export function describeVoter(vote: { by: string; via: string; person?: string; name?: string }): string {
  if (vote.person !== undefined) return vote.person;
  return vote.name !== undefined
    ? `${vote.name} (${describeIdentity({ via: vote.via, id: vote.by })})`
    : describeIdentity({ via: vote.via, id: vote.by });
}

/** `Slack user U0ALICE`, `admin alice`. */
export function describeIdentity(decider: Pick<Decider, 'via' | 'id'>): string {
  if (decider.via === 'slack') return `Slack user ${decider.id}`;
  if (decider.via === 'console') return `admin ${decider.id}`;
  return `${decider.id} (${decider.via})`;
}

function identityKey(via: string, id: string): string {
  return `${via}:${id}`;
}
