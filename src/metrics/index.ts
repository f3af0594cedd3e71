export {
  CALL_OUTCOMES,
  GatewayMetrics,
  NO_GRANT,
  UNKNOWN_TOOL,
  startTrace,
  type CallOutcome,
  type CallTrace,
  type MetricsSources,
  type UpstreamFault,
} from './gateway-metrics.js';
