export { SlackChannel, type SlackChannelOptions, type SlackSettings } from './slack-channel.js';
