import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import type { AuditInput } from '../../src/audit/index.js';
import { missingCapability, relayedCapabilities, relayQuestion, type Asker } from '../../src/proxy/questions.js';

const ALL = { sampling: true, elicitation: true, roots: true };
const elicit = (mode?: 'url' | 'form') => ({ method: 'elicitation/create', params: { message: 'secret question', ...(mode && { mode }) } });

test('a URL elicitation needs elicitation.url; a form one is declared by form, or by an empty elicitation of before URL mode', () => {
  assert.equal(missingCapability('elicitation', elicit('url'), { elicitation: {} }), 'elicitation.url');
  assert.equal(missingCapability('elicitation', elicit('url'), { elicitation: { url: {} } }), undefined);
  assert.equal(missingCapability('elicitation', elicit(), { elicitation: {} }), undefined);
  assert.equal(missingCapability('elicitation', elicit(), { elicitation: { url: {} } }), 'elicitation.form');
  assert.equal(missingCapability('elicitation', elicit(), undefined), 'elicitation');
  assert.equal(missingCapability('sampling', { method: 'sampling/createMessage' }, { roots: {} }), 'sampling');
});

test('Airlock declares what the agent declared, less what relay turns off', () => {
  const agent = { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true }, experimental: { x: {} } };
  assert.deepEqual(relayedCapabilities(ALL, agent), { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } });
  assert.deepEqual(relayedCapabilities({ ...ALL, elicitation: false }, agent), { sampling: {}, roots: { listChanged: true } });
  assert.deepEqual(relayedCapabilities(ALL, undefined), {});
});

/** An asker that records what reached it and answers as given. */
function asker(answer: () => Promise<Record<string, unknown>>) {
  const asked: string[] = [];
  const a: Asker = {
    capabilities: () => ({ elicitation: {} }),
    context: { request_id: 'r1', tool: 't', grant: 'g', session: 's', client: 'c', protocol: '2025-11-25' },
    ask: async (question) => {
      asked.push(question.method);
      return answer();
    },
  };
  return { a, asked };
}

function deps(relay = ALL) {
  const events: AuditInput[] = [];
  return {
    deps: {
      server: 'srv',
      relay,
      audit: { record: (e: AuditInput) => void events.push(e), commit: async () => undefined },
      logger: pino({ level: 'silent' }),
    },
    events,
  };
}

test('an answered question is audited with the action, never with what was asked or answered', async () => {
  const { deps: d, events } = deps();
  const { a, asked } = asker(async () => ({ action: 'accept', content: { name: 'hidden answer' } }));
  const answer = await relayQuestion(d, elicit(), a, { declared: { elicitation: {} } });
  assert.deepEqual(answer, { action: 'accept', content: { name: 'hidden answer' } });
  assert.deepEqual(asked, ['elicitation/create']);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.event, 'question_relayed');
  assert.equal(events[0]!.answer, 'accept');
  assert.equal(events[0]!.request_id, 'r1');
  assert.doesNotMatch(JSON.stringify(events), /hidden answer|secret question/);
});

test('refusals: relay off, undeclared on the connection, undeclared by the agent, no agent; none reaches the agent', async () => {
  const cases: { relay?: typeof ALL; declared: object; question: ReturnType<typeof elicit>; owner: boolean; code: number; says: RegExp }[] =
    [
      {
        relay: { ...ALL, elicitation: false },
        declared: { elicitation: {} },
        question: elicit(),
        owner: true,
        code: -32601,
        says: /relay\.elicitation is false/,
      },
      { declared: {}, question: elicit(), owner: true, code: -32601, says: /declared no elicitation capability on this connection/ },
      {
        declared: { elicitation: { url: {}, form: {} } },
        question: elicit('url'),
        owner: true,
        code: -32601,
        says: /agent did not declare the elicitation\.url capability/,
      },
      { declared: { elicitation: {} }, question: elicit(), owner: false, code: -32603, says: /cannot tell/ },
    ];
  for (const c of cases) {
    const { deps: d, events } = deps(c.relay);
    const { a, asked } = asker(async () => ({ action: 'accept' }));
    await assert.rejects(
      relayQuestion(d, c.question, c.owner ? a : undefined, { declared: c.declared }),
      (err: { code: number; message: string }) => {
        assert.equal(err.code, c.code);
        assert.match(err.message, c.says);
        return true;
      },
    );
    assert.deepEqual(asked, []);
    assert.equal(events[0]!.event, 'question_refused');
  }
});

test("the agent's own error goes back to the server as it sent it, audited as an error", async () => {
  const { deps: d, events } = deps();
  const { ProtocolError } = await import('../../src/proxy/errors.js');
  const { a } = asker(async () => {
    throw new ProtocolError(-32042, 'user closed the dialog');
  });
  await assert.rejects(relayQuestion(d, elicit(), a, { declared: { elicitation: {} } }), {
    code: -32042,
    message: /user closed the dialog/,
  });
  assert.equal(events[0]!.answer, 'error');
});
