export { readSourceFile, readSourceText, parseSourceText, formatPath, problemAt, type SourceDocument } from './document.js';
export { problemsFromIssues, suggest, describeValue } from './zod-problems.js';
export { parseDuration, describeDuration, describePer, durationField, durationMs } from './duration.js';
export { expandString, interpolate, type Expansion } from './interpolate.js';
export {
  ConfigSchema,
  ServerSchema,
  GrantSchema,
  AdminSchema,
  SERVER_NAME_PATTERN,
  LOCAL_ADMIN_NAME,
  SLACK_USER_ID,
  SLACK_GROUP_ID,
  PersonSchema,
  HOST_PATTERN,
  checkpointLimits,
  MIN_ANCHOR_KEY_LENGTH,
  type AirlockConfig,
  type ServerConfig,
  type StdioServer,
  type UpstreamProtocol,
  type RelayConfig,
  type StdioProcessMode,
  UPSTREAM_PROTOCOLS,
  type HttpServer,
  type GrantConfig,
  type AdminConfig,
  type PersonConfig,
} from './schema.js';
export { tokenSha256 } from './cross-checks.js';
export { anchorKeyFromEnv } from './anchor-key.js';
export {
  withListenOverrides,
  listenSource,
  parseListenHost,
  parseListenPort,
  type ListenFlags,
  type ParsedListen,
} from './listen-overrides.js';
export {
  loadConfig,
  findConfigFile,
  redisUrl,
  stateDir,
  DEFAULT_REDIS_URL,
  CONFIG_FILE_NAMES,
  type LoadedConfig,
  type LoadedServer,
  type LoadedStdioServer,
  type ListenOverride,
} from './load-config.js';
