import type { ValidateFunction } from 'ajv/dist/2020.js';
import { durationMs, formatPath, problemAt, type SourceDocument } from '../config/index.js';
import { DocumentError, ErrorCode, type Problem } from '../errors.js';
import { compileArgumentSchema } from './argument-schema.js';
import { compileAccess, type CompiledAccess } from './compile-access.js';
import { compileCondition, type CompiledCondition } from './conditions.js';
import { globToRegExp, isGlob, matchesEverything, whyNeverMatches } from './glob.js';
import type { Action, ApprovalSpec, Condition, LimitSpec, PolicyDocument, RiskClass, LimitScope, ToolRule } from './schema.js';

/** A limit ready to charge: the document's fields plus the window in milliseconds. */
export interface Limit {
  counter: string;
  window: string | number;
  window_ms: number;
  max: number;
  scope: LimitScope;
  /** Where it was written, e.g. `tools.export.limits[0]`, `tools.export.rate_limit`, `all_tools.limits[1]`. */
  rule: string;
}

export interface Approval {
  timeout_ms?: number;
  approvers: string[];
  min_approvals: number;
  channel?: string;
  /** Approval pending mode for this rule's held calls (see proxy/pending.ts). */
  pending?: boolean;
}

export interface CompiledRule {
  key: string;
  /** `tools.<key>` as written, for messages. */
  where: string;
  action: Action;
  reason?: string;
  require: CompiledCondition[];
  denyIf: CompiledCondition[];
  approveIf: CompiledCondition[];
  schema?: ValidateFunction;
  limits: readonly Limit[];
  rateLimit?: { max: number; window: string | number; window_ms: number };
  approval?: Approval;
}

export interface CompiledPolicy {
  file: string;
  document: PolicyDocument;
  default: 'allow' | 'deny';
  hide: { pattern: string; where: string; regex?: RegExp }[];
  exact: Map<string, CompiledRule>;
  globs: { regex: RegExp; rule: CompiledRule }[];
  allToolsLimits: readonly Limit[];
  risk: Partial<Record<RiskClass, Action>>;
  onToolChange: Action;
  /** What `resources/read` and `prompts/get` meet; without a section of their own, the policy's `default`. */
  resources: CompiledAccess;
  prompts: CompiledAccess;
  /** Memo of name → rule lookups; names are few and lookups are pure, so this is safe to share. */
  lookupCache: Map<string, CompiledRule | null>;
}

/** Checks what zod cannot (regexes, JSON Schemas, globs, condition values) and builds the fast form. */
export function compilePolicy(document: PolicyDocument, source: SourceDocument): CompiledPolicy {
  const problems: Problem[] = [];
  const at = (path: readonly PropertyKey[], message: string) => problems.push(problemAt(source, path, message));

  const hide = (document.hide ?? []).map((pattern, i) => {
    const never = whyNeverMatches(pattern);
    if (never) at(['hide', i], never);
    return { pattern, where: `hide[${i}]`, regex: isGlob(pattern) ? globToRegExp(pattern) : undefined };
  });

  const exact = new Map<string, CompiledRule>();
  const globs: CompiledPolicy['globs'] = [];
  let catchAll: string | undefined;
  for (const [key, rule] of Object.entries(document.tools ?? {})) {
    const compiled = compileRule(key, rule, at);
    const never = whyNeverMatches(key);
    if (never) at(['tools', key], never);
    if (!isGlob(key)) {
      exact.set(key, compiled);
      continue;
    }
    if (catchAll !== undefined) at(['tools', key], `this glob can never match: the earlier glob "${catchAll}" matches every tool first`);
    if (matchesEverything(key)) catchAll ??= key;
    globs.push({ regex: globToRegExp(key), rule: compiled });
  }

  const allToolsLimits = Object.freeze((document.all_tools?.limits ?? []).map((l, i) => toLimit(l, `all_tools.limits[${i}]`)));
  checkCounterClashes(document, at);
  const resources = compileAccess('resources', document.resources, document.default, at);
  const prompts = compileAccess('prompts', document.prompts, document.default, at);

  if (problems.length > 0) throw new DocumentError(ErrorCode.PolicyInvalid, problems);
  return {
    file: source.file,
    document,
    default: document.default,
    hide,
    exact,
    globs,
    allToolsLimits,
    risk: document.risk ?? {},
    onToolChange: document.on_tool_change,
    resources,
    prompts,
    lookupCache: new Map(),
  };
}

type At = (path: readonly PropertyKey[], message: string) => void;

function compileRule(key: string, rule: ToolRule, at: At): CompiledRule {
  const where = `tools.${key}`;
  const conditions = (list: 'require' | 'deny_if' | 'approve_if'): CompiledCondition[] =>
    (rule[list] ?? []).flatMap((condition: Condition, i) => {
      const compiled = compileCondition(condition, `${where}.${list}[${i}]`);
      if ('problem' in compiled) {
        at(['tools', key, list, i, compiled.at], compiled.problem);
        return [];
      }
      return [compiled];
    });

  let schema: ValidateFunction | undefined;
  if (rule.schema) {
    const compiled = compileArgumentSchema(rule.schema);
    if ('validate' in compiled) schema = compiled.validate;
    else for (const problem of compiled.problems) at(['tools', key, 'schema', ...problem.path], problem.message);
  }

  const limits = Object.freeze((rule.limits ?? []).map((l, i) => toLimit(l, `${where}.limits[${i}]`)));
  const rateLimit = rule.rate_limit && { ...rule.rate_limit, window_ms: durationMs(rule.rate_limit.window) };
  return {
    key,
    where,
    action: rule.action,
    reason: rule.reason,
    require: conditions('require'),
    denyIf: conditions('deny_if'),
    approveIf: conditions('approve_if'),
    schema,
    limits,
    rateLimit,
    approval: rule.approval && toApproval(rule.approval),
  };
}

function toLimit(spec: LimitSpec, rule: string): Limit {
  return Object.freeze({
    counter: spec.counter,
    window: spec.window,
    window_ms: durationMs(spec.window),
    max: spec.max,
    scope: spec.scope,
    rule,
  });
}

function toApproval(spec: ApprovalSpec): Approval {
  return Object.freeze({
    timeout_ms: spec.timeout === undefined ? undefined : durationMs(spec.timeout),
    approvers: Object.freeze(spec.approvers ?? []) as string[],
    min_approvals: spec.min_approvals,
    channel: spec.channel,
    ...(spec.pending !== undefined && { pending: spec.pending }),
  });
}

/**
 * Counters named alike share one count, so they must agree on what they
 * count: two limits naming one counter with another window or scope would
 * make the shared count mean two things.
 */
function checkCounterClashes(document: PolicyDocument, at: At): void {
  const seen = new Map<string, { window_ms: number; scope: LimitScope; path: string }>();
  const check = (limit: LimitSpec, path: PropertyKey[], reportAt: PropertyKey[]) => {
    const here = { window_ms: durationMs(limit.window), scope: limit.scope, path: formatPath(path) };
    const first = seen.get(limit.counter);
    if (!first) seen.set(limit.counter, here);
    else if (first.window_ms !== here.window_ms || first.scope !== here.scope) {
      at(
        reportAt,
        `counter "${limit.counter}" is also defined at ${first.path} with another window or scope; counters named alike share one count, so they must match`,
      );
    }
  };
  const visit = (limits: LimitSpec[] | undefined, path: PropertyKey[]) =>
    (limits ?? []).forEach((limit, i) => check(limit, [...path, i], [...path, i, 'counter']));
  visit(document.all_tools?.limits, ['all_tools', 'limits']);
  for (const [key, rule] of Object.entries(document.tools ?? {})) {
    visit(rule.limits, ['tools', key, 'limits']);
    // The shorthand's counter is named after the called tool, so only an exact key has a name to compare.
    if (rule.rate_limit && !isGlob(key)) {
      const shorthand = { counter: `${key}_rate`, window: rule.rate_limit.window, max: rule.rate_limit.max, scope: 'session' as const };
      check(shorthand, ['tools', key, 'rate_limit'], ['tools', key, 'rate_limit']);
    }
  }
}
