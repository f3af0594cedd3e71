export { Gateway, type GatewayOptions } from './gateway.js';
export { openRedis } from './open-redis.js';
export { openApprovals } from './open-approvals.js';
