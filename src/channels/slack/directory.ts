import type { Logger } from 'pino';
import { TtlCache } from './ttl-cache.js';
import { describeSlackError, type WebClient } from './web-client.js';

/** Names change rarely; group members change, and a removed approver must lose the right soon. */
const NAME_TTL_MS = 10 * 60_000;
const MEMBERS_TTL_MS = 60_000;
const MAX_ENTRIES = 5_000;

export interface Membership {
  /** The listed user groups (`S…`) the user is in. */
  memberOf: string[];
  /** Listed groups whose members Slack would not tell. */
  unknown: string[];
}

/**
 * Who a Slack user is: their name (`users.info`), recorded with their vote,
 * and which approver groups they are in (`usergroups.users.list`). Both are
 * cached briefly, so a burst of clicks costs Slack a few calls.
 */
export class SlackDirectory {
  readonly #client: WebClient;
  readonly #logger: Logger;
  readonly #names: TtlCache<string | null>;
  readonly #members: TtlCache<ReadonlySet<string>>;

  constructor(client: WebClient, logger: Logger, now?: () => number) {
    this.#client = client;
    this.#logger = logger;
    this.#names = new TtlCache({ ttlMs: NAME_TTL_MS, maxEntries: MAX_ENTRIES, ...(now && { now }) });
    this.#members = new TtlCache({ ttlMs: MEMBERS_TTL_MS, maxEntries: MAX_ENTRIES, ...(now && { now }) });
  }

  /** The user's display name, else real name, else handle; undefined when Slack cannot say (the vote is then recorded by id alone). */
  async nameOf(user: string): Promise<string | undefined> {
    const cached = this.#names.get(user);
    if (cached !== undefined) return cached ?? undefined;
    try {
      const answer = await this.#client.users.info({ user });
      const profile = answer.user?.profile;
      const name =
        [profile?.display_name, profile?.real_name, answer.user?.real_name, answer.user?.name].find(
          (n) => typeof n === 'string' && n.trim() !== '',
        ) ?? null;
      this.#names.set(user, name);
      return name ?? undefined;
    } catch (err) {
      this.#logger.warn({ user, err: describeSlackError(err) }, 'could not read a Slack user name (users.info)');
      return undefined;
    }
  }

  /** Which of `approvers`' user groups (`S…`) have `user` as a member. */
  async membership(user: string, approvers: readonly string[]): Promise<Membership> {
    const groups = approvers.filter((a) => /^S[A-Z0-9]{2,}$/.test(a));
    const found = await Promise.all(groups.map(async (group) => ({ group, members: await this.#membersOf(group) })));
    return {
      memberOf: found.filter((f) => f.members?.has(user)).map((f) => f.group),
      unknown: found.filter((f) => f.members === undefined).map((f) => f.group),
    };
  }

  async #membersOf(group: string): Promise<ReadonlySet<string> | undefined> {
    const cached = this.#members.get(group);
    if (cached !== undefined) return cached;
    try {
      const answer = await this.#client.usergroups.users.list({ usergroup: group });
      const members = new Set(answer.users ?? []);
      this.#members.set(group, members);
      return members;
    } catch (err) {
      this.#logger.warn(
        { usergroup: group, err: describeSlackError(err) },
        'could not read the members of a Slack user group (usergroups.users.list)',
      );
      return undefined;
    }
  }
}
