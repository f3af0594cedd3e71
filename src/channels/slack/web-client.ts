import { webApi } from '@slack/bolt';
import type { Logger } from 'pino';
import { boltLogger } from './bolt-logger.js';
import { errorMessage } from '../../errors.js';

/**
 * Bolt's default retries Web API calls ten times over about thirty minutes; a
 * held call cannot wait that long for its message. Three attempts about a
 * second apart, each cut off after 5 s, then `post` fails and the call ends
 * [UNAVAILABLE]. A 429 waits its Retry-After and counts as one attempt.
 */
const RETRY_CONFIG = { retries: 2, factor: 2, minTimeout: 300, maxTimeout: 1_500, randomize: true };
const TIMEOUT_MS = 5_000;

export type WebClient = InstanceType<typeof webApi.WebClient>;
export type WebClientOptions = NonNullable<ConstructorParameters<typeof webApi.WebClient>[1]>;

/** The Web API options shared by Airlock's own client, Bolt's, and the Socket Mode client's. */
export function webClientOptions(apiUrl: string | undefined, logger: Logger): WebClientOptions {
  return {
    ...(apiUrl !== undefined && { slackApiUrl: apiUrl }),
    retryConfig: RETRY_CONFIG,
    timeout: TIMEOUT_MS,
    logger: boltLogger(logger),
  };
}

/**
 * A Web API client that reports each call that failed after its retries
 * (every facade method, `chat.postMessage` and the rest, goes through
 * `apiCall`), so failures can be counted however the caller handles them.
 */
export function reportingWebClient(token: string, options: WebClientOptions, onError: (method: string, error: string) => void): WebClient {
  class ReportingWebClient extends webApi.WebClient {
    override async apiCall(method: string, callOptions?: Record<string, unknown>): ReturnType<WebClient['apiCall']> {
      try {
        return await super.apiCall(method, callOptions);
      } catch (err) {
        onError(method, slackErrorLabel(err));
        throw err;
      }
    }
  }
  return new ReportingWebClient(token, options);
}

/** A short, bounded name for a failure (a metric label): Slack's error code, `http_500`, `rate_limited` or `unreachable`. */
function slackErrorLabel(err: unknown): string {
  if (err instanceof webApi.WebAPIPlatformError) return err.data.error;
  if (err instanceof webApi.WebAPIHTTPError) return `http_${err.statusCode}`;
  if (err instanceof webApi.WebAPIRateLimitedError) return 'rate_limited';
  if (err instanceof webApi.WebAPIRequestError) return 'unreachable';
  return 'other';
}

/** What went wrong in a Web API call, in one line: Slack's own error code when it answered, else the HTTP or network failure. */
export function describeSlackError(err: unknown): string {
  if (err instanceof webApi.WebAPIPlatformError) return `Slack answered ${err.data.error}`;
  if (err instanceof webApi.WebAPIHTTPError) return `Slack answered HTTP ${err.statusCode}`;
  if (err instanceof webApi.WebAPIRequestError) return `Slack could not be reached (${err.original.message})`;
  if (err instanceof webApi.WebAPIRateLimitedError) return `Slack is rate limiting Airlock (retry after ${err.retryAfter} s)`;
  return errorMessage(err);
}

/** Slack answered, and said no: a fault in the config (token, scopes, channel), not in the network. */
export function isPlatformError(err: unknown): boolean {
  return err instanceof webApi.WebAPIPlatformError;
}
