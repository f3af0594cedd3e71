export { CALL_OUTCOMES, GatewayMetrics, UNKNOWN_TOOL, startTrace, type CallOutcome, type CallTrace, type MetricsSources, type UpstreamFault } from './gateway-metrics.js';
