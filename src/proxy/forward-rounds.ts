import { randomUUID } from 'node:crypto';
import { CLIENT_CAPABILITIES_META_KEY, isInputRequiredResult, type InputRequiredResult } from '@modelcontextprotocol/server';
import type { z } from 'zod';
import type { AuditInput } from '../audit/index.js';
import { printableName } from '../policy/index.js';
import {
  askedSummary,
  claimOnce,
  invalidState,
  missingCapabilityError,
  passedOn,
  questionsOf,
  resume,
  retryParams,
  roundsExceeded,
  unaskable,
  MAX_INPUT_ROUNDS,
  type BoundRequest,
  type ModernInput,
} from './input-rounds.js';
import { answerOf, QUESTION_KINDS, relayedCapabilities } from './questions.js';
import type { SessionDeps } from './session-deps.js';

/** One `prompts/get` or `resources/read` of a 2026 client: what its state binds, who asks, and how it reaches the server. */
export interface ForwardedRequest extends BoundRequest {
  method: 'prompts/get' | 'resources/read';
  params: Record<string, unknown>;
  caller: Pick<AuditInput, 'grant' | 'client' | 'protocol'>;
  signal: AbortSignal;
}

/** URIs and names are the agent's: the audit keeps this many characters of one, as checkAccess does. */
const MAX_KEPT = 1_024;

/**
 * A 2026 client's `prompts/get` or `resources/read` to a 2026 server, the
 * other two requests a server may answer with questions: its capabilities
 * (less what `relay` turns off) go to the server; the server's questions
 * come back in an `input_required` result with Airlock's sealed state, and
 * a retry whose state is good (same grant, endpoint, server, name or URI
 * and arguments) continues with the client's answers and the server's own
 * state. The policy's access check runs on every round (it costs nothing
 * and charges nothing), before this.
 */
export async function forwardRounds<S extends z.ZodType>(
  deps: SessionDeps,
  request: ForwardedRequest,
  input: ModernInput,
  schema: S,
): Promise<z.output<S> | InputRequiredResult> {
  const upstream = deps.upstream(request.server);
  const target =
    request.method === 'prompts/get'
      ? { prompt: printableName(request.target, MAX_KEPT) }
      : { resource: printableName(request.target, MAX_KEPT) };
  const record = (event: AuditInput['event'], facts: Partial<AuditInput>) =>
    deps.audit.record({
      event,
      server: request.server,
      ...target,
      ...request.caller,
      session: null,
      ...facts,
      method: facts.method ?? request.method,
    });
  let params = request.params;
  let requestId: string = randomUUID();
  let round = 1;
  if (input.state !== undefined) {
    const resumed = resume(deps.inputs, input.state, request);
    const refused = resumed.ok ? await claimOnce(deps.inputs, resumed.call) : resumed.reason;
    if (!resumed.ok || refused !== undefined) {
      record('request_refused', { rule: 'request_state', reason: refused });
      deps.logger.info(
        { server: request.server, method: request.method, reason: refused },
        'retry refused: its requestState cannot be used',
      );
      throw invalidState();
    }
    ({ request_id: requestId } = resumed.call);
    round = resumed.call.round + 1;
    for (const [key, method] of resumed.call.asked) {
      const response = input.responses?.[key];
      const answered = response !== null && typeof response === 'object' && !Array.isArray(response);
      record('question_relayed', {
        request_id: requestId,
        method,
        ...(answered
          ? { answer: answerOf(QUESTION_KINDS[method] ?? 'sampling', response as Record<string, unknown>) }
          : { answer: 'error', detail: 'the client retried without an answer to it' }),
      });
    }
    params = { ...params, ...retryParams(resumed.call, input.responses) };
  } else if (input.responses !== undefined) {
    // Answers a first request sends ahead go as sent, as they would directly: the server treats them as the client's.
    params = { ...params, inputResponses: input.responses };
  }
  const relay = deps.inputs.relay(request.server);
  if (upstream.stateless)
    params = {
      ...params,
      _meta: {
        ...(params._meta as Record<string, unknown> | undefined),
        [CLIENT_CAPABILITIES_META_KEY]: relayedCapabilities(relay, input.capabilities),
      },
    };
  const result = await upstream.request({ method: request.method, params }, schema, { signal: request.signal, allowInputRequired: true });
  if (!isInputRequiredResult(result)) return result;
  if (round > MAX_INPUT_ROUNDS) throw roundsExceeded(request.server);
  const questions = questionsOf(request.server, result);
  const refused = unaskable(request.server, relay, input.capabilities, questions);
  if (refused.length > 0) {
    for (const { method, reason } of refused) record('question_refused', { request_id: requestId, method, reason });
    throw missingCapabilityError(refused);
  }
  record('input_required', { request_id: requestId, detail: `round ${round}: ${askedSummary(questions)}` });
  return passedOn(
    deps.inputs,
    result,
    {
      grant: request.grant ?? null,
      endpoint: request.endpoint,
      server: request.server,
      method: request.method,
      target: request.target,
      digest: deps.inputs.digest(request.args),
      request_id: requestId,
      decision: { action: 'allow', rule: 'access' },
      round,
    },
    questions,
  );
}
