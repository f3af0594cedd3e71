import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { api } from '../support/approvals-api.js';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack.js';
import type { RunningGateway } from '../support/gateway.js';
import type { Tracked } from '../support/held-call.js';
import { until } from '../support/poll.js';
import { upstreamCalls } from '../support/recording-upstream.js';
import { firstText } from '../support/refusal.js';
import { shown } from '../support/slack-gateway.js';
import { blockActions, viewSubmission, CHANNEL } from '../support/slack-interactions.js';
import { countOutcomes, emptyCounts, outcomeOf, reportCounts } from './ledger.js';
import {
  ADMIN,
  AGENT,
  approvalState,
  auditEvents,
  callEcho,
  decisionMetaOf,
  deliverOnce,
  echoPolicy,
  inPool,
  postedFor,
  reach,
  settle,
  startRecordingSlackGateway,
  Tally,
  verifyAudit,
} from './fuzz-support.js';

const SEED = Number(process.env.CHAOS_SEED ?? 424_242);
const REQUESTS = 50;
const CLICKS = 1_000;
const IN_FLIGHT = 100;

/** Three approvers by id, one through the user group S0OPS, two who may not decide; the admin alice settles what no click decided. */
const DIRECT = ['U0ANN', 'U0BEN', 'U0CAT'];
const GROUP = 'S0OPS';
const GROUP_MEMBER = 'U0DAN';
const APPROVERS = [...DIRECT, GROUP_MEMBER];
const OUTSIDERS = ['U0EVE', 'U0FRED'];
const USERS = [...APPROVERS, ...OUTSIDERS];
const MIN_APPROVALS: Record<string, number> = { single: 1, pair: 2 };

let slack: FakeSlack;
let gateway: RunningGateway;
const clients: Record<string, Client> = {};

before(async () => {
  slack = await startFakeSlack({
    users: Object.fromEntries(USERS.map((u) => [u, { name: u.slice(2).toLowerCase() }])),
    groups: { [GROUP]: [GROUP_MEMBER], S0OTHER: OUTSIDERS },
  });
  gateway = await startRecordingSlackGateway({
    apiUrl: slack.apiUrl,
    servers: Object.fromEntries(
      Object.entries(MIN_APPROVALS).map(([server, min]) => [
        server,
        echoPolicy({ approvers: [...DIRECT, GROUP, 'alice'], min_approvals: min }),
      ]),
    ),
  });
  for (const server of Object.keys(MIN_APPROVALS)) clients[server] = await gateway.connect(`/mcp/${server}`, AGENT);
});
after(async () => {
  await gateway?.stop();
  await slack?.close();
});

interface Held {
  server: string;
  mark: string;
  id: string;
  call: Tracked<unknown>;
}

type Kind = 'approve' | 'reject_click' | 'reject_submit';
interface Click {
  request: number;
  user: string;
  kind: Kind;
}

const clickArbitrary = fc.record({
  request: fc.nat({ max: REQUESTS - 1 }),
  user: fc.constantFrom(...USERS),
  kind: fc.oneof(
    { arbitrary: fc.constant<Kind>('approve'), weight: 12 },
    { arbitrary: fc.constant<Kind>('reject_click'), weight: 3 },
    { arbitrary: fc.constant<Kind>('reject_submit'), weight: 5 },
  ),
});

function payloadOf(click: Click, index: number, id: string): Record<string, unknown> {
  if (click.kind === 'reject_submit')
    return viewSubmission({ user: click.user, privateMetadata: JSON.stringify({ id, channel: CHANNEL }), reason: `reason-${index}` });
  return blockActions({ user: click.user, action: click.kind === 'approve' ? 'approve' : 'reject', approvalId: id });
}

test('1,000 concurrent Slack clicks on 50 held requests: the first deciding decision wins, non-approvers never count, the agent gets what Redis says, approved calls run exactly once', async (t) => {
  const started = Date.now();
  const held: Held[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const server = i % 2 === 0 ? 'single' : 'pair';
    const mark = `${server}-request-${String(i).padStart(2, '0')}`;
    held.push({ server, mark, id: '', call: callEcho(clients[server]!, mark) });
  }
  for (const h of held) h.id = (await postedFor(slack, h.mark, 30_000)).id;
  const byId = new Map(held.map((h) => [h.id, h]));
  const heldMs = Date.now() - started;

  const [clicks] = fc.sample(fc.array(clickArbitrary, { minLength: CLICKS, maxLength: CLICKS }), { seed: SEED, numRuns: 1 }) as [Click[]];
  const clicksAt = Date.now();
  const answers = await inPool(clicks, IN_FLIGHT, (click, i) => deliverOnce(gateway.url, payloadOf(click, i, held[click.request]!.id)));
  const deliveredMs = Date.now() - clicksAt;
  const statuses = new Tally();
  for (const a of answers) statuses.add(String(a.status));
  assert.equal(statuses.get('200'), CLICKS, `every click is acknowledged with 200 (seed ${SEED}): ${statuses}`);

  // Every click ends as exactly one of: a vote, a refusal on the audit trail, or a reason form opened.
  const ours = (event: Record<string, unknown>) => byId.has(String(event.approval_id));
  const refusals = async () => (await auditEvents(gateway, 'decision=decision_refused')).filter(ours);
  const votes = async () => (await Promise.all(held.map((h) => approvalState(gateway, h.id)))).reduce((n, s) => n + s.votes.length, 0);
  const modals = () =>
    slack
      .callsTo('views.open')
      .filter((c) => byId.has(JSON.parse(String((c.body.view as { private_metadata: string }).private_metadata)).id)).length;
  const accounted = await reach(
    'every click to be accounted for',
    async () => (await votes()) + (await refusals()).length + modals(),
    CLICKS,
    30_000,
  );
  const processedMs = Date.now() - clicksAt;
  const refused = await refusals();
  const voteCount = await votes();
  assert.equal(
    accounted,
    CLICKS,
    `clicks accounted for (votes ${voteCount} + refusals ${refused.length} + reason forms ${modals()}), seed ${SEED}`,
  );

  // A request no deciding click reached is settled by an admin, so that every call ends.
  let undecided = 0;
  for (const h of held) {
    if ((await approvalState(gateway, h.id)).state !== 'pending') continue;
    undecided++;
    assert.equal(
      (await api(gateway.url, `/api/approvals/${h.id}/reject`, ADMIN, { method: 'POST', body: { reason: 'no click decided it' } })).status,
      200,
    );
  }
  const settled = await Promise.all(held.map((h) => settle(h.call)));
  const outcomes = settled.map(outcomeOf);

  const counts = countOutcomes(emptyCounts(), outcomes);
  counts.held = REQUESTS;
  const reasons = new Tally();
  for (const r of refused)
    reasons.add(
      String(r.reason)
        .replace(/^too late: .*/, 'too late')
        .replace(/ /g, '_'),
    );

  for (const [i, h] of held.entries()) {
    const what = `${h.mark} (${h.id}, seed ${SEED})`;
    const state = await approvalState(gateway, h.id);
    const min = MIN_APPROVALS[h.server]!;
    const mine = clicks.map((c, index) => ({ ...c, index })).filter((c) => c.request === i);
    const approves = state.votes.filter((v) => v.verdict === 'approve');
    const rejects = state.votes.filter((v) => v.verdict === 'reject');
    const ran = upstreamCalls(gateway, h.server, 'echo').filter((a) => a.text === h.mark).length;
    counts.released += ran;
    if (ran > 1) counts.over_admitted++;

    for (const vote of state.votes) {
      assert.ok(APPROVERS.includes(vote.by) || vote.by === 'alice', `${what}: only approvers count, yet ${vote.by} has a vote`);
      if (vote.by !== 'alice')
        assert.ok(
          mine.some((c) => c.user === vote.by && (vote.verdict === 'approve' ? c.kind === 'approve' : c.kind === 'reject_submit')),
          `${what}: ${vote.by}'s ${vote.verdict} vote matches a click they made`,
        );
    }
    assert.equal(new Set(approves.map((v) => v.by)).size, approves.length, `${what}: approvers are distinct`);
    const order = state.votes.map((v) => Date.parse(v.at));
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
      `${what}: votes in the order they were cast`,
    );

    if (state.state === 'approved') {
      assert.equal(approves.length, min, `${what}: approved by exactly min_approvals (${min}) distinct approvers, nothing counted after`);
      assert.equal(rejects.length, 0, `${what}: no rejection came before the approval`);
      assert.equal(state.decided_by, approves.map((v) => v.by).join(', '));
      assert.equal(
        outcomes[i],
        'released',
        `${what}: approved in Redis, so the agent gets the server's answer: ${JSON.stringify(settled[i])}`,
      );
      const result = (settled[i] as PromiseFulfilledResult<unknown>).value;
      assert.equal(firstText(result), h.mark);
      assert.equal(decisionMetaOf(result)?.approved_by, state.decided_by, `${what}: the agent is told who approved`);
      if (ran !== 1) counts.approvals_lost++;
    } else {
      assert.equal(state.state, 'rejected', `${what}: every request ends approved or rejected, not ${state.state}`);
      assert.equal(rejects.length, 1, `${what}: one rejection decides`);
      assert.equal(state.votes.at(-1)?.verdict, 'reject', `${what}: nothing is counted after the rejection`);
      assert.ok(approves.length < min, `${what}: rejected only while short of ${min} approvals`);
      assert.equal(
        outcomes[i],
        'rejected',
        `${what}: rejected in Redis, so the agent gets [APPROVAL REJECTED]: ${JSON.stringify(settled[i])}`,
      );
      const meta = decisionMetaOf((settled[i] as PromiseFulfilledResult<unknown>).value);
      assert.equal(meta?.decided_by, state.decided_by);
      if (rejects[0]!.by !== 'alice') {
        const decider = /^reason-(\d+)$/.exec(String(state.decision_reason));
        assert.ok(decider, `${what}: the rejection carries the reason of the submission that decided: ${state.decision_reason}`);
        assert.deepEqual(
          { request: clicks[Number(decider[1])]!.request, user: clicks[Number(decider[1])]!.user },
          { request: i, user: rejects[0]!.by },
        );
      }
      if (ran > 0) counts.wrongly_released += ran;
    }
    // Every click refused as too late saw the same end as Redis holds now: the decision never changed.
    const late = refused.filter((r) => r.approval_id === h.id && /^too late/.test(String(r.reason)));
    for (const r of late) assert.equal(r.reason, `too late: the request was already ${state.state}`, `${what}: ${JSON.stringify(r)}`);
    // Non-approvers are refused, never counted.
    const outsiderClicks = mine.filter((c) => OUTSIDERS.includes(c.user)).length;
    const outsiderRefusals = refused.filter((r) => r.approval_id === h.id && r.reason === 'not an approver for this tool').length;
    assert.equal(outsiderRefusals, outsiderClicks, `${what}: each click by a non-approver is refused as such`);
  }

  // The trail holds one end per request, the same as Redis, and an execution exactly for the approved ones.
  const ends = async () =>
    (await Promise.all(['approved', 'rejected', 'executed'].map((event) => auditEvents(gateway, `decision=${event}`)))).flat().filter(ours);
  const expectedEnds = REQUESTS + outcomes.filter((o) => o === 'released').length;
  const recorded = await reach('the end of every request on the audit trail', async () => (await ends()).length, expectedEnds, 30_000);
  assert.equal(recorded, expectedEnds, 'approved/rejected and executed events');
  const trail = await ends();
  for (const [i, h] of held.entries()) {
    const mine = trail
      .filter((e) => e.approval_id === h.id)
      .map((e) => e.event)
      .sort();
    assert.deepEqual(mine, outcomes[i] === 'released' ? ['approved', 'executed'] : ['rejected'], `${h.mark}: its audit events`);
  }

  // Every message ends showing its request's end, without buttons.
  await until(
    'every message to show its final state',
    () =>
      held.every((h) => {
        const last = slack
          .callsTo('chat.update')
          .filter((c) => JSON.stringify(c.body.blocks).includes(h.id))
          .at(-1);
        return (
          last !== undefined &&
          !shown(last).includes('airlock_approve') &&
          shown(last).includes(outcomes[held.indexOf(h)] === 'released' ? 'Approved' : 'Rejected')
        );
      }),
    20_000,
  );

  const verify = await verifyAudit(gateway);
  assert.equal(verify.code, 0, `airlock audit verify: ${verify.output}`);

  reportCounts(t, counts, {
    seed: SEED,
    clicks: CLICKS,
    in_flight: IN_FLIGHT,
    votes_counted: voteCount,
    clicks_refused: refused.length,
    reason_forms_opened: modals(),
    refusal_reasons: reasons.toString(),
    undecided_by_clicks: undecided,
    http: statuses.toString(),
    hold_50_ms: heldMs,
    deliver_ms: deliveredMs,
    all_processed_ms: processedMs,
  });
});
