export { Upstream, type UpstreamOptions, type UpstreamStatus } from './upstream.js';
export { UpstreamUnavailableError } from './errors.js';
export { eraStoreFor, type EraStore } from './upstream-era.js';
export {
  checkParamHeaders,
  scanParamHeaders,
  decodeParamValue,
  type ParamHeaderDeclaration,
  type ParamHeaderScan,
} from './param-headers.js';
export { callTool, type PipelineDeps } from './pipeline.js';
export { taskRunner } from './task-run.js';
export type { AgentCall, AnyCallResult } from './agent-call.js';
export { stateSeal, type StateSeal } from './request-state.js';
export { stateClaims } from './state-claims.js';
export { RELAY_ALL } from './questions.js';
export { ParkedCalls } from './parked-calls.js';
export { ParkedRelay } from './parked-relay.js';
export type { InputDeps, ModernInput } from './input-rounds.js';
export type { SessionDeps } from './session-deps.js';
export { createSessionServer, type SessionIdentity } from './session-server.js';
export { SessionRegistry, type Session } from './sessions.js';
export { Router, SEPARATOR, type SessionScope } from './router.js';
export { refusal, type DecisionMeta, type RefusalKind } from './refusal.js';
export { AGENT_DISCONNECTED, type ApprovalDeps } from './hold.js';
export type { PendingMode } from './pending.js';
export { CallGate } from './call-gate.js';
export { MAX_ARGUMENT_DEPTH, nestsDeeperThan } from './argument-depth.js';
export { SampledRefusals, type RefusalEvent } from './sampled-refusals.js';
export { admitListenSubscriptions } from './listen-subscriptions.js';
