export { createHttpApp, type HttpAppOptions, type ReadinessCheck } from './app.js';
export { createAuthenticator, type Identity } from './auth.js';
export { mcpRoutes, type McpEndpointOptions } from './mcp-endpoint.js';
