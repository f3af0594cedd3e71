import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** How a call ended for the agent: one of these per `tools/call`. */
export const CALL_OUTCOMES = [
  'allowed',
  'approved',
  'denied',
  'hidden',
  'unknown',
  'rate_limited',
  'rejected',
  'expired',
  'withdrawn',
  'unavailable',
  'cancelled',
  'error',
  'input_required',
  'task',
  'pending',
] as const;
export type CallOutcome = (typeof CALL_OUTCOMES)[number];

/** What one call spent where, filled in as it goes (milliseconds). */
export interface CallTrace {
  readonly startedMs: number;
  upstreamMs: number;
  /** Waiting for a person: neither Airlock's time nor the upstream's. */
  heldMs: number;
  /** Set where a call ends without a result to read it from (an unknown or hidden tool). */
  outcome?: CallOutcome;
  /** The request's final state, for held calls. */
  approval?: string;
}

export function startTrace(): CallTrace {
  return { startedMs: performance.now(), upstreamMs: 0, heldMs: 0 };
}

/** Tool names are chosen by agents: only a tool the upstream really has gets its own label. */
export const UNKNOWN_TOOL = '(unknown)';

export type UpstreamFault = 'call' | 'disconnected' | 'connect_failed';

/** The label of sessions opened without a grant (a gateway configured with none). */
export const NO_GRANT = '(none)';

/** Seconds: from 100 µs (Airlock's own checks) to a minute (slow upstream tools). */
const CALL_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Seconds: an automated decider answers in well under a second, a person in minutes, a timeout in up to a day. */
const WAIT_BUCKETS = [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14400, 86400];

export interface MetricsSources {
  /** Calls between arrival and answer right now, held ones included. */
  inFlight(): number;
  /** Calls this instance holds for approval right now. */
  held(): number;
  /** Each upstream's name and whether it is connected. */
  upstreams(): Iterable<{ name: string; connected: boolean }>;
  /** Whether the request-path Redis client is ready. */
  redisUp(): boolean;
}

/**
 * The gateway's Prometheus metrics, in a registry of its own (two gateways
 * in one process, as in tests, do not share counters). Gauges are read from
 * their sources at scrape time rather than kept in step by hand.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #calls: Counter<'server' | 'tool' | 'decision'>;
  readonly #duration: Histogram<'server' | 'part'>;
  readonly #approvalWait: Histogram<'outcome'>;
  readonly #rateLimited: Counter<'server' | 'counter'>;
  readonly #redisErrors: Counter;
  readonly #upstreamErrors: Counter<'server' | 'kind'>;
  readonly #slackErrors: Counter<'method' | 'error'>;
  readonly #slackRefused: Counter;
  readonly #requestsRefused: Counter;
  readonly #policyReloads: Counter<'server' | 'result'>;
  readonly #sessionsRefused: Counter<'grant' | 'limit'>;
  readonly #listsTruncated: Counter<'server' | 'method' | 'cap'>;
  readonly #tasks: Counter<'status'>;
  #sources: MetricsSources | undefined;
  #sessions: (() => Iterable<[grant: string | undefined, open: number]>) | undefined;

  constructor(options: { version: string }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.#calls = new Counter({
      name: 'airlock_calls_total',
      help: 'tools/call requests by server, tool and how they ended (allowed, approved, denied, hidden, unknown, rate_limited, rejected, expired, withdrawn, unavailable, cancelled, error, input_required, task).',
      labelNames: ['server', 'tool', 'decision'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'airlock_call_duration_seconds',
      help: 'Time of a call spent in Airlock itself (part=airlock: policy, limits, audit, proxying; the wait for a person excluded) and in the upstream server (part=upstream).',
      labelNames: ['server', 'part'],
      buckets: CALL_BUCKETS,
      registers,
    });
    this.#approvalWait = new Histogram({
      name: 'airlock_approval_wait_seconds',
      help: 'How long held calls waited for a decision, by how the request ended (approved, rejected, expired, withdrawn, unavailable).',
      labelNames: ['outcome'],
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.#rateLimited = new Counter({
      name: 'airlock_rate_limited_total',
      help: 'Calls refused by a rate limit, by server and counter.',
      labelNames: ['server', 'counter'],
      registers,
    });
    this.#redisErrors = new Counter({
      name: 'airlock_redis_errors_total',
      help: 'Losses of the request-path Redis connection and failed attempts to reconnect it.',
      registers,
    });
    this.#upstreamErrors = new Counter({
      name: 'airlock_upstream_errors_total',
      help: 'Upstream faults: a call that failed or timed out (call), a connection that dropped (disconnected), a failed (re)start (connect_failed).',
      labelNames: ['server', 'kind'],
      registers,
    });
    this.#slackErrors = new Counter({
      name: 'airlock_slack_api_errors_total',
      help: "Slack Web API calls that failed after their retries, by method and Slack's error (or http_<status>, rate_limited, unreachable).",
      labelNames: ['method', 'error'],
      registers,
    });
    this.#slackRefused = new Counter({
      name: 'airlock_slack_requests_refused_total',
      help: 'Requests to /slack/events refused before any decision, by reason: unsigned, bad_signature, stale, bad_timestamp (none needs the signing secret), replayed, unparsable, replay_check_unavailable.',
      labelNames: ['reason'],
      registers,
    });
    this.#requestsRefused = new Counter({
      name: 'airlock_requests_refused_total',
      help: "Requests refused because their Host or Origin header is not one of Airlock's names (DNS rebinding protection), by reason: host, origin. Counted in full though the audit samples them.",
      labelNames: ['reason'],
      registers,
    });
    this.#policyReloads = new Counter({
      name: 'airlock_policy_reloads_total',
      help: 'Policy file reloads by server and result (ok, failed: the last good policy stays in force).',
      labelNames: ['server', 'result'],
      registers,
    });
    this.#sessionsRefused = new Counter({
      name: 'airlock_sessions_refused_total',
      help: 'MCP initialize requests refused 429 because a session limit was reached, by grant ((none) without grants) and limit: grant (listen.max_sessions_per_grant), total (listen.max_sessions).',
      labelNames: ['grant', 'limit'],
      registers,
    });
    this.#listsTruncated = new Counter({
      name: 'airlock_lists_truncated_total',
      help: 'Upstream lists (tools/list, resources/list, resources/templates/list, prompts/list) cut at a cap while the server offered more, by server, method and cap: pages (servers.<name>.max_list_pages), items (max_list_items).',
      labelNames: ['server', 'method', 'cap'],
      registers,
    });
    this.#tasks = new Counter({
      name: 'airlock_tasks_total',
      help: 'MCP tasks (the tasks extension) this instance created (status=working) or ended, by the status they ended in (completed, failed, cancelled); a task ends on the instance that ran it, or where its client cancelled it or first read its end.',
      labelNames: ['status'],
      registers,
    });
    const sessions = () => this.#sessions;
    new Gauge({
      name: 'airlock_sessions_open',
      help: 'MCP sessions open on this instance by grant ((none) without grants), as the session limits count them.',
      labelNames: ['grant'],
      registers,
      collect() {
        for (const [grant, open] of sessions()?.() ?? []) this.set({ grant: grant ?? NO_GRANT }, open);
      },
    });
    // Until the sources are set (or in a registry nobody wired up) the gauges stay empty rather than report a made-up 0.
    const sourced = () => this.#sources;
    new Gauge({
      name: 'airlock_calls_in_flight',
      help: 'Calls between arrival and answer right now, held calls included.',
      registers,
      collect() {
        const sources = sourced();
        if (sources) this.set(sources.inFlight());
      },
    });
    new Gauge({
      name: 'airlock_held_calls',
      help: 'Calls this instance holds for approval right now.',
      registers,
      collect() {
        const sources = sourced();
        if (sources) this.set(sources.held());
      },
    });
    new Gauge({
      name: 'airlock_upstream_up',
      help: 'Whether each upstream server is connected (1) or not (0).',
      labelNames: ['server'],
      registers,
      collect() {
        for (const u of sourced()?.upstreams() ?? []) this.set({ server: u.name }, u.connected ? 1 : 0);
      },
    });
    new Gauge({
      name: 'airlock_redis_up',
      help: 'Whether the request-path Redis connection is ready (1) or not (0).',
      registers,
      collect() {
        const sources = sourced();
        if (sources) this.set(sources.redisUp() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'airlock_build_info',
      help: 'Always 1; the labels say which Airlock and Node.js run.',
      labelNames: ['version', 'node'],
      registers,
    }).set({ version: options.version, node: process.version }, 1);
  }

  /** Where the gauges read from; set once the gateway's parts are open. */
  setSources(sources: MetricsSources): void {
    this.#sources = sources;
  }

  /** Where `airlock_sessions_open` reads from: the HTTP endpoint's session slots. */
  setSessionCounts(read: () => Iterable<[grant: string | undefined, open: number]>): void {
    this.#sessions = read;
  }

  sessionRefused(grant: string | undefined, limit: 'grant' | 'total'): void {
    this.#sessionsRefused.inc({ grant: grant ?? NO_GRANT, limit });
  }

  listTruncated(server: string, method: string, cap: 'pages' | 'items'): void {
    this.#listsTruncated.inc({ server, method, cap });
  }

  callEnded(server: string, tool: string, outcome: CallOutcome, trace: CallTrace): void {
    this.#calls.inc({ server, tool, decision: outcome });
    const totalMs = performance.now() - trace.startedMs;
    this.#duration.observe({ server, part: 'airlock' }, Math.max(0, totalMs - trace.upstreamMs - trace.heldMs) / 1000);
    if (trace.upstreamMs > 0) this.#duration.observe({ server, part: 'upstream' }, trace.upstreamMs / 1000);
    if (trace.approval !== undefined) this.#approvalWait.observe({ outcome: trace.approval }, trace.heldMs / 1000);
  }

  /** A task was created (`working`) or ended in `status`. */
  taskChanged(status: string): void {
    this.#tasks.inc({ status });
  }

  rateLimited(server: string, counter: string): void {
    this.#rateLimited.inc({ server, counter });
  }

  redisError(): void {
    this.#redisErrors.inc();
  }

  upstreamFault(server: string, kind: UpstreamFault): void {
    this.#upstreamErrors.inc({ server, kind });
  }

  slackApiError(method: string, error: string): void {
    this.#slackErrors.inc({ method, error });
  }

  slackRequestRefused(reason: string): void {
    this.#slackRefused.inc({ reason });
  }

  requestRefused(reason: 'host' | 'origin'): void {
    this.#requestsRefused.inc({ reason });
  }

  policyReloaded(server: string, ok: boolean): void {
    this.#policyReloads.inc({ server, result: ok ? 'ok' : 'failed' });
  }

  /** The Prometheus text exposition. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
