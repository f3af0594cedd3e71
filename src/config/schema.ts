import { z } from 'zod';
import { describeDuration, durationField, durationMs, parseDuration } from './duration.js';
import { describeValue } from './zod-problems.js';

/**
 * The `airlock.yaml` document as documented. Paths are kept as written here;
 * `loadConfig` resolves them against the config file's folder.
 */

/** `__` separates server and tool names on the aggregated `/mcp` endpoint, so no server name may contain it. */
export const SERVER_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;

const MAX_APPROVAL_TIMEOUT_MS = 30 * 86_400_000;
const MAX_CALL_TIMEOUT_MS = 86_400_000;

/** A count limit: a whole number from 1 to `max` (digits from `${VAR}` too); no value turns a cap off. */
function cap(max: number) {
  return z
    .union([z.number(), z.string()], { error: 'expected a whole number' })
    .transform((v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v) as number)
    .pipe(z.int().min(1).max(max));
}
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Words of an argument name that mark its value secret, unless the config names others. */
export const DEFAULT_SECRET_KEYS = [
  'token',
  'password',
  'passwd',
  'secret',
  'key',
  'authorization',
  'credential',
  'credentials',
  'cookie',
] as const;

const text = z.string().refine((s) => s !== '', 'must not be empty');
const size = z.union([
  z.int().positive(),
  z.string().regex(/^\d+\s*(b|kb|mb)$/i, 'expected a size like "512kb" or "1mb", or a number of bytes'),
]);

/** Bytes in a `size` value (`"256kb"`: 262144). */
export function sizeBytes(value: number | string): number {
  if (typeof value === 'number') return value;
  const [, digits = '0', unit = 'b'] = /^(\d+)\s*(b|kb|mb)$/i.exec(value) ?? [];
  return Number(digits) * { b: 1, kb: 1024, mb: 1024 * 1024 }[unit.toLowerCase() as 'b' | 'kb' | 'mb'];
}

/**
 * `${SLACK_API_URL:-}` yields "" when the variable is unset, which must mean
 * "not configured" rather than "configured as empty". The cast only restates
 * the pipe's types, which TypeScript cannot follow through the generic.
 */
function absentIfEmpty<T extends z.ZodType<unknown, string>>(schema: T) {
  const target = schema.optional() as unknown as z.ZodOptional<z.ZodType<z.output<T>, string>>;
  return z
    .string()
    .optional()
    .transform((v) => (v === '' ? undefined : v))
    .pipe(target);
}

/**
 * What `airlock audit verify` allows between the newest checkpoint and the
 * head: checkpoint.events more events (plus what other instances append
 * while one signs, up to four batches), and 1.5 × checkpoint.interval plus
 * 30 s (an idle gateway looks every quarter interval; clocks differ).
 */
export const CHECKPOINT_SLACK_EVENTS = 1_024;
export function checkpointLimits(everyEvents: number, everyMs: number): { events: number; ms: number } {
  return { events: everyEvents + CHECKPOINT_SLACK_EVENTS, ms: Math.round(1.5 * everyMs) + 30_000 };
}

/** Shorter keys could be guessed: 32 characters is what `openssl rand -base64 24` prints. */
export const MIN_ANCHOR_KEY_LENGTH = 32;

/**
 * `audit.anchor_key`: the HMAC key of audit checkpoints. Checked by hand so
 * no message ever quotes it (the generic "expected a string, got …" would).
 * "" (from `${AIRLOCK_AUDIT_ANCHOR_KEY:-}`) means not set.
 */
const anchorKey = z
  .custom<string | undefined>((v) => v === undefined || typeof v === 'string', {
    error: 'expected a string (quote the key; it is not shown here)',
  })
  .transform((v) => (v === '' ? undefined : v))
  .refine(
    (v) => v === undefined || v.length >= MIN_ANCHOR_KEY_LENGTH,
    `too short: an anchor key needs at least ${MIN_ANCHOR_KEY_LENGTH} characters (openssl rand -base64 32 makes one); it is not shown here`,
  )
  .optional()
  .meta({
    // The file holds what is written (`${AIRLOCK_AUDIT_ANCHOR_KEY}`), so editors check the type, not the length.
    type: 'string',
    description: `The secret (at least ${MIN_ANCHOR_KEY_LENGTH} characters) that signs audit checkpoints (HMAC-SHA256), so \`airlock audit verify\` can tell events cut from the end of the trail; typically "\${AIRLOCK_AUDIT_ANCHOR_KEY}". Never written to Redis, events, logs or files.`,
  });

function urlWith(protocols: RegExp, expected: string) {
  return z.url({ protocol: protocols, error: (issue) => `expected ${expected}, got ${describeValue(issue.input)}` });
}

const httpUrl = urlWith(/^https?$/, 'an http:// or https:// URL');

/** Accepts a number or a string of digits, so `port: "${PORT:-8080}"` works. */
const port = z
  .union([z.number(), z.string()], { error: 'expected a port number' })
  .transform((v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v) as number)
  .pipe(z.int().min(0).max(65535));

const stringMap = z.record(z.string(), z.string());

/**
 * A name as a Host header carries it: a host name or IPv4 address, or an
 * IPv6 address in brackets, then an optional `:port`. Nothing else (no
 * user info, no path), so no parser can be talked into reading another host
 * out of it.
 */
export const HOST_PATTERN = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(\d{1,5}))?$/i;

const hostName = z
  .string()
  .refine(
    (v) => HOST_PATTERN.test(v) && URL.canParse(`http://${v}`),
    'expected a host name or IP address, optionally with ":port" (an IPv6 address in brackets: "[fd00::1]:8080")',
  );

/** Adds `message` unless an unknown key was already reported here: a typo of a required key is one problem, not two. */
function unlessUnknownKeys(ctx: z.core.ParsePayload<unknown>, message: string): void {
  if (ctx.issues.some((issue) => issue.code === 'unrecognized_keys' && (issue.path ?? []).length === 0)) return;
  ctx.issues.push({ code: 'custom', message, input: ctx.value });
}

const STDIO_ONLY = ['args', 'env', 'cwd', 'process'] as const;

/** The MCP revisions Airlock speaks to an upstream server, and `auto` to ask the server which it speaks. */
export const UPSTREAM_PROTOCOLS = ['auto', '2025-11-25', '2026-07-28'] as const;
export const STDIO_PROCESS_MODES = ['shared', 'per_session'] as const;
export type StdioProcessMode = (typeof STDIO_PROCESS_MODES)[number];

/** Which of a server's questions to its agent Airlock passes on (`servers.<name>.relay`). */
export interface RelayConfig {
  sampling: boolean;
  elicitation: boolean;
  roots: boolean;
}
export type UpstreamProtocol = (typeof UPSTREAM_PROTOCOLS)[number];

/**
 * One object with every key of both kinds, rather than a zod union, so a typo
 * gets "did you mean" and "both or neither" gets a sentence instead of
 * "does not match any accepted form".
 */
export const ServerSchema = z
  .object({
    command: text.optional().meta({ description: 'A stdio server: the program to run (as written, not resolved).' }),
    args: z.array(z.string()).optional(),
    env: stringMap.optional().meta({ description: 'Extra environment variables for the stdio server.' }),
    cwd: absentIfEmpty(z.string()).meta({ description: "Working folder of the stdio server; default: the config file's folder." }),
    url: httpUrl.optional().meta({ description: 'An HTTP server: its Streamable HTTP endpoint (SSE as fallback).' }),
    headers: stringMap.optional().meta({ description: 'HTTP headers sent to the upstream server.' }),
    call_timeout: durationField(MAX_CALL_TIMEOUT_MS).default('60s').meta({
      description:
        'How long a tool call may run upstream without progress before it ends [UNAVAILABLE]; progress notifications restart the clock.',
    }),
    policy: text.meta({ description: "The policy file for this server, relative to the config file's folder." }),
    max_list_pages: cap(10_000).default(100).meta({
      description:
        "Most pages Airlock reads of one of this server's lists (tools/list, resources/list, resources/templates/list, prompts/list) before it stops and serves what it read: a server that always answers with a nextCursor is cut off here.",
    }),
    max_list_items: cap(1_000_000).default(10_000).meta({
      description: "Most items Airlock keeps of one of this server's lists; past it the list is cut and what was read is served.",
    }),
    relay: z
      .object({
        sampling: z.boolean().default(true).meta({
          description:
            "Pass the server's sampling/createMessage requests (it asks the agent's model to write something) to the agent whose call or session they belong to.",
        }),
        elicitation: z.boolean().default(true).meta({
          description: "Pass the server's elicitation/create requests (it asks the agent's user for input, or to open a URL) to the agent.",
        }),
        roots: z.boolean().default(true).meta({
          description:
            "Pass the server's roots/list requests (it asks which folders the agent works in) to the agent. A server may take the answer as the folders it may touch: turn this off where its own folders are an access boundary.",
        }),
      })
      .strict()
      .default({ sampling: true, elicitation: true, roots: true })
      .meta({
        description: 'What this server may ask of the agent mid-call; each is on by default, as a transparent proxy is expected to be.',
      }),
    slow: z.boolean().default(false).meta({
      description:
        'Answer every allowed call to this server with a task (the MCP tasks extension) for clients that offer it, and run it on whichever instance is free: for tools that run for minutes. Held calls become tasks whatever this says; other clients wait for the result as before.',
    }),
    process: z.enum(STDIO_PROCESS_MODES).optional().meta({
      description:
        'A stdio server: one process for every session (shared, the default: a question it asks is passed on only when one call is in flight) or one per session of a client that can answer questions (per_session: each costs a process and its memory).',
    }),
    protocol: z
      .enum(UPSTREAM_PROTOCOLS, { error: (issue) => `expected one of auto, 2025-11-25, 2026-07-28, got ${describeValue(issue.input)}` })
      .default('auto')
      .meta({
        description:
          'The MCP revision Airlock speaks to this server: auto (ask it with server/discover once, remember the answer, and fall back to 2025-11-25 for a server that does not know it), 2025-11-25 (initialize, sessions) or 2026-07-28 (stateless; a server that does not speak it fails to connect).',
      }),
  })
  .strict()
  .check((ctx) => {
    const s = ctx.value;
    if (s.command !== undefined && s.url !== undefined) {
      ctx.issues.push({ code: 'custom', message: 'has both "command" (a stdio server) and "url" (an HTTP server); give one', input: s });
    } else if (s.command === undefined && s.url === undefined) {
      unlessUnknownKeys(ctx, 'needs "command" (a stdio server) or "url" (an HTTP server)');
    } else if (s.command !== undefined && s.headers !== undefined) {
      ctx.issues.push({
        code: 'custom',
        path: ['headers'],
        message: '"headers" is for HTTP servers (with "url"), not stdio servers',
        input: s.headers,
      });
    } else if (s.url !== undefined) {
      for (const key of STDIO_ONLY.filter((k) => s[k] !== undefined)) {
        ctx.issues.push({
          code: 'custom',
          path: [key],
          message: `"${key}" is for stdio servers (with "command"), not HTTP servers`,
          input: s[key],
        });
      }
    }
  })
  .transform((s): StdioServer | HttpServer =>
    s.url !== undefined
      ? {
          transport: 'http',
          url: s.url,
          headers: s.headers ?? {},
          call_timeout_ms: durationMs(s.call_timeout),
          policy: s.policy,
          max_list_pages: s.max_list_pages,
          max_list_items: s.max_list_items,
          protocol: s.protocol,
          relay: s.relay,
          slow: s.slow,
        }
      : {
          transport: 'stdio',
          command: s.command ?? '',
          args: s.args ?? [],
          env: s.env ?? {},
          ...(s.cwd !== undefined && { cwd: s.cwd }),
          call_timeout_ms: durationMs(s.call_timeout),
          policy: s.policy,
          max_list_pages: s.max_list_pages,
          max_list_items: s.max_list_items,
          protocol: s.protocol,
          relay: s.relay,
          slow: s.slow,
          process: s.process ?? 'shared',
        },
  );

/** How much of one paginated list Airlock reads from a server. */
export interface ListCapsConfig {
  max_list_pages: number;
  max_list_items: number;
}

export interface StdioServer extends ListCapsConfig {
  transport: 'stdio';
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  call_timeout_ms: number;
  policy: string;
  /** Always set from a config file; a server built by hand may leave it out, meaning `auto`. */
  protocol?: UpstreamProtocol;
  /** Always set from a config file; left out, everything is relayed. */
  relay?: RelayConfig;
  /** Left out: `shared`. */
  process?: StdioProcessMode;
  /** Left out: false (see `servers.<name>.slow`). */
  slow?: boolean;
}

export interface HttpServer extends ListCapsConfig {
  transport: 'http';
  url: string;
  headers: Record<string, string>;
  call_timeout_ms: number;
  policy: string;
  /** Always set from a config file; a server built by hand may leave it out, meaning `auto`. */
  protocol?: UpstreamProtocol;
  /** Always set from a config file; left out, everything is relayed. */
  relay?: RelayConfig;
  /** Left out: false (see `servers.<name>.slow`). */
  slow?: boolean;
}

const serverName = z
  .string()
  .regex(SERVER_NAME_PATTERN, 'server names use lowercase letters, digits, "-" and "_", and start with a letter or digit')
  .refine((name) => !name.includes('__'), 'server names must not contain "__" (it separates server and tool names on /mcp)');

const credential = {
  name: text,
  token: text.optional().meta({ description: 'The bearer token itself (usually "${SOME_ENV_VAR}").' }),
  token_sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex characters (the SHA-256 of the token)')
    .optional()
    .meta({ description: 'The SHA-256 of the bearer token, in hex, so the config need not hold the token.' }),
};

function exactlyOneToken(ctx: z.core.ParsePayload<{ token?: string; token_sha256?: string }>): void {
  const { token, token_sha256 } = ctx.value;
  if (token !== undefined && token_sha256 !== undefined) {
    ctx.issues.push({ code: 'custom', message: 'has both "token" and "token_sha256"; give one', input: ctx.value });
  } else if (token === undefined && token_sha256 === undefined) {
    unlessUnknownKeys(ctx, 'needs "token" or "token_sha256"');
  }
}

export const GrantSchema = z
  .object({
    ...credential,
    servers: z.array(text).optional().meta({ description: 'The servers this grant may call; default: all.' }),
    approval_pending: z.boolean().optional().meta({
      description:
        "Answer this grant's held calls at once with [APPROVAL PENDING] and run the same call, repeated once approved, under that approval (see approvals.pending). Default: approvals.pending.enabled.",
    }),
  })
  .strict()
  .check(exactlyOneToken);

export const AdminSchema = z.object(credential).strict().check(exactlyOneToken);

/** The admin a gateway with no `admins` configured acts for (its token comes from AIRLOCK_ADMIN_TOKEN or a file it writes). */
export const LOCAL_ADMIN_NAME = 'local';

/** Slack's ids: users `U…` (or `W…` on Enterprise Grid), user groups `S…`. */
export const SLACK_USER_ID = /^[UW][A-Z0-9]{2,}$/;
export const SLACK_GROUP_ID = /^S[A-Z0-9]{2,}$/;

const slackUser = z.string().regex(SLACK_USER_ID, 'expected a Slack user id (U… or W…, as in the user\'s profile → "Copy member ID")');

/** One person and the identities they decide through, so that `min_approvals` counts them once. */
export const PersonSchema = z
  .object({
    name: text.meta({ description: 'The person, as the audit trail and refusals name them.' }),
    slack: z.array(slackUser).default([]).meta({ description: 'Their Slack user ids.' }),
    admins: z.array(text).default([]).meta({ description: 'Their console admin names (entries of `admins`).' }),
  })
  .strict()
  .check((ctx) => {
    if (ctx.value.slack.length === 0 && ctx.value.admins.length === 0)
      unlessUnknownKeys(ctx, 'links no identity: give "slack" (Slack user ids) and/or "admins" (admin names)');
  });

export const ConfigSchema = z
  .object({
    $schema: z.string().optional().meta({ description: 'A JSON Schema for editors; ignored by Airlock.' }),
    listen: z
      .object({
        host: text.default('127.0.0.1'),
        port: port.default(8080),
        body_limit: size.default('1mb').meta({ description: 'Largest request body accepted on /mcp; larger ones get a JSON-RPC error.' }),
        session_idle_timeout: durationField(7 * 86_400_000)
          .default('30m')
          .meta({ description: 'An MCP session with no request open for this long is closed; its client must initialize again.' }),
        shutdown_timeout: durationField(3_600_000).default('20s').meta({
          description:
            'On SIGTERM or SIGINT, how long calls already sent upstream may take to finish before their sessions are closed (held calls are withdrawn at once).',
        }),
        max_sessions_per_grant: cap(1_000_000).default(100).meta({
          description:
            'Most MCP sessions one grant may have open, counted across every instance on the same Redis (without grants: all agents together); past it initialize is answered 429 until one of them closes.',
        }),
        max_sessions: cap(1_000_000)
          .default(10_000)
          .meta({ description: 'Most MCP sessions open on this instance, all grants together; past it initialize is answered 429.' }),
        request_state_ttl: durationField(86_400_000).default('10m').meta({
          description:
            "How long a 2026 client may take to answer its server's questions (input_required) and call again: past it Airlock's requestState is refused and the call must start over.",
        }),
        allowed_hosts: z.array(hostName).optional().meta({
          description:
            'More names Airlock is reached at, for the Host and Origin check against DNS rebinding: a host name or IP address for any port, or host:port for that port only. localhost, 127.0.0.1, [::1], listen.host and the host of public_url are always allowed. On a listener that is not loopback, Host is checked only when this or public_url is set.',
        }),
      })
      .strict()
      .prefault({}),
    public_url: absentIfEmpty(httpUrl).meta({ description: 'The address people reach Airlock at; used for links in Slack messages.' }),
    redis: z
      .object({
        // Not repeated in the error as other URLs are: a Redis URL may hold its password.
        url: absentIfEmpty(
          z.url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL (not repeated here: it may hold a password)' }),
        ),
        timeout: durationField(60_000)
          .default('500ms')
          .meta({ description: 'How long a Redis command may take before the call it serves is refused [UNAVAILABLE].' }),
        prefix: z
          .string()
          .regex(
            /^[^{}]*\{[^{}]+\}[^{}]*$/,
            'the prefix needs one {hash tag}, e.g. "{airlock}:", so every key of one script lands on one Redis Cluster slot',
          )
          .default('{airlock}:')
          .meta({ description: 'Prefix of every Redis key Airlock writes.' }),
      })
      .strict()
      .prefault({}),
    servers: z.record(serverName, ServerSchema, {
      error: (issue) => (issue.code === 'invalid_key' ? issue.issues[0]?.message : undefined),
    }),
    grants: z
      .array(GrantSchema)
      .optional()
      .meta({ description: 'Who may call tools: one bearer token each. Without grants, only loopback listeners accept agents.' }),
    admins: z.array(AdminSchema).optional().meta({ description: 'Who may use /api and the console approval channel.' }),
    people: z.array(PersonSchema).optional().meta({
      description:
        'Identities that belong to one person (a Slack user and a console admin): min_approvals counts people, and one person votes once.',
    }),
    approvals: z
      .object({
        channel: absentIfEmpty(text).meta({
          description:
            'The one channel reviewers decide in: slack or console (approvals.channels lists several). Default: slack when a slack section is present, else console.',
        }),
        channels: z
          .array(text)
          .refine((list) => list.length > 0, 'list at least one channel, or leave the key out')
          .optional()
          .meta({
            description:
              'The channels reviewers decide in (slack, console), instead of approvals.channel: each held call is shown in every one, or, when one cannot show it, refused [UNAVAILABLE]; each message is updated as the request ends.',
          }),
        timeout: durationField(MAX_APPROVAL_TIMEOUT_MS).default('10m'),
        heartbeat: durationField(3_600_000)
          .default('15s')
          .meta({ description: 'How often a held call sends a progress notification, when the agent asked for progress.' }),
        retention: durationField(MAX_APPROVAL_TIMEOUT_MS)
          .default('24h')
          .meta({ description: 'How long a decided request stays listed and readable (`airlock approvals show`).' }),
        max_arguments: size
          .default('256kb')
          .meta({ description: 'Largest arguments (as JSON) a held call may carry; larger calls are refused before anything is held.' }),
        pending: z
          .object({
            enabled: z.boolean().default(false).meta({
              description:
                "Approval pending mode for every grant (without grants: for every loopback agent, which share one grant): a held call is answered at once with [APPROVAL PENDING], its request stays open, and the same call repeated once approved runs under that approval. A grant's approval_pending, or a rule's approval.pending, turns it on for that grant or rule alone.",
            }),
            window: durationField(MAX_APPROVAL_TIMEOUT_MS).default('5m').meta({
              description:
                'How long after the approval the same call (same grant, session, tool and arguments) may be repeated to run under it; one repeat runs, later ones are refused.',
            }),
            bind: z.enum(['session', 'grant']).default('session').meta({
              description:
                'What a repeat must share with the call besides its tool and arguments: session (the same MCP session, where the client has one, and grant) or grant (any session of the grant: for clients that open a session per call, as the Inspector CLI does).',
            }),
          })
          .strict()
          .prefault({}),
        approvers: z
          .array(text)
          .refine((list) => list.length > 0, 'list at least one approver, or leave the key out')
          .optional()
          .meta({
            description:
              "Who may decide held calls whose rule names no approvers (and holds from risk, default or on_tool_change): Slack user ids (U…), Slack user group ids (S…), admin names or people's names. A rule's approval.approvers replaces it. With neither, only console admins decide.",
          }),
      })
      .strict()
      .check((ctx) => {
        const { channel, channels } = ctx.value;
        if (channel !== undefined && channels !== undefined) {
          ctx.issues.push({
            code: 'custom',
            message: 'has both "channel" (one channel) and "channels" (a list of them); give one',
            input: ctx.value,
          });
        }
        channels?.forEach((name, at) => {
          const first = channels.indexOf(name);
          if (first !== at)
            ctx.issues.push({
              code: 'custom',
              path: ['channels', at],
              message: `duplicate channel ${JSON.stringify(name)} (also approvals.channels[${first}])`,
              input: name,
            });
        });
      })
      .prefault({}),
    tasks: z
      .object({
        enabled: z.boolean().default(true).meta({
          description:
            'Offer the MCP tasks extension (io.modelcontextprotocol/tasks) to 2026-07-28 clients: a held call is answered at once with a task the client polls on any instance, and the approved call runs once, on whichever instance is free. false: every client waits for its held call as before.',
        }),
        retention: durationField(30 * 86_400_000)
          .default('1h')
          .meta({ description: "How long a task's result (or how it ended) stays readable after the task ends." }),
        poll_interval: durationField(3_600_000)
          .default('2s')
          .meta({ description: 'How often clients are asked to poll a task (pollIntervalMs).' }),
        max_result: size.default('1mb').meta({
          description:
            'Largest result (as JSON) a task keeps in Redis for its client; a larger one ends the task failed, with an error that says so (the call did run).',
        }),
      })
      .strict()
      .prefault({}),
    slack: z
      .object({
        bot_token: text,
        signing_secret: text,
        app_token: absentIfEmpty(z.string()).meta({ description: 'Present: Socket Mode; absent: HTTP at /slack/events.' }),
        channel: text,
        api_url: absentIfEmpty(httpUrl).meta({ description: 'Slack Web API base URL override.' }),
      })
      .strict()
      .optional(),
    log: z
      .object({
        level: absentIfEmpty(z.enum(LOG_LEVELS)).meta({
          description: 'Default: info; the environment variable AIRLOCK_LOG_LEVEL wins over it.',
        }),
        pretty: z
          .union([z.boolean(), z.literal('auto')])
          .default('auto')
          .meta({
            description:
              'true: lines for a person instead of JSON lines; false: JSON lines; auto (the default): lines for a person when the log goes to a terminal, JSON lines otherwise (a pipe, a file, a log shipper). AIRLOCK_LOG_PRETTY (1, 0 or auto) wins over it.',
          }),
      })
      .strict()
      .prefault({}),
    metrics: z
      .object({
        listen: z
          .object({ host: text.default('127.0.0.1'), port })
          .strict()
          .optional()
          .meta({
            description:
              'Serve /metrics without a token on this separate address (for a Prometheus scraper); without it, /metrics is on the main port and needs an admin token.',
          }),
      })
      .strict()
      .prefault({}),
    audit: z
      .object({
        file: absentIfEmpty(z.string()).meta({
          description: 'An optional JSON-lines mirror of the audit trail, appended in chain order (for log shippers).',
        }),
        retention: durationField(3650 * 86_400_000)
          .default('90d')
          .meta({ description: 'Events older than this are trimmed from the Redis stream.' }),
        max_events: z
          .int()
          .positive()
          .optional()
          .meta({ description: 'At most this many events are kept in the Redis stream (the oldest are trimmed first).' }),
        max_arguments: size.default('8kb').meta({
          description:
            'Largest redacted arguments (as JSON) stored in one event; larger ones are stored cut, flagged `arguments_truncated`.',
        }),
        sample_refusals: z.boolean().default(true).meta({
          description:
            "Refusals an agent can repeat at will (denied, hidden, rate limited, unknown tool): audit the first of each kind (grant, event, server, rule) each minute in full and count the rest into one summary event; false audits every one, and the trail then grows at the agent's rate.",
        }),
        anchor_key: anchorKey,
        checkpoint: z
          .object({
            events: z
              .int()
              .min(1)
              .max(1_000_000)
              .default(100)
              .meta({ description: 'A signed checkpoint at least every this many events.' }),
            interval: durationField(86_400_000).default('60s').meta({
              description:
                'And at least this often, idle or not: how old the newest checkpoint may grow before `airlock audit verify` calls the end of the trail cut.',
            }),
          })
          .strict()
          .prefault({})
          .meta({ description: 'How often gateways sign a checkpoint, when audit.anchor_key is set.' }),
      })
      .strict()
      .check((ctx) => {
        const audit = ctx.value;
        const [interval, retention] = [parseDuration(audit.checkpoint.interval), parseDuration(audit.retention)];
        // Each bad value has its own message already.
        if (audit.anchor_key === undefined || typeof interval === 'string' || typeof retention === 'string') return;
        const limits = checkpointLimits(audit.checkpoint.events, interval);
        if (audit.max_events !== undefined && audit.max_events <= limits.events) {
          ctx.issues.push({
            code: 'custom',
            path: ['max_events'],
            message: `must be more than ${limits.events} (audit.checkpoint.events + ${CHECKPOINT_SLACK_EVENTS}) while audit.anchor_key is set, or the newest checkpoint could be trimmed away and the trail would never verify; raise it or lower audit.checkpoint.events`,
            input: audit.max_events,
          });
        }
        if (retention <= limits.ms) {
          ctx.issues.push({
            code: 'custom',
            path: ['retention'],
            message: `must be longer than ${describeDuration(limits.ms)} (1.5 × audit.checkpoint.interval + 30 s) while audit.anchor_key is set, or the newest checkpoint could be trimmed away; raise it or shorten audit.checkpoint.interval`,
            input: audit.retention,
          });
        }
      })
      .prefault({}),
    redact: z
      .object({
        keys: z
          .array(text)
          .min(1)
          .default([...DEFAULT_SECRET_KEYS])
          .meta({
            description:
              'Argument names whose values are hidden in Slack messages and the audit trail: a key matches when it, or one of its words (`apiKey`, `X-Auth-Token`), is listed.',
          }),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .meta({ title: 'Airlock config (airlock.yaml)' });

export type AirlockConfig = z.infer<typeof ConfigSchema>;
export type ServerConfig = AirlockConfig['servers'][string];
export type GrantConfig = z.infer<typeof GrantSchema>;
export type AdminConfig = z.infer<typeof AdminSchema>;
export type PersonConfig = z.infer<typeof PersonSchema>;
