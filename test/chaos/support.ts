/**
 * Shared setup of the fault-injection chaos tests (Redis restarted or paused,
 * a gateway killed, the upstream crashing): a gateway with a recording
 * fixture upstream and the console channel, calls with unique arguments, and
 * a book that matches every call to its approval request and to what the
 * upstream really received, then counts them for `reportCounts`.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { canonicalJson } from '../../src/canonical-json.js';
import { api, type ApiAnswer } from '../support/approvals-api.js';
import { streamEvents } from '../support/audit-stream.js';
import { startGateways, type RunningGateway } from '../support/gateway.js';
import { track, type Tracked } from '../support/held-call.js';
import { until } from '../support/poll.js';
import { startRecordingGateway, upstreamCalls } from '../support/recording-upstream.js';
import type { TestRedis } from '../support/redis.js';
import { cli } from '../support/run-cli.js';
import { countOutcomes, emptyCounts, outcomeOf, type ChaosCounts, type Outcome } from './ledger.js';

export const AGENT = 'chaos-agent-token-0123456789';
export const ALICE = 'chaos-alice-admin-token-0123456789';
/** The one upstream of every chaos gateway: the fixture server behind the recording script. */
export const SERVER = 'fixture';

export interface ChaosGatewayOptions {
  redis: TestRedis;
  /** The policy document of `fixture`. */
  policy: object;
  /**
   * `redis.timeout`; held calls outlive a lost Redis by max(1 s, 4 × it), and an instance's lease lives 0.75 × that.
   * Default 2s: a burst of 100 calls held at once stays within it on a loaded 2-core machine (the config's 500ms does
   * not), and the 8 s grace and 6 s lease it gives keep the outages and kills these tests wait out short.
   */
  redisTimeout?: string;
}

/** `airlock start` with the recording fixture upstream, one agent grant, admin alice and the console channel. */
export function startChaosGateway(options: ChaosGatewayOptions): Promise<RunningGateway> {
  return startRecordingGateway({
    redis: options.redis,
    policy: options.policy,
    agent: AGENT,
    admins: { alice: ALICE },
    config: ['approvals: { channel: console, timeout: 10m }', `redis: { timeout: ${options.redisTimeout ?? '2s'} }`],
  });
}

/** Several instances of one config on one Redis, started together; should one fail to start, the others are stopped, not left running. */
export function startChaosGateways(count: number, options: ChaosGatewayOptions): Promise<RunningGateway[]> {
  return startGateways(count, () => startChaosGateway(options));
}

/** Stops a gateway (SIGTERM), with SIGKILL after 10 s so a gateway that does not exit cannot hang the file. Safe on a killed one. */
export async function stopGateway(gateway: RunningGateway | undefined): Promise<void> {
  if (!gateway) return;
  const kill = setTimeout(() => {
    console.log(`# chaos: the gateway at ${gateway.url} did not exit within 10 s of SIGTERM: SIGKILL`);
    gateway.process.kill('SIGKILL');
  }, 10_000);
  try {
    await gateway.stop();
  } finally {
    clearTimeout(kill);
  }
}

/** Waits until `/readyz` answers 200: Redis answers and the upstream is connected. */
export async function waitReady(gateway: RunningGateway, timeoutMs = 30_000): Promise<void> {
  await until(
    `${gateway.url}/readyz to answer 200`,
    async () =>
      (await fetch(new URL('/readyz', gateway.url)).then(
        (r) => (void r.body?.cancel(), r.status),
        () => 0,
      )) === 200,
    timeoutMs,
    50,
  );
}

// Canonical JSON, so the arguments the upstream received name the same call as the ones the test sent.
const keyOf = (tool: string, args: Record<string, unknown>) => `${tool} ${canonicalJson(args)}`;

/** One agent call: its tool and unique arguments, and how it ended. */
export interface ChaosCall {
  key: string;
  tool: string;
  args: Record<string, unknown>;
  /** The policy holds this call for approval. */
  needsApproval: boolean;
  call: Tracked<CallToolResult>;
  /** performance.now() when it was sent and when it settled. */
  sentAt: number;
  endedAt: number | undefined;
  result: PromiseSettledResult<CallToolResult> | undefined;
  /** Its approval request, once the book has found it. */
  approvalId: string | undefined;
}

/** How one decision through the API or the CLI went. */
/** Echoes wait 10 minutes for a person; exports expire after 8 s, by whichever instance's worker is alive. */
export const HELD_POLICY = {
  version: '1',
  default: 'deny',
  tools: {
    echo: { action: 'require_approval', reason: 'chaos: echoes need a person' },
    start_dicom_export_job: { action: 'require_approval', reason: 'chaos: exports expire', approval: { timeout: '8s' } },
  },
};

export interface DecisionAnswer {
  status: number;
  outcome: string | undefined;
  state: string | undefined;
  code: string | undefined;
  message?: string | undefined;
}

/** One call as judged at the end. */
export interface JudgedCall {
  key: string;
  outcome: Outcome | 'unsettled';
  receipts: number;
  approvalId: string | undefined;
  state: string | undefined;
  approvedEvent: boolean;
  given: boolean;
  /** What the request records about its call's execution (`ok`, `error`, `unavailable`, `refused`), if anything. */
  execution: { result: string; detail?: string } | undefined;
}

/**
 * Every call of one chaos test, keyed by tool and arguments, with the
 * approvals reviewers gave (API or CLI answered "decided" and approved).
 */
export class CallBook {
  readonly calls = new Map<string, ChaosCall>();
  readonly #byApproval = new Map<string, string>();
  /** Approval ids whose approve answered 200 with the request now approved. */
  readonly given = new Set<string>();

  /** Sends one call; its arguments must be unique in the book. */
  fire(client: Client, tool: string, args: Record<string, unknown>, needsApproval: boolean, options: RequestOptions = {}): ChaosCall {
    const key = keyOf(tool, args);
    assert.ok(!this.calls.has(key), `arguments must be unique: ${key}`);
    const entry = {
      key,
      tool,
      args,
      needsApproval,
      sentAt: performance.now(),
      endedAt: undefined,
      result: undefined,
      approvalId: undefined,
    } as ChaosCall;
    // A held call must not end at the SDK's 60 s: the test's own deadlines fail first.
    const promise = client.callTool({ name: tool, arguments: args }, undefined, {
      timeout: 120_000,
      ...options,
    }) as Promise<CallToolResult>;
    entry.call = track(
      promise.then(
        (value) => {
          entry.endedAt = performance.now();
          entry.result = { status: 'fulfilled', value };
          return value;
        },
        (reason: unknown) => {
          entry.endedAt = performance.now();
          entry.result = { status: 'rejected', reason };
          throw reason;
        },
      ),
    );
    this.calls.set(key, entry);
    return entry;
  }

  outcome(entry: ChaosCall): Outcome | 'unsettled' {
    return entry.result ? outcomeOf(entry.result) : 'unsettled';
  }

  /** Waits until every one of `calls` has a pending request on `gateway`, and notes which request is whose. */
  async awaitHeld(gateway: RunningGateway, calls: ChaosCall[], timeoutMs = 30_000): Promise<void> {
    await until(
      `${calls.length} calls to be held`,
      async () => {
        await this.#learn(gateway, 'pending');
        const ended = calls.find((c) => c.call.settled);
        if (ended) assert.fail(`${ended.key} ended before it was seen held: ${JSON.stringify(ended.result)}`);
        return calls.every((c) => c.approvalId !== undefined);
      },
      timeoutMs,
      100,
    );
  }

  /** Reads the request of every listed id the book does not know yet (the list leaves out the arguments). */
  async #learn(gateway: RunningGateway, state: 'pending' | 'all'): Promise<void> {
    const listed = await api(gateway.url, `/api/approvals?state=${state}&server=${SERVER}&limit=1000`, ALICE);
    if (listed.status !== 200) return;
    const fresh = (listed.body.approvals ?? []).map((a) => String(a.id)).filter((id) => !this.#byApproval.has(id));
    for (const id of fresh) {
      const shown = await api(gateway.url, `/api/approvals/${id}`, ALICE);
      if (shown.status !== 200 || !shown.body.approval) continue;
      const key = keyOf(String(shown.body.approval.tool), shown.body.approval.arguments as Record<string, unknown>);
      this.#byApproval.set(id, key);
      const entry = this.calls.get(key);
      if (entry) {
        assert.equal(entry.approvalId ?? id, id, `two requests for one call: ${key}`);
        entry.approvalId = id;
      }
    }
  }

  /** Approves or rejects through `gateway`'s API; an answer of 503 is retried while `retryUnavailable` (Redis coming back). */
  async decide(gateway: RunningGateway, entry: ChaosCall, verdict: 'approve' | 'reject', retryUnavailable = true): Promise<DecisionAnswer> {
    const id = entry.approvalId;
    assert.ok(id, `no request known for ${entry.key}`);
    let answer: ApiAnswer | undefined;
    const post = () => api(gateway.url, `/api/approvals/${id}/${verdict}`, ALICE, { method: 'POST', body: { reason: `chaos ${verdict}` } });
    if (retryUnavailable) {
      await until(`the API to take a decision on ${id}`, async () => (answer = await post()).status !== 503, 30_000, 50);
    } else {
      answer = await post();
    }
    return this.#noted(id, verdict, {
      status: answer!.status,
      outcome: answer!.body.outcome as string | undefined,
      state: answer!.body.approval?.state as string | undefined,
      code: answer!.body.error?.code,
      message: answer!.body.error?.message,
    });
  }

  /** Approves or rejects with `airlock approvals approve|reject --json` (the console channel from a shell, straight on Redis). */
  async decideByCli(gateway: RunningGateway, entry: ChaosCall, verdict: 'approve' | 'reject'): Promise<DecisionAnswer> {
    const id = entry.approvalId;
    assert.ok(id, `no request known for ${entry.key}`);
    const run = await cli(['approvals', verdict, id, '--json', '-c', join(gateway.dir, 'airlock.yaml')], gateway.dir, {
      REDIS_URL: gateway.redis.url,
      AIRLOCK_ADMIN_TOKEN: ALICE,
    });
    const parsed = run.stdout === '' ? {} : (JSON.parse(run.stdout) as { outcome?: string; approval?: { state?: string } });
    return this.#noted(id, verdict, {
      status: run.code === 0 ? 200 : run.code,
      outcome: parsed.outcome,
      state: parsed.approval?.state,
      code: run.code === 0 ? undefined : run.stderr,
    });
  }

  #noted(id: string, verdict: 'approve' | 'reject', answer: DecisionAnswer): DecisionAnswer {
    if (verdict === 'approve' && answer.status === 200 && answer.outcome === 'decided' && answer.state === 'approved') this.given.add(id);
    return answer;
  }

  /** Waits until every call has ended; fails naming the ones still hanging after `ms`. */
  async settleAll(ms: number): Promise<void> {
    const all = [...this.calls.values()];
    try {
      await until('every call to end', () => all.every((c) => c.call.settled), ms, 50);
    } catch {
      const hanging = all.filter((c) => !c.call.settled);
      assert.fail(
        `${hanging.length} calls still hanging ${ms} ms after the last step: ${hanging
          .slice(0, 5)
          .map((c) => `${c.key} (${c.approvalId ?? 'no request'})`)
          .join(', ')}`,
      );
    }
  }

  /** How many times the upstream of each gateway received each call of the book, summed over `gateways`. */
  receipts(gateways: RunningGateway[]): Map<string, number> {
    const counts = new Map<string, number>();
    const tools = new Set([...this.calls.values()].map((c) => c.tool));
    for (const gateway of gateways) {
      for (const tool of tools) {
        for (const args of upstreamCalls(gateway, SERVER, tool)) {
          const key = keyOf(tool, args);
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
      }
    }
    return counts;
  }

  /**
   * Judges every call once all have ended: what the agent got, what the
   * upstream received (`upstreams`: the gateways whose recording files to
   * read), the request's final state (read through `reader`'s API) and the
   * audit trail's `approved` events. Fails at once on a call whose ending
   * contradicts its request (rejected but the request is not, released but
   * the upstream never saw it, a request still pending); returns the counts,
   * with calls released without approval and approvals lost counted, not asserted.
   */
  async tally(reader: RunningGateway, upstreams: RunningGateway[]): Promise<{ counts: ChaosCounts; judged: JudgedCall[] }> {
    const all = [...this.calls.values()];
    // Calls refused before they were seen held may still have a request (opened just before Redis went away).
    await this.#learn(reader, 'all');
    const receipts = this.receipts(upstreams);
    const events = await streamEvents(reader.redis.url);
    const approvedEvents = new Set(events.filter((e) => e.event === 'approved' && e.approval_id !== undefined).map((e) => e.approval_id));
    const finals = new Map<string, { state: string; execution: JudgedCall['execution'] }>();
    for (const entry of all) {
      if (entry.approvalId === undefined) continue;
      let shown: ApiAnswer | undefined;
      await until(
        `the API to show ${entry.approvalId}`,
        async () => (shown = await api(reader.url, `/api/approvals/${entry.approvalId}`, ALICE)).status !== 503,
        30_000,
        50,
      );
      assert.equal(shown!.status, 200, `the request of ${entry.key} must still be readable: ${JSON.stringify(shown!.body)}`);
      finals.set(entry.approvalId, {
        state: String(shown!.body.approval?.state),
        execution: (shown!.body.approval?.execution ?? undefined) as JudgedCall['execution'],
      });
    }

    const counts = emptyCounts();
    const judged: JudgedCall[] = [];
    for (const entry of all) {
      const outcome = this.outcome(entry);
      const got = receipts.get(entry.key) ?? 0;
      const final = entry.approvalId === undefined ? undefined : finals.get(entry.approvalId);
      const row: JudgedCall = {
        key: entry.key,
        outcome,
        receipts: got,
        approvalId: entry.approvalId,
        state: final?.state,
        execution: final?.execution,
        approvedEvent: entry.approvalId !== undefined && approvedEvents.has(entry.approvalId),
        given: entry.approvalId !== undefined && this.given.has(entry.approvalId),
      };
      judged.push(row);
      const seen = JSON.stringify(row);
      assert.notEqual(outcome, 'unsettled', `a call never ended: ${seen}`);
      assert.notEqual(row.state, 'pending', `a request is still pending after its call ended: ${seen}`);
      if (outcome === 'released') assert.ok(got >= 1, `the agent got an upstream result the upstream never produced: ${seen}`);
      if (outcome === 'rejected' || outcome === 'expired' || outcome === 'withdrawn') {
        assert.equal(row.state, outcome, `the agent was told ${outcome} but the request says otherwise: ${seen}`);
        assert.equal(got, 0, `a ${outcome} call reached the upstream: ${seen}`);
      }

      if (entry.approvalId !== undefined) counts.held++;
      if (got > 0) counts.released++;
      if (entry.needsApproval) {
        const onRecord = row.state === 'approved' && row.approvedEvent;
        if (got > 0 && !onRecord) counts.wrongly_released += got;
        // An approval is for one call.
        else if (got > 1) counts.wrongly_released += got - 1;
      }
      // Given, yet it neither ran nor ended with a reason: none told to the agent, none on the request.
      if (row.given && got === 0 && (outcome === 'failed' || outcome === 'released') && row.execution === undefined)
        counts.approvals_lost++;
    }
    countOutcomes(
      counts,
      judged.map((j) => j.outcome as Outcome),
    );
    return { counts, judged };
  }
}

/** How many calls ended each way, for the printed line. */
export function outcomeTally(judged: JudgedCall[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const j of judged) out[`agent_${j.outcome}`] = (out[`agent_${j.outcome}`] ?? 0) + 1;
  return out;
}
