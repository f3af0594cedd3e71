import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request, type ClientRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack.js';
import type { RunningGateway } from '../support/gateway.js';
import type { Tracked } from '../support/held-call.js';
import { until } from '../support/poll.js';
import { MCP_HEADERS, openSession } from '../support/raw-mcp.js';
import { upstreamCalls } from '../support/recording-upstream.js';
import { cli } from '../support/run-cli.js';
import { CHANNEL, TEAM, blockActions, signed, viewSubmission } from '../support/slack-interactions.js';
import { emptyCounts, reportCounts } from './ledger.js';
import { checkPolicy, policyText, writePolicy } from './fuzz-policies.js';
import {
  ADMIN,
  AGENT,
  approvalState,
  auditEvents,
  callEcho,
  decisionMetaOf,
  deliverOnce,
  inPool,
  policyFileOf,
  postedFor,
  reach,
  startRecordingSlackGateway,
  Tally,
  verifyAudit,
} from './fuzz-support.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_260_115);
const MCP_INPUTS = 5_500;
const SLACK_INPUTS = 3_500;
const POLICY_INPUTS = 1_000;
const IN_FLIGHT = 50;
const BOSS = 'U0BOSS';
const SERVER = 'fixture';
const AUTH = { Authorization: `Bearer ${AGENT}` };

const ECHO_SCHEMA = {
  type: 'object',
  properties: { text: { type: 'string', maxLength: 200 } },
  required: ['text'],
  additionalProperties: false,
};
const POLICY_V1 = {
  version: '1',
  default: 'deny',
  hide: ['sleep'],
  tools: {
    pid: {},
    echo: {
      action: 'require_approval',
      reason: 'Echoes need the boss',
      schema: ECHO_SCHEMA,
      approval: { approvers: [BOSS], timeout: '10m' },
    },
  },
};
/** The good policy a live reload brings in: it also hides start_dicom_export_job. */
const POLICY_V2 = { ...POLICY_V1, hide: ['sleep', 'start_dicom_export_job'] };
const policyTexts = policyText([POLICY_V1]);

let slack: FakeSlack;
let gateway: RunningGateway;
let client: Client;
let endpoint: string;
/** Sessions open on /mcp/fixture, and one on /mcp (not good on /mcp/fixture). */
const sessions: string[] = [];
let aggregatedSession: string;
/** Calls held for BOSS while the fuzz runs: nothing sent may release them. */
const probes: { mark: string; id: string; call: Tracked<unknown>; cancel: AbortController }[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'airlock-fuzz-'));

before(async () => {
  slack = await startFakeSlack({ users: { [BOSS]: { name: 'boss' } } });
  gateway = await startRecordingSlackGateway({ apiUrl: slack.apiUrl, servers: { [SERVER]: POLICY_V1 } });
  client = await gateway.connect(`/mcp/${SERVER}`, AGENT);
  endpoint = `${gateway.url}/mcp/${SERVER}`;
  for (let i = 0; i < 3; i++) sessions.push(await openSession(endpoint, AUTH));
  aggregatedSession = await openSession(`${gateway.url}/mcp`, AUTH);
  for (let i = 0; i < 3; i++) {
    const mark = `probe-${i}`;
    const cancel = new AbortController();
    const call = callEcho(client, mark, cancel.signal);
    probes.push({ mark, id: (await postedFor(slack, mark)).id, call, cancel });
  }
});
after(async () => {
  await gateway?.stop();
  await slack?.close();
  rmSync(scratch, { recursive: true, force: true });
});

// ---------------------------------------------------------------- inputs

interface HttpInput {
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  /** A function builds a huge body when it is sent, so sampling stays cheap. */
  body?: string | Uint8Array | (() => string);
  /** The statuses this kind of input may get; undefined: any 2xx-4xx. */
  expect?: number[];
  /** Sent twice; the second answer is checked against `expectAgain`. */
  expectAgain?: number[];
}

const printable = fc.string({ unit: fc.constantFrom(...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))), maxLength: 60 });
const hex = (length: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
const METHODS = [
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/read',
  'resources/templates/list',
  'resources/subscribe',
  'prompts/list',
  'prompts/get',
  'logging/setLevel',
  'completion/complete',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'tasks/get',
  'tasks/list',
  'tasks/cancel',
];
const TOOLS = ['echo', 'sleep', 'start_dicom_export_job', 'no_such_tool', 'fixture__echo', 'ECHO', 'echo ', ''];

/** Would the gateway send this to the upstream (or hold it for a person)? Inputs never may. */
function admissible(message: unknown): boolean {
  const m = message as { method?: unknown; params?: { name?: unknown; arguments?: unknown } } | null;
  if (typeof m !== 'object' || m === null || m.method !== 'tools/call' || typeof m.params !== 'object' || m.params === null) return false;
  const name = String(m.params.name);
  if (name.endsWith('pid')) return true;
  if (!name.endsWith('echo')) return false;
  const args = m.params.arguments as Record<string, unknown> | undefined;
  // maxLength counts code points; so does this, and never more than the schema would.
  return (
    typeof args === 'object' &&
    args !== null &&
    !Array.isArray(args) &&
    typeof args.text === 'string' &&
    [...args.text].length <= 200 &&
    Object.keys(args).every((k) => k === 'text')
  );
}
function sendsNothingUpstream(input: HttpInput): boolean {
  // Bytes are no JSON-RPC; huge bodies (functions) carry arguments the schema refuses.
  if (typeof input.body !== 'string') return true;
  try {
    const parsed: unknown = JSON.parse(input.body);
    return !(Array.isArray(parsed) ? parsed : [parsed]).some(admissible);
  } catch {
    return true;
  }
}

const sessionHeader = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...[0, 1, 2]).map((i) => ({ 'mcp-session-id': sessions[i]! })) },
  { weight: 1, arbitrary: fc.constant({}) },
  { weight: 1, arbitrary: printable.map((s) => ({ 'mcp-session-id': s })) },
  { weight: 1, arbitrary: fc.uuid().map((s) => ({ 'mcp-session-id': s })) },
  { weight: 1, arbitrary: fc.constant(null).map(() => ({ 'mcp-session-id': aggregatedSession })) },
);
const toolArguments = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.dictionary(fc.constantFrom('text', 'path', 'ms', 'password', '__proto__', 'constructor', ''), fc.jsonValue({ maxDepth: 3 })),
);
const toolCallMessage = fc
  .record({ id: fc.nat(), name: fc.oneof(fc.constantFrom(...TOOLS), printable), args: fc.option(toolArguments, { nil: undefined }) })
  .map(({ id, name, args }) => ({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name, ...(args !== undefined && { arguments: args }) },
  }));
const looseMessage = fc
  .record(
    {
      jsonrpc: fc.oneof({ weight: 4, arbitrary: fc.constant('2.0') }, fc.jsonValue({ maxDepth: 2 })),
      id: fc.oneof(fc.nat(), fc.string({ maxLength: 20 }), fc.constant(null), fc.double(), fc.jsonValue({ maxDepth: 2 })),
      method: fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(...METHODS) },
        fc.jsonValue({ maxDepth: 2 }),
        fc.string({ unit: 'binary', maxLength: 30 }),
      ),
      params: fc.oneof(
        fc.jsonValue({ maxDepth: 4 }),
        fc.record(
          {
            name: fc.oneof(fc.constantFrom(...TOOLS), fc.jsonValue({ maxDepth: 1 })),
            arguments: toolArguments,
            _meta: fc.jsonValue({ maxDepth: 2 }),
          },
          { requiredKeys: [] },
        ),
      ),
    },
    { requiredKeys: [] },
  )
  .map((m) => m as Record<string, unknown>);
const anyMessage = fc.oneof(looseMessage, toolCallMessage);
const mcpPost = (
  kind: string,
  body: fc.Arbitrary<string | Uint8Array | (() => string)>,
  extraHeaders: fc.Arbitrary<Record<string, string>> = fc.constant({}),
) =>
  fc.record({ body, session: sessionHeader, extra: extraHeaders }).map(({ body: b, session, extra }): HttpInput => ({
    kind,
    method: 'POST',
    path: `/mcp/${SERVER}`,
    headers: { ...MCP_HEADERS, ...AUTH, ...session, ...extra },
    body: b,
  }));

/** Deep or huge values, built from their sizes so fast-check only draws numbers. */
const hugeBody = fc
  .record({
    shape: fc.constantFrom('array', 'object', 'string', 'keys', 'mixed'),
    size: fc.constantFrom(1_000, 10_000, 100_000, 300_000, 600_000),
    where: fc.constantFrom('arguments', 'params', 'id', 'meta'),
  })
  .map(({ shape, size, where }) => () => {
    const value =
      shape === 'string'
        ? JSON.stringify('x'.repeat(size * 2))
        : shape === 'keys'
          ? `{${Array.from({ length: size / 10 }, (_, i) => `"k${i}":${i}`).join(',')}}`
          : nested(shape, size);
    if (where === 'id') return `{"jsonrpc":"2.0","id":${value},"method":"tools/list"}`;
    if (where === 'params') return `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":${value}}`;
    if (where === 'meta')
      return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":1},"_meta":${value}}}`;
    return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":${value}}}}`;
  });

/** `depth` levels of arrays, objects, or both alternating, around a 0. */
function nested(shape: string, depth: number): string {
  if (shape === 'object') return `${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}`;
  if (shape === 'mixed') return `${'[{"a":'.repeat(depth / 2)}0${'}]'.repeat(depth / 2)}`;
  return `${'['.repeat(depth)}0${']'.repeat(depth)}`;
}

const CONTENT_TYPES = [
  'application/json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=utf-16',
  'application/jsonl',
  '*/*',
  '',
];
const ACCEPTS = ['application/json, text/event-stream', 'application/json', 'text/event-stream', '*/*', 'text/html', ''];
const headerFuzz = fc
  .record({
    method: fc.constantFrom('POST', 'POST', 'GET', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD'),
    contentType: fc.oneof(fc.constantFrom(...CONTENT_TYPES), printable),
    accept: fc.oneof(fc.constantFrom(...ACCEPTS), printable),
    version: fc.option(fc.oneof(fc.constantFrom('2025-06-18', '2025-03-26', '1999-01-01'), printable), { nil: undefined }),
    session: sessionHeader,
    body: anyMessage.map((m) => JSON.stringify(m)),
  })
  .map(({ method, contentType, accept, version, session, body }): HttpInput => {
    // A GET on a live session opens its notification stream, which stays open by design, and a DELETE would end
    // a session the other inputs use: both are sent without a live session.
    const safeSession = method === 'GET' || method === 'DELETE' ? {} : session;
    return {
      kind: 'mcp:headers',
      method,
      path: `/mcp/${SERVER}`,
      headers: {
        ...AUTH,
        ...safeSession,
        'Content-Type': contentType,
        Accept: accept,
        ...(version !== undefined && { 'mcp-protocol-version': version }),
      },
      ...(method !== 'GET' && method !== 'HEAD' && { body }),
    };
  });
const PATHS = [
  '/mcp/fixture',
  '/mcp',
  '/mcp/nope',
  '/mcp/fixture/extra',
  '/mcp/FIXTURE',
  '/mcp/%00',
  '/mcp/..%2f..%2fetc',
  '/mcp/fixture%20',
  '/mcp//fixture',
];
const authFuzz = fc
  .record({
    path: fc.constantFrom(...PATHS),
    auth: fc.oneof(
      fc.constant({}),
      fc.constant({ Authorization: 'Bearer ' }),
      printable.map((s) => ({ Authorization: `Bearer ${s}` })),
      fc.constant({ Authorization: `Basic ${Buffer.from(`agent:${AGENT}`).toString('base64')}` }),
      fc.constant(AUTH),
    ),
    session: sessionHeader,
    body: anyMessage.map((m) => JSON.stringify(m)),
  })
  .map(({ path, auth, session, body }): HttpInput => ({
    kind: 'mcp:auth-path-session',
    method: 'POST',
    path,
    headers: { ...MCP_HEADERS, ...auth, ...session },
    body,
    // A path no MCP route serves is 404; on a route, no grant is 401 (this gateway has grants), and a server that is not there 404.
    ...(!/^\/mcp(\/[^/]+)?$/.test(path)
      ? { expect: [404] }
      : auth !== AUTH
        ? { expect: [401] }
        : path === '/mcp' || path === `/mcp/${SERVER}`
          ? {}
          : { expect: [404] }),
  }));

const mcpInput: fc.Arbitrary<HttpInput> = fc
  .oneof(
    { weight: 4, arbitrary: mcpPost('mcp:bytes', fc.uint8Array({ maxLength: 2_048 })) },
    { weight: 2, arbitrary: mcpPost('mcp:text', fc.oneof(fc.string({ unit: 'binary', maxLength: 500 }), fc.json({ maxDepth: 4 }))) },
    {
      weight: 8,
      arbitrary: mcpPost(
        'mcp:json-rpc-types',
        looseMessage.map((m) => JSON.stringify(m)),
      ),
    },
    {
      weight: 6,
      arbitrary: mcpPost(
        'mcp:tool-arguments',
        toolCallMessage.map((m) => JSON.stringify(m)),
      ),
    },
    {
      weight: 4,
      arbitrary: mcpPost(
        'mcp:batch',
        fc.array(anyMessage, { maxLength: 30 }).map((ms) => JSON.stringify(ms)),
      ),
    },
    { weight: 1, arbitrary: mcpPost('mcp:huge-nested', hugeBody) },
    { weight: 4, arbitrary: headerFuzz },
    { weight: 4, arbitrary: authFuzz },
  )
  .filter(sendsNothingUpstream);

// Slack interactions
const SLACK_PATH = '/slack/events';
/** Slack's window is 5 minutes either way; inputs are signed before the run, so a stale one is stale by far more than the run lasts. */
const STALE_S = 15 * 60;
/** Signed garbage repeats (`null`, `{}`): each gets its own timestamp, so a repeat is not refused as a replay. */
let garbageSigned = 0;
const nowS = () => Math.floor(Date.now() / 1000);
const userId = fc
  .oneof(fc.constantFrom('U0MALLORY', 'W0WORKER', BOSS.toLowerCase(), 'U', 'S0OPS'), fc.stringMatching(/^[UW][A-Z0-9]{2,12}$/))
  .filter((u) => u !== BOSS);
const approvalIdArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0, 1, 2).map((i) => probes[i]!.id) },
  { weight: 1, arbitrary: fc.stringMatching(/^apr_[A-Za-z0-9_-]{22}$/) },
  { weight: 1, arbitrary: printable },
);
const clickPayload = (user: fc.Arbitrary<string>, team: fc.Arbitrary<string>) =>
  fc
    .record({
      user,
      team,
      id: approvalIdArb,
      kind: fc.constantFrom('approve', 'reject', 'submit'),
      reason: fc.option(fc.string({ maxLength: 200 }), { nil: null }),
    })
    .map(({ user: u, team: tm, id, kind, reason }) =>
      kind === 'submit'
        ? viewSubmission({ user: u, team: tm, privateMetadata: JSON.stringify({ id, channel: CHANNEL }), reason })
        : blockActions({ user: u, team: tm, action: kind === 'approve' ? 'approve' : 'reject', approvalId: id }),
    );
const ourClick = clickPayload(fc.oneof(fc.constant(BOSS), userId), fc.constant(TEAM));
const slackRequest = (
  kind: string,
  expect: number[],
  body: string,
  headers: Record<string, string>,
  extra: Partial<HttpInput> = {},
): HttpInput => ({ kind, method: 'POST', path: SLACK_PATH, headers, body, expect, ...extra });
let triggers = 0;
/** Signs a payload with a trigger_id of its own, so no two inputs are one signed body. */
const signedFor = (payload: unknown, options: { secret?: string; timestampS?: number } = {}) =>
  signed({ ...(payload as object), trigger_id: `fuzz-${++triggers}` }, options);

const slackInput: fc.Arbitrary<HttpInput> = fc.oneof(
  // Forged: the boss's own click, signed with the wrong secret, a made-up signature, or none.
  {
    weight: 3,
    arbitrary: fc
      .record({
        payload: ourClick,
        forgery: fc.oneof(
          fc.constant('wrong-secret'),
          fc.constant('unsigned'),
          hex(64).map((h) => `v0=${h}`),
          printable,
        ),
      })
      .map(({ payload, forgery }) => {
        const request = signedFor(payload, forgery === 'wrong-secret' ? { secret: 'not-the-signing-secret' } : {});
        if (forgery === 'unsigned') delete request.headers['X-Slack-Signature'];
        else if (forgery !== 'wrong-secret') request.headers['X-Slack-Signature'] = forgery;
        return slackRequest('slack:forged-signature', [401], request.body, request.headers);
      }),
  },
  // Signed with the right secret, but too old, too far ahead, or with a time that is not one.
  {
    weight: 3,
    arbitrary: fc
      .record({
        payload: ourClick,
        skew: fc.oneof(fc.integer({ min: STALE_S, max: 1e9 }), fc.integer({ min: -1e9, max: -STALE_S })),
        odd: fc.option(fc.oneof(fc.constantFrom('', 'abc', '1e9', '-1', '0x10', '1234567890123'), printable), { nil: undefined }),
      })
      .map(({ payload, skew, odd }) => {
        const request = signedFor(payload, { timestampS: nowS() - skew });
        if (odd !== undefined) request.headers['X-Slack-Request-Timestamp'] = odd;
        return slackRequest('slack:stale-timestamp', [401], request.body, request.headers);
      }),
  },
  // Validly signed garbage: random bytes or text, a payload field that is not an interaction, any content type.
  // Fewer of these: the ones Bolt cannot classify hold a connection for its 3 s acknowledgement timeout.
  {
    weight: 1,
    arbitrary: fc
      .record({
        body: fc.oneof(
          fc.string({ unit: 'binary', maxLength: 800 }),
          fc.json({ maxDepth: 4 }),
          fc.jsonValue({ maxDepth: 4 }).map((v) => new URLSearchParams({ payload: JSON.stringify(v) }).toString()),
          fc.string({ maxLength: 200 }).map((s) => new URLSearchParams({ payload: s }).toString()),
          fc.dictionary(printable, printable).map((d) => new URLSearchParams(d).toString()),
        ),
        contentType: fc.constantFrom('application/x-www-form-urlencoded', 'application/json', 'text/plain', ''),
      })
      .map(({ body, contentType }) => {
        const request = signed(undefined, { body, timestampS: nowS() - (garbageSigned++ % 120) });
        // Bolt answers 404, after its 3 s acknowledgement timeout, to a body it cannot tell the type of.
        return slackRequest('slack:signed-garbage', [200, 400, 404, 413], body, { ...request.headers, 'Content-Type': contentType });
      }),
  },
  // Another workspace, correctly signed: the boss's click on a held request, from team T…OTHER.
  {
    weight: 3,
    arbitrary: clickPayload(
      fc.constant(BOSS),
      fc.stringMatching(/^T[A-Z0-9]{3,10}$/).filter((t) => t !== TEAM),
    ).map((payload) => {
      const request = signedFor(payload);
      return slackRequest('slack:wrong-team', [200], request.body, request.headers);
    }),
  },
  // Our workspace, correctly signed, by someone who is not the approver, or on an id that is not one.
  {
    weight: 3,
    arbitrary: clickPayload(userId, fc.constant(TEAM)).map((payload) => {
      const request = signedFor(payload);
      return slackRequest('slack:not-an-approver', [200], request.body, request.headers);
    }),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({ id: fc.stringMatching(/^apr_[A-Za-z0-9_-]{22}$/), kind: fc.constantFrom('approve', 'reject') })
      .map(({ id, kind }) => {
        const request = signedFor(blockActions({ user: BOSS, action: kind as 'approve' | 'reject', approvalId: id }));
        return slackRequest('slack:unknown-approval', [200], request.body, request.headers);
      }),
  },
  // The same signed request twice: the second is a replay.
  {
    weight: 3,
    arbitrary: clickPayload(userId, fc.constant(TEAM)).map((payload) => {
      const request = signedFor(payload);
      return slackRequest('slack:replayed', [200], request.body, request.headers, { expectAgain: [401] });
    }),
  },
);

// ---------------------------------------------------------------- sending

type Answer = { status: number } | { error: string };

function bodyOf(input: HttpInput): string | Buffer<ArrayBuffer> {
  const body = typeof input.body === 'function' ? input.body() : input.body;
  return typeof body === 'string' || body === undefined ? (body ?? '') : Buffer.from(body);
}

/**
 * One request on a connection of its own (`agent: false`): on a kept-alive socket, a pause in this process past the
 * keep-alive hint (generating the next input on a loaded machine) let fetch reuse a socket the gateway had already
 * closed, and the reset said nothing about the gateway. Retrying instead would be wrong too: a replayed request
 * answered 200 the second time would be counted as a failure of the gateway.
 */
function send(input: HttpInput): Promise<Answer> {
  const target = new URL(`${gateway.url}${input.path}`);
  const body = input.body === undefined ? undefined : bodyOf(input);
  return new Promise((resolve) => {
    let req: ClientRequest | undefined;
    const timer = setTimeout(() => {
      req?.destroy();
      settle({ error: 'no answer within 20 s' });
    }, 20_000);
    const settle = (answer: Answer) => {
      clearTimeout(timer);
      resolve(answer);
    };
    try {
      req = request(
        {
          host: target.hostname,
          port: target.port,
          path: `${target.pathname}${target.search}`,
          method: input.method,
          headers: input.headers,
          agent: false,
        },
        (res) => {
          const status = res.statusCode ?? 0;
          // Any stream opened (GET) is one the gateway keeps for notifications: the answer is its status.
          if (input.method === 'GET') {
            res.destroy();
            return settle({ status });
          }
          res.on('data', () => {});
          res.on('end', () => settle({ status }));
          res.on('error', (err) => settle({ error: `${err.message} (reading the answer)` }));
        },
      );
    } catch (err) {
      // node:http refuses some headers before sending anything, as fetch did: an answer of this process, not the gateway's.
      return settle({ error: `${(err as Error).message} (not sent)` });
    }
    req.on('error', (err: NodeJS.ErrnoException) => settle({ error: `${err.message} (${err.code ?? 'no code'})` }));
    req.end(body);
  });
}

interface Failure {
  input: HttpInput;
  answer: Answer;
  why: string;
}

/** What is wrong with an answer, if anything. Redis is up throughout, so not even a 503 (its documented 5xx) is expected. */
function judge(answer: Answer, expected: number[] | undefined): string | undefined {
  if ('error' in answer) return `no HTTP answer: ${answer.error}`;
  if (answer.status >= 500) return `HTTP ${answer.status}`;
  if (expected && !expected.includes(answer.status)) return `HTTP ${answer.status}, expected ${expected.join(' or ')}`;
  if (answer.status < 200) return `HTTP ${answer.status}`;
  return undefined;
}

function describeInput(input: HttpInput): string {
  const raw = input.body === undefined ? '' : bodyOf(input);
  const body = typeof raw === 'string' ? raw : `bytes:${raw.toString('base64')}`;
  return JSON.stringify({ ...input, body: body.length > 600 ? `${body.slice(0, 600)}… (${body.length} chars)` : body });
}

// ---------------------------------------------------------------- the run

/** Error lines that are the gateway working as meant, or Bolt's own on the 404s. */
const EXPECTED_ERROR_LOGS: ((line: Record<string, unknown>) => boolean)[] = [
  (l) => String(l.msg).startsWith('policy reload failed'),
  // Bolt, on a signed body it cannot tell the type of: nothing acknowledged it, so after 3 s it answers 404.
  (l) => String(l.msg).startsWith('An incoming event was not acknowledged within 3 seconds'),
  // Redis slower than redis.timeout on a loaded machine: the trail keeps the events and retries (the run checks it catches up).
  (l) => l.msg === 'audit events could not be written; retrying' && /timed out/.test(String(l.err)),
];

test(`fuzz (seed ${SEED}): ${MCP_INPUTS + SLACK_INPUTS + POLICY_INPUTS} malformed MCP requests, Slack payloads and policy documents against one gateway; every request is answered, nothing is released, and it still serves`, async (t) => {
  const started = Date.now();
  // Broken edits for the live reloads: the first policy documents the loader refuses, and two more: bytes,
  // and a half-saved edit that would have let every call through.
  const invalidTexts = fc
    .sample(policyTexts, { seed: SEED + 2, numRuns: 100 })
    .filter(({ text, ext }) => ext === '.json' && text !== '' && checkPolicy(scratch, text, ext) !== undefined)
    .slice(0, 5);
  invalidTexts.push(
    { text: '\u0000\u00ff not json', ext: '.json' },
    { text: '{"version": "1", "default": "allow", "tools": {"echo": {"action": "allow"}}', ext: '.json' },
  );

  // The policy documents are checked here while the gateway answers the requests (two processes, two cores).
  const policies = new Tally();
  const checkingPolicies = (async () => {
    await fc.assert(
      fc.asyncProperty(policyTexts, async ({ text, ext }) => {
        policies.add(checkPolicy(scratch, text, ext) ? 'invalid' : 'valid');
        await new Promise((resolve) => setImmediate(resolve)); // let the requests go on
      }),
      { seed: SEED, numRuns: POLICY_INPUTS },
    );
    // A few through the command itself: exit 1 with `error <file>: <path>: <problem>` lines, or 0.
    for (const { text, ext } of fc.sample(policyTexts, { seed: SEED + 1, numRuns: 20 })) {
      const file = writePolicy(scratch, text, ext);
      const { code, stdout, stderr } = await cli(['policy', 'check', file], scratch);
      assert.ok(code === 0 || code === 1, `airlock policy check exited ${code} on ${JSON.stringify(text)}: ${stderr}`);
      if (code === 1)
        assert.match(stdout, new RegExp(`^error ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `, 'm'), `${stdout}\n${stderr}`);
      policies.add(`cli_exit_${code}`);
    }
    return Date.now() - started;
  })();
  checkingPolicies.catch(() => undefined); // awaited after the requests

  const mcp = fc.sample(mcpInput, { seed: SEED, numRuns: MCP_INPUTS });
  const slackInputs = fc.sample(slackInput, { seed: SEED, numRuns: SLACK_INPUTS });
  // Interleaved, so both kinds are in flight together.
  const inputs = Array.from({ length: Math.max(mcp.length, slackInputs.length) }, (_, i) => [mcp[i], slackInputs[i]])
    .flat()
    .filter((x): x is HttpInput => x !== undefined);
  const sent = new Tally();
  const statuses = new Tally();
  const failures: Failure[] = [];
  const record = (input: HttpInput, answer: Answer, expected: number[] | undefined) => {
    sent.add(input.kind);
    statuses.add('status' in answer ? String(answer.status) : 'none');
    const why = judge(answer, expected);
    if (why) failures.push({ input, answer, why });
  };

  // Live reloads while the requests fly: a good policy, then broken edits, each followed by a check that the good one serves.
  const policyFile = policyFileOf(gateway, SERVER);
  const toolNames = async () => (await client.listTools()).tools.map((tool) => tool.name).sort();
  const reloads = new Tally();
  const reloading = (async () => {
    const replace = (text: string) => {
      writeFileSync(`${policyFile}.tmp`, text);
      renameSync(`${policyFile}.tmp`, policyFile);
    };
    assert.deepEqual(await toolNames(), ['echo', 'pid', 'start_dicom_export_job'], 'the first policy hides sleep only');
    let mark = gateway.logs.length;
    replace(JSON.stringify(POLICY_V2, null, 2));
    await until('the good policy to be reloaded', () => gateway.logs.slice(mark).some((l) => l.msg === 'policy reloaded'));
    reloads.add('good');
    assert.deepEqual(await toolNames(), ['echo', 'pid'], 'the reloaded policy hides start_dicom_export_job');
    for (const { text } of invalidTexts) {
      mark = gateway.logs.length;
      replace(text);
      await until('the broken edit to be refused', () =>
        gateway.logs.slice(mark).some((l) => String(l.msg).startsWith('policy reload failed')),
      );
      assert.ok(!gateway.logs.slice(mark).some((l) => l.msg === 'policy reloaded'), `a broken policy was loaded: ${text}`);
      reloads.add('broken');
      assert.deepEqual(
        await toolNames(),
        ['echo', 'pid'],
        `after the broken edit ${JSON.stringify(text.slice(0, 200))} the last good policy still serves`,
      );
    }
  })();
  reloading.catch(() => undefined); // awaited after the requests

  const httpStarted = Date.now();
  await inPool(inputs, IN_FLIGHT, async (input) => {
    record(input, await send(input), input.expect);
    if (input.expectAgain) record({ ...input, kind: `${input.kind}-again` }, await send(input), input.expectAgain);
  });
  const httpMs = Date.now() - httpStarted;
  await reloading;
  const policyMs = await checkingPolicies;
  const fuzzMs = Date.now() - started;

  // Still serving: health, readiness, a normal call, and the probes still waiting for their approver.
  const healthz = await fetch(`${gateway.url}/healthz`);
  const readyz = await fetch(`${gateway.url}/readyz`, { headers: { Authorization: `Bearer ${ADMIN}` } });
  const readyBody = await readyz.text();
  await healthz.body?.cancel();
  const pid = await client.callTool({ name: 'pid', arguments: {} });
  const denied = await client.callTool({ name: 'echo', arguments: { text: 7 } });
  const probeStates = await Promise.all(probes.map((probe) => approvalState(gateway, probe.id)));
  const ran = [...new Set([...TOOLS, 'pid'])].flatMap((tool) => upstreamCalls(gateway, SERVER, tool).map((args) => ({ tool, args })));
  const errors = gateway.logs.filter((l) => Number(l.level) >= 50 && !EXPECTED_ERROR_LOGS.some((expected) => expected(l)));
  // The trail kept up: the call after the run is on it, and the chain verifies.
  const audited = await reach(
    'the call after the run to be audited',
    async () => (await auditEvents(gateway, 'tool=pid&decision=executed')).length,
    1,
    30_000,
  );
  const verify = await verifyAudit(gateway);

  const counts = emptyCounts();
  counts.held = probes.length;
  // The one call meant to run is the normal pid call after the fuzz.
  counts.released = ran.length;
  counts.wrongly_released = ran.filter((r) => r.tool !== 'pid').length;
  counts.over_admitted = Math.max(0, ran.filter((r) => r.tool === 'pid').length - 1);
  reportCounts(t, counts, {
    seed: SEED,
    requests: sent.total,
    by_kind: sent.toString(),
    statuses: statuses.toString(),
    policy_documents: policies.toString(),
    live_reloads: reloads.toString(),
    failures: failures.length,
    probes_still_pending: probeStates.filter((p) => p.state === 'pending' && p.votes.length === 0).length,
    error_logs: errors.length,
    policy_ms: policyMs,
    http_ms: httpMs,
    fuzz_ms: fuzzMs,
  });

  if (failures.length > 0) {
    const why = new Tally();
    for (const f of failures) why.add(`${f.input.kind} ${f.why}`);
    const firstOf = new Map<string, Failure>();
    for (const f of failures) if (!firstOf.has(`${f.input.kind} ${f.why}`)) firstOf.set(`${f.input.kind} ${f.why}`, f);
    const firsts = [...firstOf.values()];
    assert.fail(
      `${failures.length} of ${sent.total} requests were answered badly (seed ${SEED}; FUZZ_SEED=${SEED} reproduces): ${why}\nthe first of each:\n${firsts.map((f) => `${f.why}: ${describeInput(f.input)}`).join('\n')}`,
    );
  }
  probes.forEach((probe, i) =>
    assert.deepEqual([probeStates[i]!.state, probeStates[i]!.votes], ['pending', []], `${probe.mark}: no fuzz input decided it`),
  );
  assert.equal(gateway.process.exitCode, null, 'the gateway is still running');
  assert.equal(healthz.status, 200);
  assert.equal(readyz.status, 200, readyBody);
  assert.match(String((pid.content as { text?: string }[])[0]?.text), /^\d+$/, `a normal tools/call still works: ${JSON.stringify(pid)}`);
  assert.equal(denied.isError, true, 'the schema still refuses bad arguments');
  assert.deepEqual(
    ran.map((r) => r.tool),
    ['pid'],
    'the only call released is the normal one made after the fuzz',
  );
  assert.equal(audited, 1, 'the call after the run is on the audit trail');
  assert.equal(verify.code, 0, `airlock audit verify: ${verify.output}`);
  assert.deepEqual(
    [...new Set(errors.map((l) => JSON.stringify({ msg: l.msg, err: l.err })))],
    [],
    'nothing the fuzz sent made the gateway log an error',
  );
  for (const probe of probes) probe.cancel.abort('fuzz done');
});

// ---------------------------------------------------------------- what the fuzz found (fixed since)

test('a validly signed interaction whose payload is JSON null is refused with a 4xx, not answered 500', async () => {
  const body = 'payload=null';
  const request = signed(undefined, { body });
  const response = await fetch(`${gateway.url}${SLACK_PATH}`, { method: 'POST', headers: request.headers, body });
  await response.body?.cancel();
  assert.ok(response.status >= 400 && response.status < 500, `HTTP ${response.status}`);
});

test('tool arguments nested 5,000 deep are refused without stopping the audit trail or later approvals', async () => {
  const mark = gateway.logs.length;
  const session = await openSession(endpoint, AUTH);
  const deep = `${'['.repeat(5_000)}0${']'.repeat(5_000)}`;
  const answer = await fetch(endpoint, {
    method: 'POST',
    headers: { ...MCP_HEADERS, ...AUTH, 'mcp-session-id': session },
    body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":${deep}}}}`,
  });
  assert.equal(answer.status, 200);
  assert.match(await answer.text(), /POLICY DENIED/, 'the schema refuses the call');

  const approved = callEcho(client, 'approved-after-the-deep-call');
  const { id } = await postedFor(slack, 'approved-after-the-deep-call');
  assert.equal((await deliverOnce(gateway.url, blockActions({ user: BOSS, action: 'approve', approvalId: id }))).status, 200);
  const result = await approved.promise;
  const overflow = gateway.logs.slice(mark).filter((l) => /Maximum call stack/.test(String(l.err)));
  assert.equal(
    decisionMetaOf(result)?.decision,
    'approved',
    `the approved call runs: ${JSON.stringify(result)}; stack overflows logged: ${JSON.stringify(overflow.map((l) => l.msg))}`,
  );
  assert.deepEqual(
    overflow.map((l) => l.msg),
    [],
    'no stack overflow on the way',
  );
});
