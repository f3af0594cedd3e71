import assert from 'node:assert/strict';
import { test } from 'node:test';
import { approverList, Deciders, describeVoter, voterKey, type Decider } from '../../src/approvals/index.js';

const PEOPLE = [
  { name: 'Alice', slack: ['U0ALICE'], admins: ['alice'] },
  { name: 'Bob', slack: ['U0BOB', 'W0BOB'], admins: [] },
  { name: 'Carol', slack: [], admins: ['carol'] },
];
const deciders = new Deciders(PEOPLE);
const call = (approvers: string[]) => ({ approvers, server: 'fs', tool: 'write_file' });
const slack = (id: string, memberOf?: string[]): Decider => ({ via: 'slack', id, ...(memberOf && { memberOf }) });
const admin = (id: string): Decider => ({ via: 'console', id });

interface Case {
  name: string;
  approvers: string[];
  decider: Decider;
  ok: boolean;
  person?: string;
  says?: RegExp;
}

const cases: Case[] = [
  { name: 'no list: a console admin decides', approvers: [], decider: admin('dave'), ok: true },
  { name: 'no list: a linked admin decides, as their person', approvers: [], decider: admin('alice'), ok: true, person: 'Alice' },
  {
    name: 'no list: a Slack user is refused, told which keys to set',
    approvers: [],
    decider: slack('U0ALICE'),
    ok: false,
    person: 'Alice',
    says: /only console admins may decide it; .*approvals\.approvers \(config\) or the rule's approval\.approvers/,
  },
  {
    name: 'no list: even a Slack user in no person is refused',
    approvers: [],
    decider: slack('U0MALLORY'),
    ok: false,
    says: /only console admins/,
  },
  { name: 'a listed Slack user decides', approvers: ['U0BOB'], decider: slack('U0BOB'), ok: true, person: 'Bob' },
  {
    name: 'an unlisted Slack user is refused, naming the list',
    approvers: ['U0BOB'],
    decider: slack('U0MALLORY'),
    ok: false,
    says: /^Slack user U0MALLORY is not an approver for fs\/write_file \(approvers: U0BOB\)$/,
  },
  {
    name: 'a list governs the console too: an unlisted admin is refused',
    approvers: ['U0BOB'],
    decider: admin('dave'),
    ok: false,
    says: /^admin dave is not an approver/,
  },
  { name: 'a listed admin decides', approvers: ['dave'], decider: admin('dave'), ok: true },
  {
    name: "a listed Slack id entitles its person's admin identity",
    approvers: ['U0ALICE'],
    decider: admin('alice'),
    ok: true,
    person: 'Alice',
  },
  {
    name: "a listed admin name entitles its person's Slack identity",
    approvers: ['alice'],
    decider: slack('U0ALICE'),
    ok: true,
    person: 'Alice',
  },
  { name: "a person's name entitles every identity of theirs", approvers: ['Bob'], decider: slack('W0BOB'), ok: true, person: 'Bob' },
  {
    name: 'a refused linked identity is named with its person',
    approvers: ['Bob'],
    decider: admin('carol'),
    ok: false,
    person: 'Carol',
    says: /^Carol \(admin carol\) is not an approver/,
  },
  { name: 'a member of a listed group decides', approvers: ['S0OPS'], decider: slack('U0MALLORY', ['S0OPS']), ok: true },
  { name: 'membership of an unlisted group does not count', approvers: ['S0OPS'], decider: slack('U0MALLORY', ['S0OTHER']), ok: false },
  { name: 'an admin named like a listed group is not a member of it', approvers: ['S0OPS'], decider: admin('dave'), ok: false },
];

for (const c of cases) {
  test(`who may decide: ${c.name}`, () => {
    const got = deciders.entitlement(call(c.approvers), c.decider);
    assert.equal(got.ok, c.ok, JSON.stringify(got));
    assert.equal(got.person, c.person);
    if (c.says) assert.match(got.ok ? '' : got.message, c.says);
  });
}

test('one person, one vote: identities of one person share a key; unlinked identities are their own person, per channel', () => {
  assert.equal(voterKey({ by: 'U0ALICE', via: 'slack', person: 'Alice' }), voterKey({ by: 'alice', via: 'console', person: 'Alice' }));
  assert.notEqual(voterKey({ by: 'U0DAVE', via: 'slack' }), voterKey({ by: 'dave', via: 'console' }));
  // An admin who happens to be named like a Slack id is not that Slack user.
  assert.notEqual(voterKey({ by: 'U0DAVE', via: 'slack' }), voterKey({ by: 'U0DAVE', via: 'console' }));
  assert.equal(deciders.personOf({ via: 'slack', id: 'W0BOB' }), 'Bob');
  assert.equal(deciders.personOf({ via: 'console', id: 'U0BOB' }), undefined);
});

test('a voter is named by their person, else their name and identity', () => {
  assert.equal(describeVoter({ by: 'U0ALICE', via: 'slack', person: 'Alice', name: 'Alice Smith' }), 'Alice');
  assert.equal(describeVoter({ by: 'U0DAVE', via: 'slack', name: 'Dave' }), 'Dave (Slack user U0DAVE)');
  assert.equal(describeVoter({ by: 'dave', via: 'console' }), 'admin dave');
});

test("the approvers of a hold: the rule's list, else the config's, else none (console admins only)", () => {
  assert.deepEqual(approverList(['U1'], ['U2']), { approvers: ['U1'], from: 'rule' });
  assert.deepEqual(approverList([], ['U2']), { approvers: ['U2'], from: 'config' });
  assert.deepEqual(approverList(undefined, undefined), { approvers: [], from: null });
  assert.deepEqual(approverList([], []), { approvers: [], from: null });
});
