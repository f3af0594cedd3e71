import type { ChannelKind } from '../channel.js';
import { ConsoleChannel } from './console-channel.js';

/** `approvals.channels: [console]`: needs no settings; admins decide with `airlock approvals` or `/api/approvals`. */
export const consoleChannel: ChannelKind = {
  kind: 'console',
  open: async ({ logger }) => new ConsoleChannel(logger),
};
