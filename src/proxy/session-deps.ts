import type { GatewayMetrics } from '../metrics/index.js';
import type { CallGate } from './call-gate.js';
import type { PipelineDeps } from './pipeline.js';
import type { Upstream } from './upstream.js';

/** What a session needs beyond one call's pipeline: whole upstreams (lists, capabilities, instructions), session metrics, the gate's count. */
export interface SessionDeps extends PipelineDeps {
  upstream(server: string): Upstream;
  metrics: GatewayMetrics;
  gate: CallGate;
}
