import { ProtocolError as SdkProtocolError, type ClientCapabilities } from '@modelcontextprotocol/client';
import type { Logger } from 'pino';
import type { AuditRecorder } from '../audit/index.js';
import type { QuestionAnswer } from '../audit/event.js';
import type { RelayConfig } from '../config/index.js';
import { errorMessage } from '../errors.js';
import { ProtocolError } from './errors.js';

/** What a server may ask of the agent mid-call, by the `relay` key that lets it through. */
export type QuestionKind = keyof RelayConfig;

export const QUESTION_KINDS: Readonly<Record<string, QuestionKind>> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
};

export const RELAY_ALL: RelayConfig = { sampling: true, elicitation: true, roots: true };

/** A server's request to its client (`sampling/createMessage`, `elicitation/create`, `roots/list`). */
export interface Question {
  method: string;
  params?: Record<string, unknown>;
}

/** Who a question went to, for the audit: the call it belongs to when one is known, and its agent. */
export interface QuestionContext {
  request_id?: string;
  tool?: string;
  grant: string | undefined;
  session: string | undefined;
  client: string | undefined;
  protocol: string | undefined;
}

/** One agent that can be asked what a server asks: the agent of one call, or of one session. */
export interface Asker {
  /** What the agent said it can answer: its `initialize` capabilities, or a 2026 request's. */
  capabilities(): ClientCapabilities | undefined;
  context: QuestionContext;
  ask(question: Question, options: { signal?: AbortSignal; timeout?: number }): Promise<Record<string, unknown>>;
  /**
   * A call's: the asker of its session, for questions that cannot be told
   * apart as this call's; also what the session's own upstream connections
   * are kept by (see SessionLink).
   */
  session?: Asker;
  /** A session's: passes it what a server sent on the session's own connection (its log messages, say). */
  tell?(notification: { method: string; params?: Record<string, unknown> }): void;
}

export interface RelayDeps {
  /** The server that asks, by its config name. */
  server: string;
  relay: RelayConfig;
  audit: AuditRecorder;
  logger: Logger;
}

export const METHOD_NOT_FOUND = -32601;
export const INTERNAL_ERROR = -32603;

/**
 * Passes one question of a server to the agent it belongs to and returns the
 * agent's answer, or throws the JSON-RPC error the server is answered with:
 * when the operator turned this kind off (`relay`), when no one agent can be
 * told apart as the one asked (`unowned` says why), or when that agent did not
 * declare it can answer (as a client without the capability would: method not
 * found), as when the server asks for what Airlock did not declare on that
 * connection. Each question is audited with how it ended, never with what was
 * asked or answered.
 */
export async function relayQuestion(
  deps: RelayDeps,
  question: Question,
  asker: Asker | undefined,
  options: {
    signal?: AbortSignal;
    timeout?: number;
    /** What Airlock declared on the connection the question came over: a server that asks for more is answered as by a client without it. */
    declared: ClientCapabilities;
    unowned?: { code: number; message: string };
  },
): Promise<Record<string, unknown>> {
  const kind = QUESTION_KINDS[question.method];
  const context = asker?.context;
  const refuse = (code: number, message: string): never => {
    deps.audit.record({
      event: 'question_refused',
      server: deps.server,
      method: question.method,
      ...auditContext(context),
      reason: message,
    });
    deps.logger.info({ upstream: deps.server, method: question.method, reason: message }, 'question of an upstream refused');
    throw new ProtocolError(code, message);
  };
  if (kind === undefined) return refuse(METHOD_NOT_FOUND, `Method not found: ${question.method}`);
  if (!deps.relay[kind])
    return refuse(
      METHOD_NOT_FOUND,
      `Method not found: Airlock does not pass ${question.method} from server ${deps.server} on to agents (servers.${deps.server}.relay.${kind} is false)`,
    );
  const undeclared = missingCapability(kind, question, options.declared);
  if (undeclared !== undefined)
    return refuse(
      METHOD_NOT_FOUND,
      `Method not found: Airlock declared no ${undeclared} capability on this connection to server ${deps.server}, so it passes no such request on`,
    );
  if (asker === undefined)
    return refuse(
      options.unowned?.code ?? INTERNAL_ERROR,
      options.unowned?.message ?? `Airlock cannot tell which agent this ${question.method} is for`,
    );
  const missing = missingCapability(kind, question, asker.capabilities());
  if (missing !== undefined) return refuse(METHOD_NOT_FOUND, `Method not found: the agent did not declare the ${missing} capability`);
  try {
    const answer = await asker.ask(question, {
      ...(options.signal && { signal: options.signal }),
      ...(options.timeout && { timeout: options.timeout }),
    });
    deps.audit.record({
      event: 'question_relayed',
      server: deps.server,
      method: question.method,
      ...auditContext(context),
      answer: answerOf(kind, answer),
    });
    return answer;
  } catch (err) {
    deps.audit.record({
      event: 'question_relayed',
      server: deps.server,
      method: question.method,
      ...auditContext(context),
      answer: 'error',
      detail: errorMessage(err),
    });
    // The agent's own JSON-RPC error goes back as it sent it; anything else (a timeout, a closed session) as an internal error.
    if (err instanceof SdkProtocolError) throw ProtocolError.fromUpstream(err);
    throw new ProtocolError(INTERNAL_ERROR, `the agent did not answer ${question.method}: ${errorMessage(err)}`);
  }
}

/** The capability a question needs that the agent did not declare, if any (a URL elicitation needs `elicitation.url`). */
export function missingCapability(
  kind: QuestionKind,
  question: Question,
  capabilities: ClientCapabilities | undefined,
): string | undefined {
  if (kind === 'sampling') return capabilities?.sampling ? undefined : 'sampling';
  if (kind === 'roots') return capabilities?.roots ? undefined : 'roots';
  const elicitation = capabilities?.elicitation as { form?: object; url?: object } | undefined;
  if (!elicitation) return 'elicitation';
  if (question.params?.mode === 'url') return elicitation.url ? undefined : 'elicitation.url';
  // An empty `elicitation: {}` declares form mode, as clients from before URL mode write it.
  return elicitation.form || !elicitation.url ? undefined : 'elicitation.form';
}

/** The capabilities Airlock declares to a server on behalf of an agent: what the agent declared, less what the operator turned off. */
export function relayedCapabilities(relay: RelayConfig, capabilities: ClientCapabilities | undefined): ClientCapabilities {
  return {
    ...(relay.sampling && capabilities?.sampling && { sampling: capabilities.sampling }),
    ...(relay.elicitation && capabilities?.elicitation && { elicitation: capabilities.elicitation }),
    ...(relay.roots && capabilities?.roots && { roots: capabilities.roots }),
  };
}

/** How an agent answered, as the audit records it: an elicitation's action, `answered` for the rest. */
export function answerOf(kind: QuestionKind, answer: Record<string, unknown>): QuestionAnswer {
  if (kind !== 'elicitation') return 'answered';
  const action = answer.action;
  return action === 'accept' || action === 'decline' || action === 'cancel' ? action : 'answered';
}

function auditContext(context: QuestionContext | undefined) {
  if (context === undefined) return {};
  return {
    ...(context.request_id !== undefined && { request_id: context.request_id }),
    ...(context.tool !== undefined && { tool: context.tool }),
    grant: context.grant ?? null,
    session: context.session ?? null,
    client: context.client ?? null,
    protocol: context.protocol ?? null,
  };
}
