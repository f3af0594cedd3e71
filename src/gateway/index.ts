export { Gateway, type GatewayOptions } from './gateway.js';
export { openRedis } from './open-redis.js';
