import type { Approval, CompiledPolicy, CompiledRule, Limit } from './compile.js';
import type { CompiledCondition } from './conditions.js';
import type { RiskClass } from './schema.js';

/** One `tools/call` as the policy sees it. */
export interface ToolCall {
  tool: string;
  args?: Record<string, unknown>;
  /**
   * The arguments as they may be shown (redacted): a reason quotes values from
   * here, at the same path, and never from `args`. Without it, from `args`.
   */
  quotable?: Record<string, unknown>;
  grant?: string;
  /** The tool's risk class from the inventory; `unknown` when not given. */
  risk?: RiskClass;
  /** The tool's definition changed since an admin last accepted it. */
  changed?: boolean;
}

export interface Decision {
  action: 'allow' | 'deny' | 'hide' | 'require_approval';
  /** The rule that fired, as a path into the policy: `tools.create_refund.deny_if[0]`, `default`, `hide[0]`, `risk.write`. */
  rule: string;
  /** Why, in words a person can read; shown to the agent on deny and to reviewers on approval. */
  reason: string;
  /** The `tools` key that matched the call (an exact name or a glob), if any. */
  matched?: string;
  /** Counters to charge when the call is admitted (allow or require_approval); empty otherwise. */
  limits: readonly Readonly<Limit>[];
  /** Present when action is `require_approval`. */
  approval?: Readonly<Approval>;
}

// Decisions share these with the compiled policy, so they are frozen: a caller cannot change the policy through a decision.
const NO_APPROVAL_SETTINGS: Readonly<Approval> = Object.freeze({ approvers: Object.freeze([]) as unknown as string[], min_approvals: 1 });

/**
 * The policy's verdict on one call. Pure: no I/O and no clock, so it can be
 * tested exhaustively and explained without calling anything.
 * Precedence: hide > deny > require_approval > allow.
 */
export function evaluate(policy: CompiledPolicy, call: ToolCall): Decision {
  const hidden = findHidden(policy, call.tool);
  if (hidden)
    return refuse('hide', hidden.where, `${call.tool} is hidden by the policy (${hidden.where}: ${JSON.stringify(hidden.pattern)})`);

  const rule = findRule(policy, call.tool);
  return rule ? evaluateRule(policy, rule, call) : evaluateUnlisted(policy, call);
}

export function isHidden(policy: CompiledPolicy, tool: string): boolean {
  return findHidden(policy, tool) !== undefined;
}

function evaluateRule(policy: CompiledPolicy, rule: CompiledRule, call: ToolCall): Decision {
  const args = call.args ?? {};
  const because = (detail: string) => (rule.reason ? `${rule.reason} (${detail})` : detail);

  if (rule.action === 'deny') {
    return { ...refuse('deny', rule.where, rule.reason ?? `${call.tool} is denied by ${rule.where}`), matched: rule.key };
  }
  const unmet = firstWith(rule.require, args, call.grant, (v) => v !== 'holds');
  if (unmet)
    return {
      ...refuse('deny', unmet.where, because(`required: ${unmet.condition.describe(args, call.grant, call.quotable)}`)),
      matched: rule.key,
    };
  if (rule.schema && !rule.schema(args)) {
    const errors = (rule.schema.errors ?? []).map(
      (e) => `${e.instancePath === '' ? 'arguments' : `args${e.instancePath.replaceAll('/', '.')}`} ${e.message ?? 'is invalid'}`,
    );
    return {
      ...refuse('deny', `${rule.where}.schema`, because(`arguments do not match the schema: ${errors.join('; ')}`)),
      matched: rule.key,
    };
  }
  const denied = firstWith(rule.denyIf, args, call.grant, (v) => v === 'holds' || v === 'mismatch');
  if (denied)
    return { ...refuse('deny', denied.where, because(denied.condition.describe(args, call.grant, call.quotable))), matched: rule.key };
  if (call.changed && policy.onToolChange === 'deny') return { ...changedRefusal(call), matched: rule.key };

  const limits = limitsFor(policy, rule, call.tool);
  const approval = rule.approval ?? NO_APPROVAL_SETTINGS;
  if (rule.action === 'require_approval') {
    return {
      action: 'require_approval',
      rule: rule.where,
      reason: rule.reason ?? `${rule.where} requires approval`,
      matched: rule.key,
      limits,
      approval,
    };
  }
  const wanted = firstWith(rule.approveIf, args, call.grant, (v) => v === 'holds' || v === 'mismatch');
  if (wanted) {
    return {
      action: 'require_approval',
      rule: wanted.where,
      reason: because(wanted.condition.describe(args, call.grant, call.quotable)),
      matched: rule.key,
      limits,
      approval,
    };
  }
  if (call.changed && policy.onToolChange === 'require_approval') {
    return { ...changedApproval(call), matched: rule.key, limits, approval };
  }
  return { action: 'allow', rule: rule.where, reason: `${call.tool} is allowed by ${rule.where}`, matched: rule.key, limits };
}

function evaluateUnlisted(policy: CompiledPolicy, call: ToolCall): Decision {
  const risk = call.risk ?? 'unknown';
  const byRisk = policy.risk[risk];
  const action = byRisk ?? policy.default;
  const rule = byRisk ? `risk.${risk}` : 'default';
  const why = byRisk
    ? `${call.tool} is not listed in the policy; its risk class is ${risk} and risk.${risk} is ${byRisk}`
    : `${call.tool} is not listed in the policy and the default is ${policy.default}`;

  if (action === 'deny') return refuse('deny', rule, why);
  if (call.changed && policy.onToolChange === 'deny') return changedRefusal(call);
  const limits = policy.allToolsLimits;
  if (action === 'require_approval') return { action, rule, reason: why, limits, approval: NO_APPROVAL_SETTINGS };
  if (call.changed && policy.onToolChange === 'require_approval')
    return { ...changedApproval(call), limits, approval: NO_APPROVAL_SETTINGS };
  return { action: 'allow', rule, reason: why, limits };
}

function changedRefusal(call: ToolCall): Decision {
  return refuse(
    'deny',
    'on_tool_change',
    `${call.tool} changed its description or input schema since it was last accepted, and on_tool_change is deny`,
  );
}

function changedApproval(call: ToolCall): Omit<Decision, 'limits'> {
  return {
    action: 'require_approval',
    rule: 'on_tool_change',
    reason: `${call.tool} changed its description or input schema since it was last accepted; a person must confirm this call`,
  };
}

function refuse(action: 'deny' | 'hide', rule: string, reason: string): Decision {
  return { action, rule, reason, limits: [] };
}

function firstWith(
  conditions: CompiledCondition[],
  args: unknown,
  grant: string | undefined,
  fires: (verdict: ReturnType<CompiledCondition['check']>) => boolean,
): { condition: CompiledCondition; where: string } | undefined {
  for (const condition of conditions) {
    if (fires(condition.check(args, grant))) return { condition, where: condition.where };
  }
  return undefined;
}

/** The tool's own limits, then its `rate_limit` shorthand, then `all_tools.limits`. */
function limitsFor(policy: CompiledPolicy, rule: CompiledRule, tool: string): Decision['limits'] {
  if (!rule.rateLimit) return rule.limits.length === 0 ? policy.allToolsLimits : [...rule.limits, ...policy.allToolsLimits];
  const { max, window, window_ms } = rule.rateLimit;
  const shorthand: Limit = { counter: `${tool}_rate`, window, window_ms, max, scope: 'session', rule: `${rule.where}.rate_limit` };
  return [...rule.limits, shorthand, ...policy.allToolsLimits];
}

function findHidden(policy: CompiledPolicy, tool: string): CompiledPolicy['hide'][number] | undefined {
  for (const entry of policy.hide) {
    if (entry.regex ? entry.regex.test(tool) : entry.pattern === tool) return entry;
  }
  return undefined;
}

/** An exact key wins; else the first glob in file order. */
function findRule(policy: CompiledPolicy, tool: string): CompiledRule | undefined {
  const exact = policy.exact.get(tool);
  if (exact) return exact;
  if (policy.globs.length === 0) return undefined;
  const cached = policy.lookupCache.get(tool);
  if (cached !== undefined) return cached ?? undefined;
  const found = policy.globs.find((g) => g.regex.test(tool))?.rule;
  // Tool names come from upstream servers and are few, but bound the memo anyway.
  if (policy.lookupCache.size >= 10_000) policy.lookupCache.clear();
  policy.lookupCache.set(tool, found ?? null);
  return found;
}
