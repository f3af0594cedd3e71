import { approverList } from '../approvals/index.js';
import { LOCAL_ADMIN_NAME, SLACK_GROUP_ID, SLACK_USER_ID, type LoadedConfig } from '../config/index.js';
import type { CompiledPolicy } from '../policy/index.js';

/** A hold nobody in the configured channel could decide, or an approver entry that names nobody: said before a call waits on it. */
export interface ApproverWarning {
  /** Where the hold comes from, as a path into the policy (`tools.write_file`, `risk.write`, `on_tool_change`). */
  path: string;
  message: string;
}

/**
 * The holds of one policy that no one could decide where reviewers look:
 * with the Slack channel, a hold whose approvers list names no Slack user,
 * group or person with a Slack id can be decided only from the console;
 * without it, a list that names no admin leaves the call to expire.
 * Entries that name no admin, person, Slack user or group are likely
 * typos, and each is named.
 */
export function approverWarnings(config: LoadedConfig, policy: CompiledPolicy): ApproverWarning[] {
  const who = identities(config);
  const { channels } = config.approvals;
  // Slack users decide only in Slack; console admins always can, whichever channels show the request.
  const slackListed = channels.includes('slack');
  const noSlack =
    channels.length === 1 ? `approvals.channel is ${channels[0]}` : `approvals.channels (${channels.join(', ')}) lists no slack`;
  const warnings: ApproverWarning[] = [];
  const check = (path: string, ruleApprovers: readonly string[] | undefined) => {
    const list = approverList(ruleApprovers, config.approvals.approvers);
    for (const entry of ruleApprovers ?? []) {
      if (!who.known(entry))
        warnings.push({
          path: `${path}.approval.approvers`,
          message: `${JSON.stringify(entry)} names no admin, person (config people), Slack user (U…, W…) or Slack user group (S…)`,
        });
    }
    const source =
      list.from === 'rule' ? `its approval.approvers (${list.approvers.join(', ')})` : `approvals.approvers (${list.approvers.join(', ')})`;
    if (slackListed && !list.approvers.some((e) => who.inSlack(e))) {
      const why = list.from === null ? 'no approvers list applies' : `${source} names no Slack user or group`;
      warnings.push({
        path,
        message: `no Slack user could approve its held calls (${why}), so only console admins can; list Slack users or groups in approval.approvers or approvals.approvers`,
      });
    }
    if (!slackListed && list.from !== null && !list.approvers.some((e) => who.onConsole(e))) {
      warnings.push({
        path,
        message: `no console admin could approve its held calls (${source} names no admin) and ${noSlack}, so they can only expire; list an admin, or use the Slack channel`,
      });
    }
  };
  const canChange = policy.onToolChange === 'require_approval';
  const rules = [...policy.exact.values(), ...policy.globs.map((g) => g.rule)];
  const ownApprovers = (rule: (typeof rules)[number]) => (rule.approval?.approvers.length ?? 0) > 0;
  for (const rule of rules) {
    // A changed tool's call is held under its rule's approval settings: rules without approvers of their own fall to the on_tool_change line below.
    if (rule.action === 'require_approval' || rule.approveIf.length > 0 || (canChange && rule.action === 'allow' && ownApprovers(rule)))
      check(rule.where, rule.approval?.approvers);
  }
  // on_tool_change holds only calls that would otherwise be allowed.
  const allowsSome =
    policy.default === 'allow' ||
    Object.values(policy.risk).includes('allow') ||
    rules.some((r) => r.action === 'allow' && !ownApprovers(r));
  const unlisted = [
    ...Object.entries(policy.risk)
      .filter(([, action]) => action === 'require_approval')
      .map(([riskClass]) => `risk.${riskClass}`),
    ...(canChange && allowsSome ? ['on_tool_change'] : []),
  ];
  if (unlisted.length > 0) check(unlisted.join(', '), undefined);
  return warnings;
}

/** Which approver entries reach someone in Slack, on the console, or at all, under this config's admins and people. */
function identities(config: LoadedConfig) {
  const admins = new Set((config.admins ?? []).length > 0 ? (config.admins ?? []).map((a) => a.name) : [LOCAL_ADMIN_NAME]);
  const people = config.people ?? [];
  const personOf = (entry: string) => people.find((p) => p.name === entry || p.slack.includes(entry) || p.admins.includes(entry));
  return {
    known: (entry: string) => SLACK_USER_ID.test(entry) || SLACK_GROUP_ID.test(entry) || admins.has(entry) || personOf(entry) !== undefined,
    inSlack: (entry: string) => SLACK_USER_ID.test(entry) || SLACK_GROUP_ID.test(entry) || (personOf(entry)?.slack.length ?? 0) > 0,
    onConsole: (entry: string) => admins.has(entry) || (personOf(entry)?.admins.length ?? 0) > 0,
  };
}
