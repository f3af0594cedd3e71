export { Upstream, type UpstreamOptions, type UpstreamStatus } from './upstream.js';
export { UpstreamUnavailableError } from './errors.js';
export { callTool, type PipelineDeps, type ToolCall } from './pipeline.js';
export { createSessionServer, type SessionIdentity } from './session-server.js';
export { SessionRegistry, type Session } from './sessions.js';
export { SEPARATOR, type Scope } from './router.js';
export { refusal, type DecisionMeta, type RefusalKind } from './refusal.js';
export type { ApprovalDeps } from './hold.js';
export { CallGate } from './call-gate.js';
