export { createHttpApp, type HttpAppOptions, type ReadinessCheck } from './app.js';
export { bearerToken, createAdminAuthenticator, createAuthenticator, type AdminIdentity, type Identity, type LocalAdmin } from './auth.js';
export { mcpRoutes, type McpEndpoint, type McpEndpointOptions } from './mcp-endpoint.js';
export { adminApi, type AdminApiOptions } from './admin-api.js';
export { toolsApiRoutes, type ToolsApiOptions } from './tools-api.js';
export { auditApiRoutes } from './audit-api.js';
export { metricsRoutes } from './metrics-endpoint.js';
export { hostCheck, isLoopbackHost, type HostCheck } from './host-check.js';
export { hostGuard } from './host-guard.js';
