import { randomUUID } from 'node:crypto';
import type { AuditEventName } from '../audit/index.js';
import { ErrorCode } from '../errors.js';
import { evaluatePrompt, evaluateResource, printableName, type AccessDecision } from '../policy/index.js';
import { ProtocolError } from './errors.js';
import type { PipelineDeps } from './pipeline.js';
import { notFoundAsServers, unknownResource } from './refusal.js';
import type { SessionScope } from './router.js';

export type AccessMethod = 'resources/read' | 'resources/subscribe' | 'prompts/get' | 'completion/complete';

/** One request for a resource (by URI) or a prompt (by the name its server gives it). */
export type AccessRequest = { method: AccessMethod; server: string } & ({ resource: string } | { prompt: string });

export interface AccessCaller {
  grant: string | undefined;
  session: string | undefined;
  client: string | undefined;
  /** The protocol version the client spoke (`2025-11-25`, `2026-07-28`). */
  protocol: string | undefined;
}

/**
 * The JSON-RPC error code of a resource or prompt the policy denies, from the
 * range JSON-RPC leaves to implementations (-32000 to -32099) and that the
 * SDK and the MCP specification do not use (-32000, -32001, -32002, -32042).
 */
export const POLICY_DENIED_CODE = -32003;

/** URIs and names are the agent's: the audit trail and the log keep this many characters of one. */
const MAX_KEPT = 1_024;

const EVENT: Record<AccessDecision['action'], AuditEventName> = { allow: 'allowed', deny: 'denied', hide: 'hidden' };

/**
 * How a hidden resource or prompt is answered: as one that does not exist
 * would be. Where the policy decides before any server is asked
 * (`policyFirst`), that is the policy's answer apart from its hide globs
 * when it refuses (under `default: deny`, a name nothing allows is refused
 * whether it exists or not), else `notFound()`, the endpoint's answer for
 * one its server does not have.
 */
export interface HiddenAnswer {
  notFound: () => ProtocolError;
  policyFirst: boolean;
}

/**
 * On `/mcp` a URI no list names is answered Unknown resource before any
 * policy, so a hidden one is answered so too; on `/mcp/:server` the policy
 * comes first, as it does for prompts on both.
 */
export function hiddenResource(scope: SessionScope, uri: string, what: 'Resource' | 'Resource template'): HiddenAnswer {
  return scope.aggregated
    ? { notFound: () => unknownResource(uri), policyFirst: false }
    : { notFound: () => notFoundAsServers(`${what} ${uri}`), policyFirst: true };
}

/**
 * The policy's check of one request for a resource or prompt, before it is
 * sent. Resources and prompts have no error result as tools do, so a refusal
 * is a JSON-RPC error, `[POLICY DENIED] <reason>` with the decision's facts as
 * `data`, and a hidden one is answered as `hidden` says. Each outcome is
 * audited, but an allowed completion: a client asks for one per keystroke,
 * and it returns no content.
 */
export function checkAccess(
  deps: Pick<PipelineDeps, 'policyFor' | 'audit' | 'refusals' | 'logger'>,
  caller: AccessCaller,
  request: AccessRequest,
  hidden: HiddenAnswer,
): void {
  const policy = deps.policyFor(request.server);
  const decision = 'resource' in request ? evaluateResource(policy, request.resource) : evaluatePrompt(policy, request.prompt);
  if (decision.action === 'allow' && request.method === 'completion/complete') return;

  const target =
    'resource' in request ? { resource: printableName(request.resource, MAX_KEPT) } : { prompt: printableName(request.prompt, MAX_KEPT) };
  const facts = { request_id: randomUUID(), server: request.server, method: request.method, ...target };
  const who = {
    grant: caller.grant ?? null,
    session: caller.session ?? null,
    client: caller.client ?? null,
    protocol: caller.protocol ?? null,
  };
  const event = { ...facts, ...who, decision: decision.action, rule: decision.rule, reason: decision.reason };
  if (decision.action === 'allow') {
    deps.audit.record({ event: 'allowed', ...event });
    return;
  }
  // A refusal costs the agent nothing: past the first of its kind each minute it is counted, not audited or logged one by one.
  const inFull = deps.refusals.record({ event: decision.action === 'deny' ? 'denied' : 'hidden', ...event });
  const what = 'resource' in request ? 'resource' : 'prompt';
  const fields = { ...facts, grant: caller.grant, session: caller.session, decision: EVENT[decision.action], rule: decision.rule };
  const message = decision.action === 'hide' ? `hidden ${what} answered as unknown` : `${what} denied by policy`;
  if (inFull) deps.logger.info(fields, message);
  else deps.logger.debug({ ...fields, sampled: true }, message);
  const refusal =
    decision.action === 'deny' ? decision : hidden.policyFirst && decision.unhidden?.action === 'deny' ? decision.unhidden : undefined;
  if (!refusal) throw hidden.notFound();
  throw new ProtocolError(POLICY_DENIED_CODE, `[POLICY DENIED] ${refusal.reason}`, {
    decision: refusal.action,
    rule: refusal.rule,
    reason: refusal.reason,
    ...facts,
    airlock_code: ErrorCode.PolicyDenied,
  });
}
