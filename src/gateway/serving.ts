import { randomUUID } from 'node:crypto';
import type { Tool } from '@modelcontextprotocol/server';
import type { Router } from 'express';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Approvals } from '../approvals/index.js';
import { argumentsDigest } from '../arguments-digest.js';
import type { AuditTrail } from '../audit/index.js';
import type { ChannelRegistry } from '../channels/index.js';
import { durationMs, type LoadedConfig } from '../config/index.js';
import { AirlockError, ErrorCode, errorMessage } from '../errors.js';
import { ToolPins } from '../inventory/index.js';
import { RateLimiter } from '../limits/index.js';
import { GatewayMetrics } from '../metrics/index.js';
import { PolicyWatcher, type ReloadOutcome } from '../policy/index.js';
import {
  CallGate,
  eraStoreFor,
  taskRunner,
  ParkedCalls,
  ParkedRelay,
  RELAY_ALL,
  SampledRefusals,
  SessionRegistry,
  stateClaims,
  stateSeal,
  Upstream,
  type PendingMode,
  type SessionDeps,
} from '../proxy/index.js';
import { Redactor } from '../redact.js';
import { Tasks } from '../tasks/index.js';
import { keepDigestKey, keepRequestStateKey, loadRequestStateKey } from '../redis/index.js';
import { VERSION } from '../version.js';
import { openApprovals } from './open-approvals.js';
import { deploymentKey, openAuditTrail, startAuditMirror } from './open-audit.js';

/**
 * What serving calls takes, for `airlock start` (every server) and
 * `airlock stdio` (one): a watched policy and an upstream per server, tool
 * pins, rate limits, approvals and the audit trail, wired so that policy
 * reloads and tool changes are audited too.
 */
export interface Serving {
  deps: SessionDeps;
  upstreams: Map<string, Upstream>;
  watchers: Map<string, PolicyWatcher>;
  sessions: SessionRegistry;
  pins: ToolPins;
  approvals: Approvals;
  /** The approval channels' HTTP routes (Slack's `/slack/events`), for the gateway's port. */
  routers: Router[];
  audit: AuditTrail;
  metrics: GatewayMetrics;
  /**
   * The first half of a graceful stop: refuses new calls, withdraws the
   * calls held for approval (their agents are told to call again), and waits
   * up to `timeoutMs` (or until `hurry` aborts) for the calls in flight to
   * finish. True when they all did.
   */
  drain(timeoutMs: number, hurry?: AbortSignal): Promise<boolean>;
  /** Starts every upstream (a failed start is retried by the upstream itself). */
  start(): Promise<void>;
  /** Stops watching, ends held calls, closes upstreams, writes the queued audit events. */
  close(): Promise<void>;
}

/** `channels`: the kinds of approval channel the config may list (see builtInChannels). */
export async function openServing(
  config: LoadedConfig,
  redis: Redis,
  logger: Logger,
  names: readonly string[],
  role: string,
  channels: ChannelRegistry,
): Promise<Serving> {
  // What is opened so far, closed in reverse should a later step fail (a broken policy, Slack refusing the token).
  const opened: (() => Promise<void> | void)[] = [];
  const closeAll = async () => {
    for (const close of opened.reverse()) await close();
  };
  const metrics = new GatewayMetrics({ version: VERSION });
  // Every close of the request-path connection while serving is a loss or a failed reconnection attempt (ours comes after serving closes).
  const onRedisClose = () => metrics.redisError();
  redis.on('close', onRedisClose);
  opened.push(() => void redis.off('close', onRedisClose));
  try {
    // The mirror stops last, so it copies this process's final events.
    const mirror = await startAuditMirror(config, redis, logger);
    if (mirror) opened.push(() => mirror.stop());
    const key = await deploymentKey(config, redis);
    opened.push(keepDigestKey(redis, config.redis.prefix, key, logger));
    const digest = argumentsDigest(key);
    const stateKey = await loadRequestStateKey(redis, config.redis.prefix, Math.max(2_000, durationMs(config.redis.timeout)));
    opened.push(keepRequestStateKey(redis, config.redis.prefix, stateKey, logger));
    const audit = openAuditTrail(config, redis, logger, role, digest);
    opened.push(() => audit.close());
    const refusals = new SampledRefusals(audit, { windowMs: config.audit.sample_refusals ? SAMPLE_WINDOW_MS : 0 });
    // Closed before the trail, so the counts of the last minute's refusals are written.
    opened.push(() => refusals.flush());
    const sessions = new SessionRegistry();
    const pins = new ToolPins(redis, { prefix: config.redis.prefix, timeoutMs: durationMs(config.redis.timeout), logger });
    const watchers = new Map<string, PolicyWatcher>();
    opened.push(() => watchers.forEach((watcher) => watcher.close()));
    for (const name of names) {
      const file = config.servers[name]!.policy;
      const onReload = (outcome: ReloadOutcome) => {
        metrics.policyReloaded(name, outcome.ok);
        audit.record(
          outcome.ok
            ? { event: 'policy_reloaded', server: name, detail: `${file} (sha256 ${outcome.digest})` }
            : { event: 'policy_reload_failed', server: name, detail: `${file}: ${outcome.error.message}` },
        );
      };
      watchers.set(name, PolicyWatcher.open({ file, logger: logger.child({ server: name }), onReload }));
    }
    const reported = new Map<string, Set<string>>();
    const onTools = async (name: string, tools: readonly Tool[]) => {
      const { changed } = await pins.sync(name, tools);
      // Each change is audited once, when it is first seen, not on every list that still shows it.
      const seen = reported.get(name) ?? new Set<string>();
      reported.set(name, new Set(changed));
      for (const tool of tools.filter((t) => changed.includes(t.name) && !seen.has(t.name))) {
        const change = await pins.change(name, tool);
        if (change) audit.record({ event: 'tool_changed', server: name, tool: tool.name, detail: change.summary });
      }
    };
    const eras = eraStoreFor(config, redis);
    const upstreams = new Map(
      names.map((name) => [
        name,
        new Upstream({
          name,
          server: config.servers[name]!,
          logger,
          onNotification: (n) => sessions.broadcast(name, n),
          onTools: (tools) => onTools(name, tools),
          onFault: (kind) => metrics.upstreamFault(name, kind),
          onListCut: (method, cap) => metrics.listTruncated(name, method, cap),
          audit,
          eras,
        }),
      ]),
    );
    opened.push(() => Promise.all([...upstreams.values()].map((u) => u.close())).then(() => undefined));
    const redisTimeoutMs = durationMs(config.redis.timeout);
    // Every process that holds calls queues the run of a task whose request it ends; only a gateway, which has every server, runs them.
    const tasks = await Tasks.open({
      redis,
      prefix: config.redis.prefix,
      timeoutMs: redisTimeoutMs,
      logger,
      counted: (status) => metrics.taskChanged(status),
      config: {
        enabled: config.tasks.enabled && role === 'gateway',
        retentionMs: config.tasks.retention_ms,
        pollMs: config.tasks.poll_interval_ms,
        maxResultBytes: config.tasks.max_result_bytes,
      },
    });
    opened.push(() => tasks.close());
    const {
      deps: approval,
      approvals,
      routers,
      close: closeApprovals,
    } = await openApprovals(
      config,
      { redis, logger, audit, metrics },
      {
        http: role === 'gateway',
        digest,
        channels,
        onTaskDecided: async (request) => {
          if (request.task_id !== null) await tasks.queue(request.task_id, { approval: request.id });
        },
      },
    );
    opened.push(closeApprovals);
    const lookup = <T>(map: Map<string, T>, server: string): T => {
      const found = map.get(server);
      if (found === undefined) throw new AirlockError(ErrorCode.UnknownServer, `unknown server "${server}"`);
      return found;
    };
    const limiter = new RateLimiter(redis, { prefix: config.redis.prefix, timeoutMs: durationMs(config.redis.timeout) });
    // Before Redis closes (opened earlier, closed later): the slots it leased ahead go back.
    opened.push(() => limiter.close());
    const stateTtlMs = durationMs(config.listen.request_state_ttl);
    // A 2026 client's call parked here waits as long as the state it was handed lives.
    const parked = await ParkedRelay.start({ redis, prefix: config.redis.prefix, calls: new ParkedCalls({ ttlMs: stateTtlMs }), logger });
    opened.push(() => parked.close());
    const deps: SessionDeps = {
      policyFor: (server) => lookup(watchers, server).current,
      upstream: (server) => lookup(upstreams, server),
      limiter,
      pins,
      approval,
      pending: pendingMode(config, approvals),
      audit,
      refusals,
      redactor: new Redactor(config.redact.keys),
      metrics,
      gate: new CallGate(),
      inputs: {
        seal: stateSeal(stateKey, { ttlMs: stateTtlMs, now: Date.now }),
        digest,
        relay: (server) => config.servers[server]?.relay ?? RELAY_ALL,
        claim: stateClaims(redis, config.redis.prefix, durationMs(config.redis.timeout)),
        parked,
      },
      tasks,
      logger,
    };
    if (role === 'gateway') tasks.serve(taskRunner({ ...deps, tasks }, approvals.instance ?? randomUUID()));
    metrics.setSources({
      inFlight: () => deps.gate.inFlight,
      held: () => approvals.holding,
      upstreams: () => [...upstreams.values()].map((u) => ({ name: u.name, connected: u.status === 'connected' })),
      redisUp: () => redis.status === 'ready',
    });
    return {
      deps,
      upstreams,
      watchers,
      sessions,
      pins,
      approvals,
      routers,
      audit,
      metrics,
      drain: async (timeoutMs, hurry) => {
        // Tasks outlive this instance: it takes no more runs, and lets those it has finish as calls do.
        await tasks.pause().catch(() => undefined);
        return drainCalls(deps, approvals, logger, timeoutMs, hurry);
      },
      start: async () => void (await Promise.all([...upstreams.values()].map((u) => u.start()))),
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** Of each kind of refusal, one a minute is audited in full (audit.sample_refusals). */
const SAMPLE_WINDOW_MS = 60_000;

const SHUTDOWN_REASON = 'Airlock is shutting down; call again and a new request will be opened';

async function drainCalls(
  deps: SessionDeps,
  approvals: Approvals,
  logger: Logger,
  timeoutMs: number,
  hurry?: AbortSignal,
): Promise<boolean> {
  const drained = await waitForCalls(deps, approvals, logger, timeoutMs, hurry);
  // A call leaves the gate when its result is ready; the SDK writes that result to the agent a few microtasks later, before sessions may close.
  await new Promise((resolve) => setImmediate(resolve));
  return drained;
}

async function waitForCalls(
  deps: SessionDeps,
  approvals: Approvals,
  logger: Logger,
  timeoutMs: number,
  hurry?: AbortSignal,
): Promise<boolean> {
  const { gate } = deps;
  gate.close();
  logger.info(
    { in_flight: gate.inFlight, held: approvals.holding },
    'stopping: no new sessions or calls; withdrawing held calls, letting calls in flight finish',
  );
  const deadline = Date.now() + timeoutMs;
  // A call already past the gate may be held after a sweep: the next sweep withdraws it.
  for (;;) {
    await approvals
      .withdrawHeld(SHUTDOWN_REASON)
      .catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'could not withdraw held calls'));
    if (gate.inFlight === 0) return true;
    const left = deadline - Date.now();
    if (left <= 0 || hurry?.aborted) {
      logger.warn({ in_flight: gate.inFlight }, 'calls still in flight at the shutdown timeout are cut off');
      return false;
    }
    await gate.drained(Math.min(left, 100));
  }
}

/** Approval pending mode as the config sets it: per grant, else for all (without grants, every loopback agent is one grant, `undefined`). */
function pendingMode(config: LoadedConfig, approvals: Approvals): PendingMode {
  const byGrant = new Map((config.grants ?? []).map((g) => [g.name, g.approval_pending ?? config.approvals.pending.enabled]));
  return {
    windowMs: config.approvals.pending_window_ms,
    bindSession: config.approvals.pending.bind === 'session',
    enabledFor: (grant) => (grant === undefined ? config.approvals.pending.enabled : (byGrant.get(grant) ?? false)),
    approvals,
  };
}
