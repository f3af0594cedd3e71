import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import type { CallToolResult, CallToolResult as UpstreamResult, Tool } from '@modelcontextprotocol/server';
import { pino } from 'pino';
import type { ApprovalRequest, ApprovalStatus, Execution, NewApproval } from '../../src/approvals/index.js';
import type { AuditInput } from '../../src/audit/index.js';
import { capText } from '../../src/cap-text.js';
import { AirlockError, ErrorCode } from '../../src/errors.js';
import type { Charge } from '../../src/limits/index.js';
import type { CallOutcome } from '../../src/metrics/index.js';
import { ProtocolError } from '../../src/proxy/errors.js';
import { callTool, RELAY_ALL, stateSeal, UpstreamUnavailableError, type PipelineDeps, type AgentCall } from '../../src/proxy/index.js';
import { Redactor } from '../../src/redact.js';
import { policyFrom } from '../support/policy.js';

/**
 * Every way a call ends, driven in process through `callTool` with plain
 * objects for what the gateway would pass in: no Redis, no network. Each
 * case checks what the agent reads, the audit event, the log line and the
 * metric label, which call-ends.ts maps from the outcome.
 */

const POLICY = policyFrom({
  version: '1',
  default: 'deny',
  hide: ['secret_tool'],
  tools: {
    read_file: {},
    delete_file: { action: 'deny', reason: 'Agents may not delete files' },
    limited: { limits: [{ counter: 'limited_rate', window: 'minute', max: 1, scope: 'grant' }] },
    deploy: { action: 'require_approval', reason: 'Deploys to production', approval: { timeout: '2m', approvers: ['U0ALICE'] } },
  },
});

const TOOLS = ['read_file', 'delete_file', 'limited', 'deploy', 'secret_tool'].map((name): Tool => ({
  name,
  inputSchema: { type: 'object' },
}));
const APPROVAL_ID = 'apr_AAAAAAAAAAAAAAAAAAAAAA';
const OK: UpstreamResult = { content: [{ type: 'text', text: 'done' }] };

type Held = { request: ApprovalRequest; outcome: Promise<ApprovalStatus> };

interface Fakes {
  upstreamStatus?: string;
  callTool?: (signal: AbortSignal) => Promise<UpstreamResult>;
  charge?: () => Promise<Charge>;
  hold?: (input: NewApproval) => Promise<Held>;
  status?: Partial<ApprovalStatus>;
  post?: () => Promise<string | undefined>;
  commit?: (input: AuditInput) => Promise<void>;
  consume?: () => Promise<ApprovalStatus>;
  gateClosed?: boolean;
  /** Whether the sampled refusals audit a refusal in full (the first of its kind this minute). */
  firstOfKind?: boolean;
  maxArgumentsBytes?: number;
}

function harness(fakes: Fakes = {}) {
  const audited: AuditInput[] = [];
  const sampled: AuditInput[] = [];
  const logs: { level: number; msg: string; [field: string]: unknown }[] = [];
  const ended: { tool: string; outcome: CallOutcome }[] = [];
  const rateLimited: string[] = [];
  const faults: string[] = [];
  const executions: Execution[] = [];
  const withdrawn: string[] = [];
  const updates: ApprovalStatus[] = [];
  const posted: ApprovalRequest[] = [];
  let inFlight = 0;
  const status = (): ApprovalStatus => ({
    state: 'approved',
    holder: 'instance-1',
    digest: 'digest',
    min_approvals: 1,
    votes: [{ by: 'U0ALICE', name: 'Alice', at: 1_000, via: 'slack', verdict: 'approve' }],
    created_at: 0,
    expires_at: 120_000,
    decided_by: 'Alice (U0ALICE)',
    decided_at: 1_000,
    ...fakes.status,
  });
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs.push(JSON.parse(chunk.toString()) as (typeof logs)[number]);
        done();
      },
    }),
  );
  const deps: PipelineDeps = {
    policyFor: () => POLICY,
    upstream: () => ({
      status: (fakes.upstreamStatus ?? 'connected') as 'connected',
      tool: (name: string) => TOOLS.find((t) => t.name === name),
      callTool: (_params, options) => (fakes.callTool ?? (() => Promise.resolve(OK)))(options.signal!),
      stateless: false,
      capabilities: undefined,
      calls: { timeoutMs: 60_000, slow: false },
      rawRequest: () => Promise.reject(new Error('no raw requests in these tests')),
      release: () => undefined,
    }),
    limiter: { charge: fakes.charge ?? (() => Promise.resolve({ admitted: true })) },
    pins: { flagged: () => false, change: () => Promise.resolve(undefined) },
    approval: {
      approvals: {
        hold: (input: NewApproval) =>
          (fakes.hold ?? ((i: NewApproval) => Promise.resolve({ request: requestFor(i), outcome: Promise.resolve(status()) })))(input),
        open: () => Promise.reject(new Error('no tasks in these tests')),
        get: () => Promise.reject(new Error('no tasks in these tests')),
        setChannelRef: () => Promise.resolve(),
        withdraw: (_id: string, reason: string) => (withdrawn.push(reason), Promise.resolve()),
        recordExecution: (_id: string, execution: Execution) => (executions.push(execution), Promise.resolve()),
        consume: fakes.consume ?? (() => Promise.resolve(status())),
      },
      channel: {
        name: 'slack',
        post: (request) => (posted.push(request), (fakes.post ?? (() => Promise.resolve(undefined)))()),
        update: (_request, s) => (updates.push(s), Promise.resolve()),
      },
      defaultTimeoutMs: 60_000,
      heartbeatMs: 60_000,
      maxArgumentsBytes: fakes.maxArgumentsBytes ?? 64 * 1024,
    },
    audit: {
      record: (input) => void audited.push(input),
      commit: (input) => (fakes.commit ?? (() => Promise.resolve()))(input).then(() => void audited.push(input)),
    },
    refusals: {
      record: (input) => {
        sampled.push(input);
        const full = fakes.firstOfKind ?? true;
        if (full) audited.push(input);
        return full;
      },
    },
    redactor: new Redactor(['token']),
    metrics: {
      callEnded: (_server, tool, outcome) => void ended.push({ tool, outcome }),
      rateLimited: (_server, counter) => void rateLimited.push(counter),
      upstreamFault: (_server, kind) => void faults.push(kind),
    },
    gate: {
      get closed() {
        return fakes.gateClosed ?? false;
      },
      enter: () => void inFlight++,
      leave: () => void inFlight--,
    },
    inputs: {
      seal: stateSeal(Buffer.alloc(32, 7), { ttlMs: 60_000, now: Date.now }),
      digest: (args) => JSON.stringify(args),
      relay: () => RELAY_ALL,
      claim: async () => true,
      // The pipeline's own steps, without a 2026 client's calls to a 2025 server that asks (parked-calls.test.ts, the e2e tests).
      parked: {
        instance: 'unused',
        open: () => {
          throw new Error('no call is parked in these tests');
        },
        next: () => Promise.reject(new Error('no call is parked in these tests')),
        abandon: () => {
          throw new Error('no call is parked in these tests');
        },
      },
    },
    logger,
  };
  const call = (tool: string, args?: Record<string, unknown>, signal = new AbortController().signal): Promise<CallToolResult> =>
    callTool(deps, {
      server: 'files',
      tool,
      calledAs: tool,
      args,
      meta: undefined,
      grant: 'ci',
      session: 'session-1',
      client: 'test-client',
      protocol: '2025-11-25',
      signal,
    } satisfies AgentCall) as Promise<CallToolResult>;
  return {
    call,
    audited,
    sampled,
    logs,
    ended,
    rateLimited,
    faults,
    executions,
    withdrawn,
    updates,
    posted,
    inFlight: () => inFlight,
    /** The one event of `event`, failing when there are none or several. */
    event(event: string): AuditInput {
      const found = audited.filter((e) => e.event === event);
      assert.equal(found.length, 1, `one ${event} event expected, got ${JSON.stringify(audited)}`);
      return found[0]!;
    },
    line(msg: string) {
      const found = logs.find((l) => l.msg === msg);
      assert.ok(found, `no log line "${msg}" in ${JSON.stringify(logs.map((l) => l.msg))}`);
      return found;
    },
    outcome(): CallOutcome {
      assert.equal(ended.length, 1);
      return ended[0]!.outcome;
    },
  };
}

function requestFor(input: NewApproval): ApprovalRequest {
  return {
    id: APPROVAL_ID,
    task_id: null,
    request_id: input.request_id ?? null,
    grant: input.grant ?? null,
    session: input.session ?? null,
    client: input.client ?? null,
    server: input.server,
    tool: input.tool,
    risk: input.risk ?? null,
    arguments: input.args,
    digest: 'digest',
    rule: input.rule,
    reason: input.reason,
    approvers: [...input.approvers],
    approvers_from: input.approvers_from ?? null,
    min_approvals: input.min_approvals,
    channel: input.channel ?? null,
    timeout_ms: input.timeout_ms,
    created_at: 0,
    expires_at: input.timeout_ms,
  };
}

function text(result: CallToolResult): string {
  const [first] = result.content;
  assert.equal(first?.type, 'text');
  return (first as { text: string }).text;
}

function decisionOf(result: CallToolResult): Record<string, unknown> {
  return result._meta?.['airlock/decision'] as Record<string, unknown>;
}

async function unknownToolError(promise: Promise<unknown>): Promise<ProtocolError> {
  const err = await promise.then(
    () => assert.fail('the call should have been answered with an error'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ProtocolError, String(err));
  return err;
}

describe('refused before the policy reads the call', () => {
  test('name_too_long: a 300-character name is answered as an unknown tool (cut), audited as denied without arguments', async () => {
    const h = harness();
    const err = await unknownToolError(h.call('x'.repeat(300), { a: 1 }));
    assert.equal(err.message, `Unknown tool: ${capText('x'.repeat(300), 256)}`);
    const event = h.event('denied');
    assert.equal(event.rule, 'tool_name_length');
    assert.equal(event.decision, 'unknown');
    assert.equal(event.args, undefined);
    assert.equal(h.line('call refused: tool name too long').rule, 'tool_name_length');
    assert.equal(h.outcome(), 'unknown');
    assert.equal(h.ended[0]!.tool, '(unknown)');
  });

  test('nested_too_deep: arguments nested past the limit are denied unread', async () => {
    const h = harness();
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 100; i++) deep = { d: deep };
    const result = await h.call('read_file', deep);
    assert.match(text(result), /^\[POLICY DENIED\] The arguments nest more than \d+ levels deep; .*The call was not sent\.$/);
    assert.equal(decisionOf(result).rule, 'arguments_depth');
    assert.equal(h.event('denied').decision, 'deny');
    assert.equal(h.event('denied').args, undefined);
    h.line('arguments nested too deep');
    assert.equal(h.outcome(), 'denied');
  });

  test('unknown_tool: a tool the connected server lacks is answered as the server would, audited with its arguments', async () => {
    const h = harness();
    const err = await unknownToolError(h.call('no_such_tool', { path: '/x' }));
    assert.equal(err.message, 'Unknown tool: no_such_tool');
    assert.deepEqual(h.event('denied').args, { path: '/x' });
    assert.equal(h.event('denied').rule, 'unknown_tool');
    h.line('call to a tool the server does not have');
    assert.equal(h.outcome(), 'unknown');
  });

  test('shutting_down: a closed gate refuses new calls as unavailable', async () => {
    const h = harness({ gateClosed: true });
    const result = await h.call('read_file', {});
    assert.match(
      text(result),
      /^\[UNAVAILABLE\] Airlock is shutting down and takes no new calls\. The call was not sent; retry in a moment/,
    );
    assert.equal(h.event('unavailable').detail, 'Airlock is shutting down and takes no new calls');
    h.line('call refused: shutting down');
    assert.equal(h.outcome(), 'unavailable');
    assert.equal(h.inFlight(), 0);
  });
});

describe("the policy's answer", () => {
  test('hidden: a hidden tool is answered exactly as an unknown one', async () => {
    const h = harness();
    const err = await unknownToolError(h.call('secret_tool', {}));
    assert.equal(err.message, 'Unknown tool: secret_tool');
    assert.equal(h.event('hidden').decision, 'hide');
    h.line('call to a hidden tool answered as unknown');
    assert.equal(h.outcome(), 'hidden');
  });

  test('denied: the rule and its reason reach the agent, nothing reaches the server', async () => {
    let sent = 0;
    const h = harness({ callTool: () => (sent++, Promise.resolve(OK)) });
    const result = await h.call('delete_file', { path: '/etc' });
    assert.equal(text(result), '[POLICY DENIED] Agents may not delete files');
    assert.equal(decisionOf(result).decision, 'deny');
    assert.equal(decisionOf(result).rule, 'tools.delete_file');
    assert.deepEqual(h.event('denied').args, { path: '/etc' });
    assert.equal(h.line('call denied by policy').decision, 'denied');
    assert.equal(h.outcome(), 'denied');
    assert.equal(sent, 0);
  });

  test('a refusal past the first of its kind this minute is counted, and logged only at debug', async () => {
    const h = harness({ firstOfKind: false });
    await h.call('delete_file', {});
    assert.equal(h.sampled.length, 1);
    assert.equal(h.audited.length, 0);
    const line = h.line('call denied by policy');
    assert.equal(line.sampled, true);
    assert.equal(line.level, 20);
    assert.equal(h.outcome(), 'denied');
  });

  test('limits_unavailable: rate limits that cannot be read refuse the call', async () => {
    const h = harness({ charge: () => Promise.reject(new Error('Redis timed out')) });
    const result = await h.call('limited', {});
    assert.equal(
      text(result),
      "[UNAVAILABLE] Airlock cannot reach Redis to check this call's rate limits (Redis timed out). The call was not sent; retry later.",
    );
    assert.equal(h.event('unavailable').detail, 'rate limits could not be checked: Redis timed out');
    assert.equal(h.line('rate limits cannot be checked: Redis is unavailable').level, 40);
    assert.equal(h.outcome(), 'unavailable');
  });

  test('rate_limited: the counter, its window and when to retry', async () => {
    const limit = {
      rule: 'tools.limited.limits[0]',
      counter: 'limited_rate',
      scope: 'grant',
      max: 1,
      window: 'minute',
      window_ms: 60_000,
    } as const;
    const h = harness({ charge: () => Promise.resolve({ admitted: false, limit, retry_after_ms: 4_200, count: 1 }) });
    const result = await h.call('limited', {});
    assert.equal(text(result), '[RATE LIMITED] limited_rate (scope grant) allows 1 calls per minute; retry in 5 s.');
    assert.equal(decisionOf(result).counter, 'limited_rate');
    assert.equal(decisionOf(result).retry_after_ms, 4_200);
    assert.equal(h.event('rate_limited').rule, limit.rule);
    assert.deepEqual(h.rateLimited, ['limited_rate']);
    assert.equal(h.line('call refused by a rate limit').counter, 'limited_rate');
    assert.equal(h.outcome(), 'rate_limited');
  });
});

describe('held for a person', () => {
  test('too_large_to_hold: arguments over approvals.max_arguments are denied before any request is opened', async () => {
    let opened = 0;
    const h = harness({ maxArgumentsBytes: 1024, hold: () => (opened++, Promise.reject(new Error('unreachable'))) });
    const result = await h.call('deploy', { blob: 'x'.repeat(5_000) });
    assert.match(
      text(result),
      /^\[POLICY DENIED\] Deploys to production\. This call needs approval, but its arguments are 5 KiB, more than the 1 KiB a held call may carry \(approvals\.max_arguments\)\.$/,
    );
    assert.equal(decisionOf(result).rule, 'approvals.max_arguments');
    assert.equal(h.event('denied').rule, 'approvals.max_arguments');
    h.line('arguments too large to hold for approval');
    assert.equal(h.outcome(), 'denied');
    assert.equal(opened, 0);
  });

  test('hold_unavailable: a request that cannot be opened refuses the call', async () => {
    const h = harness({ hold: () => Promise.reject(new Error('Redis is down')) });
    const result = await h.call('deploy', {});
    assert.equal(
      text(result),
      '[UNAVAILABLE] This call needs approval and Airlock cannot open the request (Redis is down). The call was not sent; retry later.',
    );
    assert.equal(h.event('unavailable').detail, 'the approval request could not be opened: Redis is down');
    h.line('approval request could not be opened');
    assert.equal(h.outcome(), 'unavailable');
  });

  test('post_failed: a request reviewers cannot see is withdrawn and the call refused', async () => {
    const h = harness({ post: () => Promise.reject(new Error('channel_not_found')) });
    const result = await h.call('deploy', {});
    assert.equal(
      text(result),
      '[UNAVAILABLE] This call needs approval and the request could not be shown to reviewers in slack (channel_not_found). The call was not sent; retry later.',
    );
    assert.equal(decisionOf(result).approval_id, APPROVAL_ID);
    const event = h.event('unavailable');
    assert.equal(event.approval_id, APPROVAL_ID);
    assert.equal(event.channel, 'slack');
    assert.deepEqual(h.withdrawn, ['it could not be posted to slack']);
    assert.equal(h.line('approval request could not be posted').approval_id, APPROVAL_ID);
    assert.equal(h.outcome(), 'unavailable');
  });

  test('lost_track: losing the request while waiting refuses the call', async () => {
    const h = harness({
      hold: (i) =>
        Promise.resolve({ request: requestFor(i), outcome: Promise.reject(new Error('Redis went away while the call was held')) }),
    });
    const result = await h.call('deploy', {});
    assert.equal(text(result), '[UNAVAILABLE] Redis went away while the call was held. The call was not sent; retry later.');
    assert.equal(h.event('unavailable').detail, 'lost track of the held call: Redis went away while the call was held');
    h.line('lost track of a held call');
    assert.equal(h.outcome(), 'unavailable');
  });

  test('rejected: the reviewer and their reason reach the agent; the message is updated', async () => {
    const h = harness({
      status: {
        state: 'rejected',
        votes: [{ by: 'U0BOB', name: 'Bobby', at: 2, via: 'slack', verdict: 'reject' }],
        decided_by: 'Bobby (U0BOB)',
        reason: 'not on a Friday',
      },
    });
    const result = await h.call('deploy', { env: 'prod' });
    assert.equal(text(result), '[APPROVAL REJECTED] by Bobby (U0BOB): not on a Friday');
    assert.equal(decisionOf(result).reason, 'not on a Friday');
    assert.equal(decisionOf(result).decided_by, 'Bobby (U0BOB)');
    const event = h.event('rejected');
    assert.equal(event.reason, 'not on a Friday');
    assert.equal(event.channel, 'slack');
    assert.equal(h.posted.length, 1);
    assert.equal(h.updates.length, 1);
    h.line('approval rejected');
    assert.equal(h.outcome(), 'rejected');
  });

  test("expired: nobody approved in the rule's timeout", async () => {
    const h = harness({ status: { state: 'expired', votes: [], decided_by: undefined, decided_at: undefined } });
    const result = await h.call('deploy', {});
    assert.equal(text(result), '[APPROVAL EXPIRED] after 2 minutes: nobody approved files/deploy in time. The call was not sent.');
    assert.equal(decisionOf(result).decided_at, null);
    h.event('expired');
    h.line('approval expired');
    assert.equal(h.outcome(), 'expired');
  });

  test('withdrawn: a request withdrawn elsewhere refuses the call with its reason', async () => {
    const h = harness({ status: { state: 'withdrawn', votes: [], decided_by: undefined, reason: 'Airlock is shutting down' } });
    const result = await h.call('deploy', {});
    assert.equal(text(result), '[UNAVAILABLE] The approval request was withdrawn: Airlock is shutting down. The call was not sent.');
    assert.equal(h.event('withdrawn').reason, 'Airlock is shutting down');
    h.line('held call withdrawn');
    assert.equal(h.outcome(), 'withdrawn');
  });

  test('withdrawn: an approval that arrives after the agent went away is recorded as unused, not sent', async () => {
    const abort = new AbortController();
    let sent = 0;
    const h = harness({
      callTool: () => (sent++, Promise.resolve(OK)),
      hold: (i) => (
        abort.abort('the user pressed Escape'),
        Promise.resolve({ request: requestFor(i), outcome: Promise.resolve(approvedStatus()) })
      ),
    });
    await h.call('deploy', {}, abort.signal);
    assert.equal(h.event('withdrawn').reason, 'the agent cancelled the call: the user pressed Escape');
    assert.deepEqual(h.executions, [{ result: 'refused', ms: 0, detail: 'the agent cancelled the call: the user pressed Escape' }]);
    assert.equal(sent, 0);
    assert.equal(h.outcome(), 'withdrawn');
  });

  test('approval_unrecorded: an approval the trail cannot store does not release the call', async () => {
    let sent = 0;
    const h = harness({
      callTool: () => (sent++, Promise.resolve(OK)),
      commit: () => Promise.reject(new Error('audit stream unwritable')),
    });
    const result = await h.call('deploy', {});
    assert.equal(
      text(result),
      `[UNAVAILABLE] ${APPROVAL_ID} was approved, but Airlock could not write the approval to its audit trail (audit stream unwritable), so the call was not sent; retry later.`,
    );
    assert.equal(
      h.event('unavailable').detail,
      'the approved event could not be written to the audit trail, so the call was not sent: audit stream unwritable',
    );
    assert.equal(h.executions[0]?.result, 'refused');
    assert.equal(h.updates[0]?.execution?.result, 'refused');
    assert.equal(h.line('the approval could not be written to the audit trail: call not released').level, 50);
    assert.equal(sent, 0);
    assert.equal(h.outcome(), 'unavailable');
  });

  test('tampered: arguments that differ from the approved ones are denied', async () => {
    const h = harness({ consume: () => Promise.reject(new AirlockError(ErrorCode.ApprovalTampered, 'the digests differ')) });
    const result = await h.call('deploy', {});
    assert.equal(text(result), `[POLICY DENIED] The approved arguments of ${APPROVAL_ID} do not match this call's; it was not sent.`);
    assert.equal(decisionOf(result).decision, 'tampered');
    const denied = h.event('denied');
    assert.equal(denied.rule, 'approval_binding');
    assert.equal(denied.detail, 'the digests differ');
    assert.equal(h.line('approved arguments were tampered with: call refused').level, 50);
    assert.equal(h.outcome(), 'denied');
  });

  test('approval_unusable: an approval that cannot be used refuses the call', async () => {
    const h = harness({
      consume: () => Promise.reject(new AirlockError(ErrorCode.ApprovalDecided, `approval ${APPROVAL_ID} already covered a call`)),
    });
    const result = await h.call('deploy', {});
    assert.equal(text(result), `[UNAVAILABLE] approval ${APPROVAL_ID} already covered a call. The call was not sent; retry later.`);
    assert.equal(h.event('unavailable').detail, `approval ${APPROVAL_ID} already covered a call`);
    h.line('could not use the approval');
    assert.equal(h.outcome(), 'unavailable');
  });
});

describe('sent to the server', () => {
  test('executed (allowed): the result comes back unchanged, audited as allowed then executed', async () => {
    const h = harness();
    const result = await h.call('read_file', { path: '/a', token: 'sk_live_abc' });
    assert.deepEqual(result, OK);
    assert.deepEqual(h.event('allowed').args, { path: '/a', token: 'sk_live_abc' });
    assert.equal(h.event('executed').result, 'ok');
    assert.equal(h.line('call executed').decision, 'allowed');
    assert.equal(h.outcome(), 'allowed');
  });

  test('executed (approved): the result carries who approved it, and the channel hears what the server answered', async () => {
    const h = harness();
    const result = await h.call('deploy', { env: 'prod' });
    assert.equal(text(result), 'done');
    const meta = decisionOf(result);
    assert.equal(meta.decision, 'approved');
    assert.equal(meta.approval_id, APPROVAL_ID);
    assert.equal(meta.approved_by, 'Alice (U0ALICE)');
    assert.equal(meta.approved_at, new Date(1_000).toISOString());
    assert.deepEqual(
      h.audited.map((e) => e.event),
      ['approval_requested', 'approved', 'executed'],
    );
    assert.equal(h.event('executed').approval_id, APPROVAL_ID);
    assert.equal(h.event('executed').channel, undefined);
    assert.equal(h.executions[0]?.result, 'ok');
    assert.equal(h.updates.at(-1)?.execution?.result, 'ok');
    assert.equal(h.line('call executed').approval_id, APPROVAL_ID);
    assert.equal(h.outcome(), 'approved');
  });

  test('executed: a tool result with isError is the server answering, recorded as an error result', async () => {
    const h = harness({ callTool: () => Promise.resolve({ content: [{ type: 'text', text: 'no such file' }], isError: true }) });
    const result = await h.call('read_file', {});
    assert.equal(result.isError, true);
    assert.equal(h.event('executed').result, 'error');
    assert.equal(h.line('call executed').is_error, true);
    assert.equal(h.outcome(), 'allowed');
  });

  test('cancelled: the agent withdrew the call while the server ran it', async () => {
    const abort = new AbortController();
    const h = harness({
      callTool: (signal) =>
        new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => reject(new Error('AbortError: This operation was aborted')));
          abort.abort();
        }),
    });
    await assert.rejects(h.call('read_file', {}, abort.signal), /aborted/);
    assert.equal(h.event('withdrawn').reason, 'the agent cancelled the call while the server ran it');
    h.line('call cancelled by the client');
    assert.equal(h.outcome(), 'cancelled');
  });

  test('upstream_failed: a server that cannot be reached is unavailable, and says whether the call may have run', async () => {
    for (const sent of [false, true]) {
      const h = harness({ callTool: () => Promise.reject(new UpstreamUnavailableError('files', 'files is not connected', { sent })) });
      const result = await h.call('read_file', {});
      assert.equal(
        text(result),
        `[UNAVAILABLE] files is not connected. ${sent ? 'The server may or may not have run it: check before retrying.' : 'The call was not sent; retry later.'}`,
      );
      assert.equal(h.event('unavailable').detail, 'files is not connected');
      assert.deepEqual(h.faults, ['call']);
      h.line('upstream unavailable');
      assert.equal(h.outcome(), 'unavailable');
    }
  });

  test("upstream_failed: the server's own protocol error is passed on as it sent it", async () => {
    const h = harness({ callTool: () => Promise.reject(new ProtocolError(-32602, 'bad path')) });
    await assert.rejects(h.call('read_file', {}), (err: unknown) => err instanceof ProtocolError && err.message === 'bad path');
    assert.equal(h.event('unavailable').detail, 'bad path');
    assert.deepEqual(h.faults, ['call']);
    assert.equal(h.outcome(), 'error');
  });
});

function approvedStatus(): ApprovalStatus {
  return {
    state: 'approved',
    holder: 'instance-1',
    digest: 'digest',
    min_approvals: 1,
    votes: [],
    created_at: 0,
    expires_at: 1,
    decided_by: 'alice',
    decided_at: 1,
  };
}
