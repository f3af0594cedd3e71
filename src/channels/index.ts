export type { ApprovalChannel, Channel, ChannelCheck, ChannelContext, ChannelKind, RuleDestination } from './channel.js';
export { ChannelRegistry, builtInChannels } from './registry.js';
export { ChannelSet, channelSetName } from './channel-set.js';
export { channelRefOf } from './channel-refs.js';
export { consoleApiRoutes, type ConsoleApiOptions } from './console/api.js';
export { decideAsAdmin } from './console/decide.js';
export { approvalView, describeDecision, describeEnd } from './console/view.js';
export { fieldsWithInvisible, type UntrustedField } from './invisible-fields.js';
