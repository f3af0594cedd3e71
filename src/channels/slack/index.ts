export { slackChannel } from './slack-kind.js';
