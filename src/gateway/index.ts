export { Gateway, type GatewayOptions } from './gateway.js';
export { openRedis } from './open-redis.js';
export { openServing, type Serving } from './serving.js';
export { checkpointSettings, deploymentDigest, openAuditTrail } from './open-audit.js';
