import { createHash } from 'node:crypto';

/** Every Redis name the Slack channel uses, under the configured prefix (`{airlock}:` by default). */
export interface SlackKeys {
  /** Set once per genuine request to /slack/events, so a replay is refused on any instance: `{airlock}:slack:seen:<sha256>`. */
  seen(timestamp: string, body: string): string;
}

export function slackKeys(prefix: string): SlackKeys {
  return {
    seen: (timestamp, body) => `${prefix}slack:seen:${createHash('sha256').update(`${timestamp}:${body}`).digest('hex')}`,
  };
}
