import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { api } from '../support/approvals-api.js';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack.js';
import type { RunningGateway } from '../support/gateway.js';
import type { Tracked } from '../support/held-call.js';
import { until } from '../support/poll.js';
import { upstreamCalls } from '../support/recording-upstream.js';
import { firstText } from '../support/refusal.js';
import { blockActions, viewSubmission, CHANNEL } from '../support/slack-interactions.js';
import { countOutcomes, emptyCounts, outcomeOf, reportCounts, type Outcome } from './ledger.js';
import {
  ADMIN,
  AGENT,
  approvalState,
  auditEvents,
  callEcho,
  decisionMetaOf,
  deliverOnce,
  echoPolicy,
  postedFor,
  ranCount,
  settle,
  startRecordingSlackGateway,
  startSlackOutage,
  type SlackOutage,
} from './fuzz-support.js';

const ALICE = 'U0ALICE';
const BOB = 'U0BOB';
const SERVER = 'fixture';

let slack: FakeSlack;
let outage: SlackOutage;
let gateway: RunningGateway;
let client: Client;

before(async () => {
  slack = await startFakeSlack({ users: { [ALICE]: { name: 'alice' }, [BOB]: { name: 'bob' } } });
  outage = await startSlackOutage(slack);
  gateway = await startRecordingSlackGateway({
    apiUrl: outage.apiUrl,
    servers: { [SERVER]: echoPolicy() },
    config: `approvals: { approvers: [${ALICE}, ${BOB}] }`,
  });
  client = await gateway.connect(`/mcp/${SERVER}`, AGENT);
});
after(async () => {
  await gateway?.stop();
  await outage?.close();
  await slack?.close();
});

interface Entry {
  mark: string;
  call: Tracked<unknown>;
  started: number;
  /** When the agent got its answer. */
  ended?: number;
  /** Set once known: from the posted message, or from the refusal's `_meta`. */
  id?: string;
  /** A reviewer approved it (so it must run, exactly once). */
  approved?: boolean;
}

const attemptsOf = (mark: string) => outage.refused.filter((r) => r.method === 'chat.postMessage' && r.raw.includes(mark));

/** Calls arriving one after another while the outage lasts: each once the one before has had a post attempt turned away. */
async function arriveDuringOutage(phase: string, count: number): Promise<Entry[]> {
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const mark = `${phase}-call-${i}`;
    const entry: Entry = { mark, call: callEcho(client, mark), started: Date.now() };
    void entry.call.promise.finally(() => (entry.ended = Date.now())).catch(() => undefined);
    entries.push(entry);
    await until(`${mark}'s first post to be turned away`, () => attemptsOf(mark).length > 0);
  }
  return entries;
}

/** A call made while Slack answers, and its posted message's approval id. */
async function postedCall(mark: string): Promise<Entry> {
  const call = callEcho(client, mark);
  const { id } = await postedFor(slack, mark);
  return { mark, call, started: Date.now(), id };
}

const approve = (id: string, user = ALICE) => deliverOnce(gateway.url, blockActions({ user, action: 'approve', approvalId: id }));

test('Slack answering 500, then 429 with Retry-After, for several seconds: calls that cannot be posted end [UNAVAILABLE] and are withdrawn; after it, new calls are posted and exactly the approved ones run', async (t) => {
  // Posted before the outage; decided during it and after it.
  const earlier = [
    await postedCall('before-approved-during-500'),
    await postedCall('before-rejected-during-429'),
    await postedCall('before-approved-after'),
  ];

  const outageStarted = Date.now();
  outage.begin({ status: 500 });
  const clickDuring500 = approve(earlier[0]!.id!);
  earlier[0]!.approved = true;
  const wave500 = await arriveDuringOutage('outage500', 6);
  assert.equal((await clickDuring500).status, 200, 'a click is answered while the Web API is down');
  const settled500 = await Promise.all(wave500.map((e) => settle(e.call)));

  outage.begin({ status: 429, retryAfter: 1 });
  const rejectDuring429 = deliverOnce(
    gateway.url,
    viewSubmission({
      user: BOB,
      privateMetadata: JSON.stringify({ id: earlier[1]!.id, channel: CHANNEL }),
      reason: 'no, during the outage',
    }),
  );
  const wave429 = await arriveDuringOutage('outage429', 4);
  assert.equal((await rejectDuring429).status, 200);
  const settled429 = await Promise.all(wave429.map((e) => settle(e.call)));

  // One more call, its first post turned away; Slack recovers before its retry, which posts it.
  const [late] = await arriveDuringOutage('posted-on-retry', 1);
  outage.end();
  const outageMs = Date.now() - outageStarted;

  const withdrawn = [...wave500, ...wave429];
  const settledOutage = [...settled500, ...settled429];
  const slowestFailureMs = Math.max(...withdrawn.map((e) => e.ended! - e.started));
  for (const [i, entry] of withdrawn.entries()) {
    const settled = settledOutage[i]!;
    assert.equal(settled.status, 'fulfilled', `${entry.mark}: the agent gets an answer, not an error`);
    const result = (settled as PromiseFulfilledResult<unknown>).value;
    assert.equal(outcomeOf(settled), 'unavailable', `${entry.mark}: ${JSON.stringify(result)}`);
    assert.match(
      firstText(result),
      /^\[UNAVAILABLE\] This call needs approval and the request could not be shown to reviewers in slack/,
      entry.mark,
    );
    entry.id = String(decisionMetaOf(result)?.approval_id);
    assert.equal((await approvalState(gateway, entry.id)).state, 'withdrawn', `${entry.mark}: its request is withdrawn, not left pending`);
    const attempts = attemptsOf(entry.mark);
    assert.ok(attempts.length >= 2, `${entry.mark}: the post was retried (${attempts.length} attempts)`);
    if (entry.mark.startsWith('outage429')) {
      for (let a = 1; a < attempts.length; a++) {
        const gap = attempts[a]!.at - attempts[a - 1]!.at;
        assert.ok(gap >= 950, `${entry.mark}: attempt ${a + 1} came ${gap} ms after a 429 with Retry-After: 1`);
      }
    }
  }

  // Slack answers again.
  const { id: lateId } = await postedFor(slack, late!.mark);
  late!.id = lateId;
  assert.equal((await approvalState(gateway, lateId)).state, 'pending', 'a request posted on a retry waits for a reviewer');
  const afterwards = await Promise.all(Array.from({ length: 6 }, (_, i) => postedCall(`after-outage-call-${i}`)));

  // A reviewer who learnt a withdrawn request's id somehow: approving it now must change nothing.
  for (const entry of withdrawn) assert.equal((await approve(entry.id!)).status, 200);
  for (const entry of [late!, ...afterwards, earlier[2]!]) {
    assert.equal((await approve(entry.id!)).status, 200);
    entry.approved = true;
  }

  const everyone = [...earlier, ...withdrawn, late!, ...afterwards];
  const settled = await Promise.all(everyone.map((e) => settle(e.call)));
  const outcomes: Outcome[] = settled.map(outcomeOf);
  await until(
    'the late approvals of withdrawn requests to be refused as too late',
    async () => {
      const refused = await auditEvents(gateway, 'decision=decision_refused');
      return withdrawn.every((e) =>
        refused.some((r) => r.approval_id === e.id && /too late: the request was already withdrawn/.test(String(r.reason))),
      );
    },
    10_000,
  );

  const counts = emptyCounts();
  counts.held = everyone.length;
  countOutcomes(counts, outcomes);
  const ran = upstreamCalls(gateway, SERVER, 'echo').map((a) => String(a.text));
  counts.released = ran.length;
  counts.wrongly_released = ran.filter((text) => !everyone.some((e) => e.mark === text && e.approved)).length;
  counts.over_admitted = everyone.filter((e) => ranCount(gateway, SERVER, e.mark) > 1).length;
  counts.approvals_lost = everyone.filter(
    (e, i) => e.approved && (outcomes[i] !== 'released' || ranCount(gateway, SERVER, e.mark) !== 1),
  ).length;

  reportCounts(t, counts, {
    outage_ms: outageMs,
    slowest_unavailable_ms: slowestFailureMs,
    posts_turned_away: outage.refused.filter((r) => r.method === 'chat.postMessage').length,
    web_api_calls_turned_away: outage.refused.length,
    withdrawn: withdrawn.length,
    posted_on_retry: late!.mark,
    its_posts_turned_away: attemptsOf(late!.mark).length,
  });

  for (const [i, entry] of everyone.entries()) {
    const expected: Outcome = entry.approved ? 'released' : entry === earlier[1] ? 'rejected' : 'unavailable';
    assert.equal(outcomes[i], expected, `${entry.mark}: ${JSON.stringify(settled[i])}`);
    if (expected === 'released') assert.equal(firstText((settled[i] as PromiseFulfilledResult<unknown>).value), entry.mark);
    const state = await approvalState(gateway, entry.id!);
    assert.equal(state.state, entry.approved ? 'approved' : entry === earlier[1] ? 'rejected' : 'withdrawn', entry.mark);
  }
  assert.equal((await approvalState(gateway, earlier[0]!.id!)).votes[0]?.by, ALICE, 'the approval given during the outage is on record');
  assert.equal((await approvalState(gateway, earlier[1]!.id!)).decision_reason, 'no, during the outage');
  const pending = await api(gateway.url, '/api/approvals?state=pending', ADMIN);
  assert.deepEqual(pending.body.approvals, [], 'nothing is left pending');
  assert.ok(outageMs > slowestFailureMs, `the outage (${outageMs} ms) outlasts one call's retries (${slowestFailureMs} ms)`);
});
