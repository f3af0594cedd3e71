import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MIN_RESUME_DELAY_MS, resumeNoSooner, StreamResumptions } from '../../src/proxy/stream-resumptions.js';

/** A fetch that records what reached it and answers 200. */
function recording(): { fetch: typeof fetch; seen: { method: string; lastEventId: string | null }[] } {
  const seen: { method: string; lastEventId: string | null }[] = [];
  return {
    seen,
    fetch: async (_input, init) => {
      seen.push({ method: init?.method ?? 'GET', lastEventId: new Headers(init?.headers).get('last-event-id') });
      return new Response('');
    },
  };
}

const resume = (f: typeof fetch, token: string) =>
  f('http://upstream/mcp', { method: 'GET', headers: new Headers({ 'last-event-id': token }) });

describe('following the upstream streams of calls', () => {
  test("a resumption with a call's last event id tells that call, once, and reaches the server", async () => {
    const base = recording();
    const resumptions = new StreamResumptions();
    const fetch = resumptions.fetch(base.fetch);
    const closed: string[] = [];
    const a = resumptions.follow(() => closed.push('a'));
    const b = resumptions.follow(() => closed.push('b'));
    a.onresumptiontoken('a-1');
    b.onresumptiontoken('b-1');
    await resume(fetch, 'a-1');
    a.onresumptiontoken('a-2');
    await resume(fetch, 'a-2');
    assert.deepEqual(closed, ['a'], 'told once, however often the server closes its stream');
    assert.deepEqual(base.seen, [
      { method: 'GET', lastEventId: 'a-1' },
      { method: 'GET', lastEventId: 'a-2' },
    ]);
  });

  test('only the latest event id of a call stands for it', async () => {
    const resumptions = new StreamResumptions();
    const fetch = resumptions.fetch(recording().fetch);
    let closed = 0;
    const call = resumptions.follow(() => closed++);
    call.onresumptiontoken('1');
    call.onresumptiontoken('2');
    await resume(fetch, '1');
    assert.equal(closed, 0);
    await resume(fetch, '2');
    assert.equal(closed, 1);
  });

  test('a POST carrying a Last-Event-ID header, or a GET without one, is no resumption', async () => {
    const resumptions = new StreamResumptions();
    const fetch = resumptions.fetch(recording().fetch);
    let closed = 0;
    resumptions.follow(() => closed++).onresumptiontoken('t');
    await fetch('http://upstream/mcp', { method: 'POST', headers: { 'last-event-id': 't' }, body: '{}' });
    await fetch('http://upstream/mcp', { method: 'GET' });
    assert.equal(closed, 0);
  });

  test('the stream of an ended call is not resumed: the request fails before it reaches the server', async () => {
    const base = recording();
    const resumptions = new StreamResumptions();
    const fetch = resumptions.fetch(base.fetch);
    let closed = 0;
    const call = resumptions.follow(() => closed++);
    call.onresumptiontoken('t');
    call.end();
    await assert.rejects(resume(fetch, 't'), /not resuming the stream of a call that has ended/);
    assert.deepEqual(base.seen, []);
    assert.equal(closed, 0);
    // Any other stream (the session's own GET stream, another call's) is resumed as before.
    await resume(fetch, 'other');
    assert.equal(base.seen.length, 1);
  });

  test('two calls given one event id by the server: only the later one is told', async () => {
    const resumptions = new StreamResumptions();
    const fetch = resumptions.fetch(recording().fetch);
    const closed: string[] = [];
    const a = resumptions.follow(() => closed.push('a'));
    const b = resumptions.follow(() => closed.push('b'));
    a.onresumptiontoken('same');
    b.onresumptiontoken('same');
    await resume(fetch, 'same');
    assert.deepEqual(closed, ['b']);
  });

  test('a call without a stream to close is followed all the same (its ended stream is not resumed)', async () => {
    const resumptions = new StreamResumptions();
    const fetch = resumptions.fetch(recording().fetch);
    const call = resumptions.follow();
    call.onresumptiontoken('t');
    await resume(fetch, 't');
    call.end();
    await assert.rejects(resume(fetch, 't'));
  });

  for (const c of [
    { asked: 0, waits: MIN_RESUME_DELAY_MS },
    { asked: 1, waits: MIN_RESUME_DELAY_MS },
    { asked: MIN_RESUME_DELAY_MS * 4, waits: MIN_RESUME_DELAY_MS * 4 },
  ]) {
    test(`a resumption the server asks for after ${c.asked} ms waits ${c.waits} ms`, (t) => {
      t.mock.timers.enable({ apis: ['setTimeout'] });
      let ran = 0;
      resumeNoSooner(() => ran++, c.asked, 0);
      t.mock.timers.tick(c.waits - 1);
      assert.equal(ran, 0);
      t.mock.timers.tick(1);
      assert.equal(ran, 1);
    });
  }

  test('a cancelled resumption does not run', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let ran = 0;
    const cancel = resumeNoSooner(() => ran++, 1_000, 0);
    if (typeof cancel === 'function') cancel();
    t.mock.timers.tick(5_000);
    assert.equal(ran, 0);
  });
});
