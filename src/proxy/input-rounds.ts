import {
  isInputRequiredResult,
  MissingRequiredClientCapabilityError,
  type CallToolResult,
  type ClientCapabilities,
  type InputRequiredResult,
} from '@modelcontextprotocol/server';
import type { ArgumentsDigest } from '../arguments-digest.js';
import type { RelayConfig } from '../config/index.js';
import { errorMessage } from '../errors.js';
import { ProtocolError } from './errors.js';
import {
  missingCapability,
  QUESTION_KINDS,
  relayQuestion,
  type Asker,
  type Question,
  type QuestionKind,
  type RelayDeps,
} from './questions.js';
import type { ParkedRelay } from './parked-relay.js';
import type { SealedCall, StateSeal } from './request-state.js';

/** What the rounds of a 2026 server's questions need: the seal, the digest the state binds the arguments with, each server's `relay`. */
export interface InputDeps {
  seal: StateSeal;
  digest: ArgumentsDigest;
  relay(server: string): RelayConfig;
  /** Records that a round's state was used; false when it already was (see stateClaims). */
  claim(call: SealedCall): Promise<boolean>;
  /** Where a 2026 client's calls to 2025 servers that ask mid-call wait for its answers (see ParkedCall). */
  parked: Pick<ParkedRelay, 'instance' | 'open' | 'next' | 'abandon'>;
}

/** What a 2026 client's request carries for the multi round-trip: its capabilities, and on a retry its answers and Airlock's state. */
export interface ModernInput {
  /** `/mcp` or `/mcp/<server>`: a state is good only on the endpoint that handed it out. */
  endpoint: string;
  capabilities: ClientCapabilities | undefined;
  responses?: Record<string, unknown>;
  state?: string;
}

/** One request as its state binds it. */
export interface BoundRequest {
  grant: string | undefined;
  endpoint: string;
  server: string;
  method: SealedCall['method'];
  target: string;
  args: Record<string, unknown>;
}

/**
 * A server asks at most this many questions in one round. Every one reaches
 * a person or a model, so a server asking more is broken or hostile; the
 * SDK's own client has no such cap.
 */
export const MAX_INPUT_REQUESTS = 16;
/** And their JSON at most this long, so a round stays far inside any client's body limit once it answers them. */
export const MAX_INPUT_REQUEST_BYTES = 256 * 1024;
/**
 * A call goes through at most this many rounds of questions (the SDK's own
 * default): each waits on a person or a model, and a server that never has
 * enough would otherwise hold the call, and its agent, forever.
 */
export const MAX_INPUT_ROUNDS = 8;
/** How long an agent has to answer one question of a 2025 session: a person answers it, so far past the 60 s request default (as the SDK's own shim). */
const QUESTION_TIMEOUT_MS = 600_000;
/** The server's own `requestState` travels inside Airlock's sealed one: past this it is refused rather than carried. */
export const MAX_UPSTREAM_STATE_CHARS = 64 * 1024;

const INTERNAL_ERROR = -32603;
const INVALID_PARAMS = -32602;

/** The refusal of a state the specification asks for (as the SDK answers it): one message whatever the cause, which is logged and audited. */
export function invalidState(): ProtocolError {
  return new ProtocolError(INVALID_PARAMS, 'Invalid or expired requestState', { reason: 'invalid_request_state' });
}

/**
 * The call a 2026 client's retry continues, or why its state cannot be
 * used: not Airlock's (forged, edited, malformed), expired, or sealed for
 * another grant, endpoint, server, tool (prompt, URI) or other arguments.
 */
export function resume(
  deps: InputDeps,
  wire: string,
  request: BoundRequest,
): { ok: true; call: SealedCall } | { ok: false; reason: string } {
  const opened = deps.seal.open(wire);
  if (!opened.ok) return { ok: false, reason: `the requestState is ${opened.reason}` };
  const { call } = opened;
  if (call.grant !== (request.grant ?? null)) return { ok: false, reason: 'the requestState was handed to another grant' };
  if (call.endpoint !== request.endpoint) return { ok: false, reason: `the requestState was handed out on ${call.endpoint}` };
  if (call.server !== request.server || call.method !== request.method || call.target !== request.target)
    return { ok: false, reason: 'the requestState belongs to another request' };
  if (call.digest !== deps.digest(request.args)) return { ok: false, reason: 'the arguments differ from those of the first round' };
  return { ok: true, call };
}

/** Why a resumed state cannot be used again (it was, or Redis cannot tell), or undefined: a state is good for one retry. */
export async function claimOnce(deps: InputDeps, call: SealedCall): Promise<string | undefined> {
  try {
    return (await deps.claim(call)) ? undefined : 'the requestState was already used';
  } catch (err) {
    return `the requestState could not be checked against its earlier uses (${errorMessage(err)})`;
  }
}

/**
 * What a retry sends the server: the client's answers to the questions of
 * the round it continues, and the server's own state. Answers to questions
 * that round did not ask are left out (the specification has servers
 * ignore them; Airlock does not pass them on at all).
 */
export function retryParams(call: SealedCall, responses: Record<string, unknown> | undefined): Record<string, unknown> {
  const given = responses ?? {};
  const answers = Object.fromEntries(call.asked.filter(([key]) => Object.hasOwn(given, key)).map(([key]) => [key, given[key]]));
  return { inputResponses: answers, ...(call.upstream !== undefined && { requestState: call.upstream }) };
}

/**
 * The questions of a server's `input_required` result, checked: each one
 * of the three kinds a server may ask, no more of them than
 * MAX_INPUT_REQUESTS and MAX_INPUT_REQUEST_BYTES allow, and the server's
 * own state no longer than MAX_UPSTREAM_STATE_CHARS. Throws the error the
 * agent is answered with otherwise.
 */
export function questionsOf(server: string, result: InputRequiredResult): [string, Question][] {
  const requests = Object.entries(result.inputRequests ?? {});
  if (requests.length > MAX_INPUT_REQUESTS)
    throw new ProtocolError(
      INTERNAL_ERROR,
      `upstream ${server} asked ${requests.length} questions in one round, more than the ${MAX_INPUT_REQUESTS} Airlock passes on`,
    );
  const bytes = Buffer.byteLength(JSON.stringify(result.inputRequests ?? {}));
  if (bytes > MAX_INPUT_REQUEST_BYTES)
    throw new ProtocolError(
      INTERNAL_ERROR,
      `upstream ${server} asked questions of ${bytes} bytes in one round, more than the ${MAX_INPUT_REQUEST_BYTES} Airlock passes on`,
    );
  if (result.requestState !== undefined && result.requestState.length > MAX_UPSTREAM_STATE_CHARS)
    throw new ProtocolError(
      INTERNAL_ERROR,
      `upstream ${server} sent a requestState of ${result.requestState.length} characters, more than the ${MAX_UPSTREAM_STATE_CHARS} Airlock carries`,
    );
  return requests.map(([key, request]) => {
    const { method, params } = request as { method?: unknown; params?: unknown };
    if (typeof method !== 'string' || QUESTION_KINDS[method] === undefined)
      throw new ProtocolError(
        INTERNAL_ERROR,
        `upstream ${server} asked for input by a method no server may ask for (${String(method).slice(0, 64)})`,
      );
    const question: Question = { method, ...(isObject(params) && { params }) };
    return [key, question];
  });
}

/** The error a call ends with when its server asks for more rounds than MAX_INPUT_ROUNDS. */
export function roundsExceeded(server: string): ProtocolError {
  return new ProtocolError(
    INTERNAL_ERROR,
    `upstream ${server} asked for input ${MAX_INPUT_ROUNDS} rounds running without finishing the call`,
  );
}

/**
 * A 2025 session's side of a 2026 server's questions: Airlock is the
 * server's client, asks the session's agent each question in turn (see
 * relayQuestion: relay, capability and audit), and sends the call again
 * with the answers and the server's state, until the server answers with a
 * result. A question the agent cannot be asked, or does not answer, ends
 * the call with that error: a client that cannot gather what a round asks
 * does not retry (the specification's client requirement).
 */
export async function answerRounds(
  relay: RelayDeps,
  asker: Asker,
  /** What the server was told the agent can answer (the request's `_meta`): a question past it is refused. */
  declared: ClientCapabilities,
  first: InputRequiredResult,
  retry: (answers: Record<string, unknown>) => Promise<CallToolResult | InputRequiredResult>,
  signal: AbortSignal,
): Promise<CallToolResult> {
  let result: CallToolResult | InputRequiredResult = first;
  for (let round = 1; isInputRequiredResult(result); round++) {
    if (round > MAX_INPUT_ROUNDS) throw roundsExceeded(relay.server);
    const inputResponses: Record<string, unknown> = {};
    for (const [key, question] of questionsOf(relay.server, result))
      inputResponses[key] = await relayQuestion(relay, question, asker, { signal, timeout: QUESTION_TIMEOUT_MS, declared });
    result = await retry({ inputResponses, ...(result.requestState !== undefined && { requestState: result.requestState }) });
  }
  return result;
}

/** A question Airlock will not put to a 2026 client, and why (for the audit and the error). */
export interface Unaskable {
  key: string;
  method: string;
  /** The capability it needs, as -32021's `requiredCapabilities` names it. */
  required: ClientCapabilities;
  reason: string;
}

/**
 * The questions a 2026 client may not be asked: of a kind the operator
 * turned off for this server (`relay`), or needing a capability the
 * client's request did not declare. A server was told only the
 * capabilities both allow (see relayedCapabilities), so a server that
 * asks one of these broke the specification's "MUST NOT".
 */
export function unaskable(
  server: string,
  relay: RelayConfig,
  capabilities: ClientCapabilities | undefined,
  questions: [string, Question][],
): Unaskable[] {
  const refused: Unaskable[] = [];
  for (const [key, question] of questions) {
    const kind = QUESTION_KINDS[question.method]!;
    if (!relay[kind]) {
      const reason = `Airlock does not pass ${question.method} from server ${server} on to agents (servers.${server}.relay.${kind} is false)`;
      refused.push({ key, method: question.method, required: { [kind]: {} }, reason });
      continue;
    }
    const missing = missingCapability(kind, question, capabilities);
    if (missing === undefined) continue;
    const [name, mode] = missing.split('.') as [QuestionKind, string | undefined];
    const required = { [name]: mode === undefined ? {} : { [mode]: {} } };
    refused.push({ key, method: question.method, required, reason: `the agent did not declare the ${missing} capability` });
  }
  return refused;
}

/**
 * The specification's answer to a request that needs a capability the
 * client did not declare (-32021, HTTP 400), naming what is missing. For a
 * kind the operator turned off that is the capability too: it is what the
 * server was told the client lacks.
 */
export function missingCapabilityError(refused: Unaskable[]): MissingRequiredClientCapabilityError {
  const required: Record<string, object> = {};
  for (const r of refused) Object.assign(required, r.required);
  return new MissingRequiredClientCapabilityError(
    { requiredCapabilities: required },
    `The server asked for input this client cannot be asked for: ${refused.map((r) => `${r.method} (${r.reason})`).join('; ')}`,
  );
}

/** The result a 2026 client gets for a round: the server's questions as it sent them, and Airlock's sealed state instead of the server's. */
export function passedOn(
  deps: InputDeps,
  result: InputRequiredResult,
  call: Omit<SealedCall, 'exp' | 'asked' | 'upstream'>,
  questions: [string, Question][],
): InputRequiredResult {
  const requestState = deps.seal.seal({
    ...call,
    asked: questions.map(([key, q]) => [key, q.method]),
    ...(result.requestState !== undefined && { upstream: result.requestState }),
  });
  return { resultType: 'input_required', ...(result.inputRequests !== undefined && { inputRequests: result.inputRequests }), requestState };
}

/** The questions of a round as the audit names them: methods and counts, never keys or content. */
export function askedSummary(questions: readonly (readonly [string, string | Question])[]): string {
  const counts = new Map<string, number>();
  for (const [, q] of questions) {
    const method = typeof q === 'string' ? q : q.method;
    counts.set(method, (counts.get(method) ?? 0) + 1);
  }
  return [...counts].map(([method, n]) => (n === 1 ? method : `${method} ×${n}`)).join(', ') || 'no questions (state only)';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
