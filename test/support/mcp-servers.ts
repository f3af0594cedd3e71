import { fileURLToPath } from 'node:url';

/** Entry points of the real MCP servers the tests use as upstreams (dev dependencies), and of our fixture servers. */
export const FILESYSTEM_SERVER = fileURLToPath(
  new URL('../../node_modules/@modelcontextprotocol/server-filesystem/dist/index.js', import.meta.url),
);
export const EVERYTHING_SERVER = fileURLToPath(
  new URL('../../node_modules/@modelcontextprotocol/server-everything/dist/index.js', import.meta.url),
);
export const FIXTURE_SERVER = fileURLToPath(new URL('./fixture-server.ts', import.meta.url));
export const TSX_LOADER = fileURLToPath(new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url));
/** Endless lists and repeated tools/list_changed (see the file). */
export const HOSTILE_SERVER = fileURLToPath(new URL('./hostile-server.ts', import.meta.url));
/** The SDK v2 server speaking both generations (see the file). */
export const V2_FIXTURE_SERVER = fileURLToPath(new URL('./v2-fixture-server.ts', import.meta.url));
