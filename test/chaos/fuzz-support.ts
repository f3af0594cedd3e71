import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { api } from '../support/approvals-api.js';
import type { FakeSlack, SlackCall } from '../support/fake-slack.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { track, type Tracked } from '../support/held-call.js';
import { until } from '../support/poll.js';
import { RECORDING_ENTRY, RECORDING_SOURCE, recordingServer, upstreamCalls } from '../support/recording-upstream.js';
import { cli } from '../support/run-cli.js';
import { ADMIN, AGENT, BOT_TOKEN, approvalIdIn, shown } from '../support/slack-gateway.js';
import { CHANNEL, SIGNING_SECRET, deliver, signed } from '../support/slack-interactions.js';

/**
 * Shared setup of the concurrency and fuzz chaos tests (slack-outage,
 * concurrent-clicks, fuzz): a Slack gateway in front of recording upstreams,
 * a Web API outage in front of the fake Slack, a bounded pool, and the
 * bookkeeping each test prints.
 */

export { ADMIN, AGENT };

/** A policy holding `echo` for approval with `approval` settings; `extra` adds rules (e.g. `pid: {}`). */
export function echoPolicy(approval: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: '1',
    default: 'deny',
    tools: { echo: { action: 'require_approval', reason: 'Echoes need a person', approval: { timeout: '10m', ...approval } }, ...extra },
  };
}

export interface RecordingSlackGatewayOptions {
  /** Where the gateway's Web API calls go (the fake Slack, or an outage in front of it). */
  apiUrl: string;
  /** One recording fixture upstream per name, each with its policy document (an object, or the file's text). */
  servers: Record<string, unknown>;
  /** YAML appended to the config. */
  config?: string;
}

/**
 * `airlock start` with the Slack channel (HTTP mode, the test signing
 * secret), a grant `AGENT`, an admin `ADMIN`, and a recording fixture
 * upstream per server: `upstreamCalls(gateway, name, tool)` is what really ran.
 * Policies are at `policies/<name>.json` in the gateway's folder.
 */
export function startRecordingSlackGateway(options: RecordingSlackGatewayOptions): Promise<RunningGateway> {
  const names = Object.keys(options.servers);
  const config = [
    'servers:',
    ...names.map((name) => recordingServer(name, `policies/${name}.json`).trimEnd()),
    'grants:',
    `  - { name: agent, token: ${AGENT} }`,
    'admins:',
    `  - { name: alice, token: ${ADMIN} }`,
    'slack:',
    `  bot_token: ${BOT_TOKEN}`,
    `  signing_secret: ${SIGNING_SECRET}`,
    `  channel: ${CHANNEL}`,
    `  api_url: ${options.apiUrl}`,
    options.config ?? '',
    '',
  ].join('\n');
  const policies = Object.fromEntries(
    names.map((name) => {
      const policy = options.servers[name];
      return [`policies/${name}.json`, typeof policy === 'string' ? policy : JSON.stringify(policy, null, 2)];
    }),
  );
  return startGateway({ config, files: { [RECORDING_ENTRY]: RECORDING_SOURCE, ...policies } });
}

/** The path of a server's policy file in a gateway started by `startRecordingSlackGateway`. */
export function policyFileOf(gateway: RunningGateway, server: string): string {
  return join(gateway.dir, 'policies', `${server}.json`);
}

/** How many `tools/call` of `echo` with this text reached the upstream `server`. */
export function ranCount(gateway: RunningGateway, server: string, text: string): number {
  return upstreamCalls(gateway, server, 'echo').filter((a) => a.text === text).length;
}

/** Calls `echo` with `text` (a unique mark) and tracks the result; held calls wait far longer than the SDK's 60 s default. */
export function callEcho(client: Client, text: string, signal?: AbortSignal): Tracked<unknown> {
  return track(client.callTool({ name: 'echo', arguments: { text } }, undefined, { timeout: 300_000, ...(signal && { signal }) }));
}

/** The `_meta["airlock/decision"]` of a tool result, if any. */
export function decisionMetaOf(result: unknown): Record<string, unknown> | undefined {
  return (result as { _meta?: Record<string, Record<string, unknown> | undefined> } | undefined)?._meta?.['airlock/decision'];
}

/** Settles a tracked call: the shape `outcomeOf` takes. */
export function settle(call: Tracked<unknown>): Promise<PromiseSettledResult<unknown>> {
  return call.promise.then(
    (value) => ({ status: 'fulfilled', value }) as const,
    (reason: unknown) => ({ status: 'rejected', reason }) as const,
  );
}

/** Runs `work` over `items` with at most `limit` in flight; resolves with the results in item order. */
export async function inPool<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const runner = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, runner));
  return results;
}

/** The message posted for the call whose arguments carry `mark`, and its approval id. */
export async function postedFor(slack: FakeSlack, mark: string, timeoutMs = 30_000): Promise<{ posted: SlackCall; id: string }> {
  const posted = await slack.waitFor('chat.postMessage', (c) => c.response !== undefined && shown(c).includes(mark), { timeoutMs });
  return { posted, id: approvalIdIn(posted) };
}

/** The request as `GET /api/approvals/:id` shows it (throws on any other status, e.g. 503). */
export async function approvalState(
  gateway: RunningGateway,
  id: string,
): Promise<{
  state: string;
  votes: { by: string; verdict: string; at: string; name?: string }[];
  decided_by: string | null;
  decision_reason: string | null;
  min_approvals: number;
}> {
  const { status, body } = await api(gateway.url, `/api/approvals/${id}`, ADMIN);
  if (status !== 200) throw new Error(`GET /api/approvals/${id} answered ${status}: ${JSON.stringify(body)}`);
  return body.approval as never;
}

/** Every audit event `query` selects (paged through `/api/audit`). */
export async function auditEvents(gateway: RunningGateway, query: string): Promise<Record<string, unknown>[]> {
  const events: Record<string, unknown>[] = [];
  let cursor: string | undefined;
  for (;;) {
    const { status, body } = await api(gateway.url, `/api/audit?${query}&limit=1000${cursor ? `&cursor=${cursor}` : ''}`, ADMIN);
    if (status !== 200) throw new Error(`/api/audit?${query} answered ${status}: ${JSON.stringify(body)}`);
    events.push(...(body.events as Record<string, unknown>[]));
    cursor = body.next as string | undefined;
    if (cursor === undefined) return events;
  }
}

/** `airlock audit verify` against the gateway's Redis: its exit code and what it printed. */
export async function verifyAudit(gateway: RunningGateway): Promise<{ code: number; output: string }> {
  const { code, stdout, stderr } = await cli(['audit', 'verify', '-c', join(gateway.dir, 'airlock.yaml')], gateway.dir, {
    REDIS_URL: gateway.redis.url,
  });
  return { code, output: `${stdout}\n${stderr}`.trim() };
}

let triggers = 0;
/**
 * Signs and delivers an interaction payload with a trigger_id of its own:
 * two identical payloads signed in the same second would otherwise be one
 * signed body, and the second refused as a replay.
 */
export function deliverOnce(gatewayUrl: string, payload: Record<string, unknown>): Promise<{ status: number; text: string }> {
  return deliver(gatewayUrl, signed({ ...payload, trigger_id: `trigger-${process.pid}-${++triggers}` }));
}

/** Counts by key, printed as `key=n` pairs. */
export class Tally {
  readonly counts = new Map<string, number>();

  add(key: string, by = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + by);
  }

  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  get total(): number {
    return [...this.counts.values()].reduce((a, b) => a + b, 0);
  }

  toString(): string {
    return [...this.counts.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}:${v}`)
      .join(',');
  }
}

export type OutageFailure = { status: 500 } | { status: 429; retryAfter: number };

/** A Web API request the outage turned away. */
export interface RefusedSlackCall {
  method: string;
  at: number;
  raw: string;
  status: number;
}

export interface SlackOutage {
  /** Configure this as `slack.api_url`: requests pass through to the fake Slack unless the outage is on. */
  apiUrl: string;
  refused: RefusedSlackCall[];
  /** From now on every Web API call fails as described, until `end()` or another `begin()`. */
  begin(failure: OutageFailure): void;
  end(): void;
  close(): Promise<void>;
}

/**
 * The Slack Web API down for a span of time rather than for a number of
 * calls (the fake's `failNext` counts calls, and how many a call's retries
 * consume is the gateway's business): a pass-through proxy in front of the
 * fake that answers every method with 500, or 429 and Retry-After, while on.
 */
export async function startSlackOutage(slack: Pick<FakeSlack, 'url'>): Promise<SlackOutage> {
  let failure: OutageFailure | undefined;
  const refused: RefusedSlackCall[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const method = (req.url ?? '').replace(/^\/api\//, '').replace(/\?.*$/, '');
    if (failure) {
      refused.push({ method, at: Date.now(), raw, status: failure.status });
      if (failure.status === 429) res.setHeader('Retry-After', String(failure.retryAfter));
      res.writeHead(failure.status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ ok: false, error: failure.status === 429 ? 'ratelimited' : 'internal_error' }));
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'authorization']) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const answer = await fetch(`${slack.url}${req.url ?? ''}`, { method: req.method ?? 'POST', headers, ...(raw !== '' && { body: raw }) });
    res.writeHead(answer.status, { 'Content-Type': answer.headers.get('content-type') ?? 'application/json' });
    res.end(await answer.text());
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      res.writeHead(502).end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    apiUrl: `${url}/api/`,
    refused,
    begin(next) {
      failure = next;
    },
    end() {
      failure = undefined;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Waits until `count()` stops being below `target`; returns the last count (the caller asserts on it, so a shortfall shows its numbers). */
export async function reach(what: string, count: () => Promise<number> | number, target: number, timeoutMs: number): Promise<number> {
  let last = 0;
  try {
    // Not too eager: each look may cost the gateway dozens of requests.
    await until(what, async () => (last = await count()) >= target, timeoutMs, 200);
  } catch {
    // The caller's assertion says what was missing.
  }
  return last;
}
