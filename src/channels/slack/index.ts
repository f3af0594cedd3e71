export { SlackChannel, type SlackChannelOptions, type SlackSettings } from './slack-channel.js';
export { describeSlackError, webClientOptions, type WebClient } from './web-client.js';
