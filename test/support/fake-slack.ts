import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { until } from './poll.js';

/** One Web API call as the fake received it: the method, the parsed form body (JSON fields decoded), and the raw text. */
export interface SlackCall {
  method: string;
  body: Record<string, unknown>;
  raw: string;
  token: string | undefined;
  at: number;
  /** `performance.now()` when the request was read, for latency figures in this process. */
  hrAt: number;
  /** What the fake answered (unset for a call it failed on purpose). */
  response?: Record<string, unknown>;
}

export interface SlackUser {
  name: string;
  real_name?: string;
  display_name?: string;
}

/** How the next calls fail: an HTTP 500, a 429 with Retry-After (seconds), or Slack's `ok: false` with an error code. */
export type SlackFailure = { status: 500 } | { status: 429; retryAfter: number } | { error: string };

/** A conversation as `conversations.info` describes it. */
export interface SlackConversation {
  name: string;
  is_private?: boolean;
  /** Whether the bot is in it; default true. */
  is_member?: boolean;
  is_archived?: boolean;
}

export interface FakeSlackOptions {
  teamId?: string;
  users?: Record<string, SlackUser>;
  /** User groups (`S…`) and their members. */
  groups?: Record<string, string[]>;
  /** Conversations by id, for `conversations.info`; any other id is `channel_not_found`. */
  conversations?: Record<string, SlackConversation>;
  /**
   * When set, only these tokens are accepted: any other gets `invalid_auth`
   * (no token: `not_authed`), as Slack answers; and, as Slack does,
   * `apps.connections.open` takes only app-level tokens (`xapp-…`) and every
   * other method refuses them (`not_allowed_token_type`). Unset: any token goes.
   */
  validTokens?: string[];
  /** Sent as `x-oauth-scopes` on every answer, as Slack does; unset: no such header. */
  scopes?: string[];
}

export interface FakeSlack {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** The Web API base URL to configure as `slack.api_url`. */
  apiUrl: string;
  teamId: string;
  calls: SlackCall[];
  callsTo(method: string): SlackCall[];
  /** Resolves with the first call to `method` (from index `from` on) that `match` accepts. */
  waitFor(method: string, match?: (call: SlackCall) => boolean, options?: { timeoutMs?: number; from?: number }): Promise<SlackCall>;
  /** The next `count` calls (to `method`, or any) fail as described; later calls succeed again. */
  failNext(count: number, failure: SlackFailure, method?: string): void;
  setGroup(id: string, members: string[]): void;
  /** Socket Mode: resolves once a client is connected and greeted. */
  socketConnected(): Promise<void>;
  /** Sends an interaction over the socket as Slack does, and resolves with the client's acknowledgement payload. */
  sendOverSocket(payload: unknown, timeoutMs?: number): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * A small Slack stand-in on a free port: the Web API methods Airlock uses
 * (auth.test, chat.postMessage, chat.update, chat.postEphemeral, views.open,
 * users.info, usergroups.users.list, apps.connections.open) and those
 * `airlock doctor` uses (conversations.info), tokens checked on demand,
 * Block Kit's size limits checked as Slack does (`invalid_blocks`), every
 * call recorded, failures on demand for chaos tests, and a Socket Mode
 * endpoint (`ws://…/socket`) that greets with `hello` and relays
 * acknowledgements.
 */
export async function startFakeSlack(options: FakeSlackOptions = {}): Promise<FakeSlack> {
  const teamId = options.teamId ?? 'T0AIRLOCK';
  const users = options.users ?? {};
  const groups = new Map(Object.entries(options.groups ?? {}));
  const calls: SlackCall[] = [];
  const failures: { failure: SlackFailure; method?: string }[] = [];
  let ts = 1_700_000_000;
  const sockets = new Set<WebSocket>();
  const acks = new Map<string, (payload: unknown) => void>();

  const server = createServer((req, res) => void handle(req, res));
  const wss = new WebSocketServer({ server, path: '/socket' });
  wss.on('connection', (ws) => {
    sockets.add(ws);
    ws.send(
      JSON.stringify({ type: 'hello', num_connections: 1, debug_info: { host: 'fake-slack' }, connection_info: { app_id: 'A0AIRLOCK' } }),
    );
    // Slack pings; a client that hears nothing for 30 s reconnects.
    const pings = setInterval(() => ws.ping(), 5_000);
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as { envelope_id?: string; payload?: unknown };
      if (message.envelope_id) acks.get(message.envelope_id)?.(message.payload ?? {});
    });
    ws.on('close', () => {
      clearInterval(pings);
      sockets.delete(ws);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const method = (req.url ?? '').replace(/^\/api\//, '').replace(/\?.*$/, '');
    const body = parseBody(raw, req.headers['content-type']);
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const call: SlackCall = { method, body, raw, token, at: Date.now(), hrAt: performance.now() };
    calls.push(call);
    const index = failures.findIndex((f) => f.method === undefined || f.method === method);
    if (index !== -1) {
      const [{ failure }] = failures.splice(index, 1) as [{ failure: SlackFailure }];
      if ('error' in failure) return json(res, 200, { ok: false, error: failure.error });
      if (failure.status === 429) {
        res.setHeader('Retry-After', String(failure.retryAfter));
        return json(res, 429, { ok: false, error: 'ratelimited' });
      }
      return json(res, 500, { ok: false, error: 'internal_error' });
    }
    call.response = refusal(method, token) ?? overLimits(method, body) ?? answer(method, body);
    if (options.scopes) res.setHeader('x-oauth-scopes', options.scopes.join(','));
    json(res, 200, call.response);
  }

  function refusal(method: string, token: string | undefined): Record<string, unknown> | undefined {
    if (options.validTokens === undefined) return undefined;
    if (token === undefined) return { ok: false, error: 'not_authed' };
    if (!options.validTokens.includes(token)) return { ok: false, error: 'invalid_auth' };
    if ((method === 'apps.connections.open') !== token.startsWith('xapp-')) return { ok: false, error: 'not_allowed_token_type' };
    return undefined;
  }

  function answer(method: string, body: Record<string, unknown>): Record<string, unknown> {
    switch (method) {
      case 'auth.test':
        return {
          ok: true,
          team_id: teamId,
          team: 'Airlock Test',
          user_id: 'U0AIRLOCKBOT',
          bot_id: 'B0AIRLOCK',
          user: 'airlock',
          url: `${url}/`,
        };
      case 'chat.postMessage':
        return { ok: true, channel: String(body.channel), ts: `${++ts}.000100`, message: { text: body.text } };
      case 'chat.update':
        return { ok: true, channel: String(body.channel), ts: String(body.ts) };
      case 'chat.postEphemeral':
        return { ok: true, message_ts: `${++ts}.000200` };
      case 'views.open':
        return { ok: true, view: { id: `V${randomUUID().slice(0, 8).toUpperCase()}` } };
      case 'users.info': {
        const user = users[String(body.user)];
        if (!user) return { ok: false, error: 'user_not_found' };
        return {
          ok: true,
          user: {
            id: body.user,
            name: user.name,
            real_name: user.real_name ?? user.name,
            profile: { display_name: user.display_name ?? '', real_name: user.real_name ?? user.name },
          },
        };
      }
      case 'usergroups.users.list': {
        const members = groups.get(String(body.usergroup));
        return members ? { ok: true, users: members } : { ok: false, error: 'no_such_subteam' };
      }
      case 'apps.connections.open':
        return { ok: true, url: `${url.replace(/^http/, 'ws')}/socket` };
      case 'conversations.info': {
        const id = String(body.channel);
        const conversation = options.conversations?.[id];
        if (!conversation) return { ok: false, error: 'channel_not_found' };
        const isPrivate = conversation.is_private ?? false;
        return {
          ok: true,
          channel: {
            id,
            name: conversation.name,
            is_channel: !isPrivate,
            is_group: isPrivate,
            is_private: isPrivate,
            is_member: conversation.is_member ?? true,
            is_archived: conversation.is_archived ?? false,
          },
        };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  return {
    url,
    apiUrl: `${url}/api/`,
    teamId,
    calls,
    callsTo: (method) => calls.filter((c) => c.method === method),
    async waitFor(method, match = () => true, { timeoutMs = 30_000, from = 0 } = {}) {
      let found: SlackCall | undefined;
      await until(
        `a ${method} call to the fake Slack`,
        () => (found = calls.slice(from).find((c) => c.method === method && match(c))) !== undefined,
        timeoutMs,
      );
      return found!;
    },
    failNext(count, failure, method) {
      for (let i = 0; i < count; i++) failures.push({ failure, ...(method !== undefined && { method }) });
    },
    setGroup(id, members) {
      groups.set(id, members);
    },
    socketConnected: () => until('a Socket Mode client to connect', () => sockets.size > 0),
    async sendOverSocket(payload, timeoutMs = 30_000) {
      const [socket] = sockets;
      if (!socket) throw new Error('no Socket Mode client is connected');
      const envelope = randomUUID();
      const acked = new Promise<unknown>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no acknowledgement of envelope ${envelope} within ${timeoutMs} ms`)), timeoutMs);
        acks.set(envelope, (ack) => {
          clearTimeout(timer);
          resolve(ack);
        });
      });
      socket.send(JSON.stringify({ envelope_id: envelope, type: 'interactive', payload, accepts_response_payload: false }));
      return acked;
    },
    async close() {
      for (const socket of sockets) socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Block Kit's limits, as Slack enforces them on what Airlock sends (characters; blocks per message or view). */
const LIMITS = {
  messageBlocks: 50,
  viewBlocks: 100,
  header: 150,
  section: 3000,
  field: 2000,
  fields: 10,
  context: 10,
  button: 75,
  value: 2000,
  actions: 25,
  title: 24,
  metadata: 3000,
};

interface LooseBlock {
  type?: string;
  text?: { text?: string };
  fields?: { text?: string }[];
  elements?: { type?: string; text?: string | { text?: string }; value?: string }[];
  accessory?: { type?: string; text?: { text?: string }; value?: string };
}

/**
 * What Slack would refuse in a message or a view (`invalid_blocks`, with a
 * line per problem, as Slack answers), so that a test sees Airlock go
 * over a limit instead of a fake that takes anything.
 */
function overLimits(method: string, body: Record<string, unknown>): Record<string, unknown> | undefined {
  const problems: string[] = [];
  const check = (what: string, length: number | undefined, max: number) => {
    if (length !== undefined && length > max) problems.push(`${what}: ${length} > ${max}`);
  };
  const checkBlocks = (blocks: LooseBlock[], max: number) => {
    check('blocks', blocks.length, max);
    blocks.forEach((block, i) => {
      const at = `blocks[${i}]`;
      if (block.type === 'header') check(`${at}.text`, block.text?.text?.length, LIMITS.header);
      if (block.type === 'section') {
        check(`${at}.text`, block.text?.text?.length, LIMITS.section);
        check(`${at}.fields`, block.fields?.length, LIMITS.fields);
        block.fields?.forEach((field, j) => check(`${at}.fields[${j}]`, field.text?.length, LIMITS.field));
        if (block.accessory?.type === 'button') {
          check(`${at}.accessory.text`, block.accessory.text?.text?.length, LIMITS.button);
          check(`${at}.accessory.value`, block.accessory.value?.length, LIMITS.value);
        }
      }
      if (block.type === 'context') {
        check(`${at}.elements`, block.elements?.length, LIMITS.context);
        block.elements?.forEach((element, j) =>
          check(`${at}.elements[${j}]`, typeof element.text === 'string' ? element.text.length : undefined, LIMITS.section),
        );
      }
      if (block.type === 'actions') {
        check(`${at}.elements`, block.elements?.length, LIMITS.actions);
        block.elements?.forEach((element, j) => {
          check(`${at}.elements[${j}].text`, typeof element.text === 'object' ? element.text.text?.length : undefined, LIMITS.button);
          check(`${at}.elements[${j}].value`, element.value?.length, LIMITS.value);
        });
      }
    });
  };
  if ((method === 'chat.postMessage' || method === 'chat.update') && Array.isArray(body.blocks))
    checkBlocks(body.blocks as LooseBlock[], LIMITS.messageBlocks);
  if (method === 'views.open') {
    const view = (body.view ?? {}) as {
      blocks?: LooseBlock[];
      title?: { text?: string };
      close?: { text?: string };
      private_metadata?: string;
    };
    checkBlocks(view.blocks ?? [], LIMITS.viewBlocks);
    check('view.title', view.title?.text?.length, LIMITS.title);
    check('view.close', view.close?.text?.length, LIMITS.title);
    check('view.private_metadata', view.private_metadata?.length, LIMITS.metadata);
  }
  return problems.length > 0 ? { ok: false, error: 'invalid_blocks', errors: problems } : undefined;
}

function parseBody(raw: string, contentType: string | undefined): Record<string, unknown> {
  if (contentType?.startsWith('application/json')) return JSON.parse(raw || '{}') as Record<string, unknown>;
  const body: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    body[key] = /^[[{]/.test(value) ? JSON.parse(value) : value;
  }
  return body;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}
