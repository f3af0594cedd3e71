export type { ApprovalChannel } from './channel.js';
export { ConsoleChannel } from './console/console-channel.js';
export { consoleApiRoutes, type ConsoleApiOptions } from './console/api.js';
export { decideAsAdmin } from './console/decide.js';
export { approvalView, describeDecision, describeEnd } from './console/view.js';
export { SlackChannel, type SlackChannelOptions, describeSlackError, webClientOptions, type WebClient } from './slack/index.js';
export { fieldsWithInvisible, type UntrustedField } from './invisible-fields.js';
