import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import type { ApprovalRequest, ApprovalStatus } from '../../src/approvals/index.js';
import { builtInChannels, channelRefOf, ChannelRegistry, ChannelSet, type Channel } from '../../src/channels/index.js';
import { loadConfig } from '../../src/config/index.js';
import { AirlockError, ErrorCode } from '../../src/errors.js';
import { FS, configTree } from '../support/config-tree.js';

const silent = pino({ level: 'silent' });
const REQUEST = { id: 'apr_0000000000000000000000', request_id: 'r1' } as ApprovalRequest;
const STATUS = { state: 'pending', votes: [] } as unknown as ApprovalStatus;
/** Approvals as a channel set uses them only when a channel fails among several; these tests never get there. */
const NO_APPROVALS = {
  withdraw: () => Promise.reject(new Error('not expected')),
  get: () => Promise.reject(new Error('not expected')),
};

function channel(name: string, behaviour: { post?: () => Promise<string | undefined>; update?: () => Promise<void> } = {}): Channel {
  return {
    name,
    routers: [],
    post: behaviour.post ?? (async () => undefined),
    update: behaviour.update ?? (async () => undefined),
    close: async () => undefined,
  };
}

test('the handle a channel kept is read back by its name; a bare one (kept before channels had one each) is read as is', () => {
  assert.equal(channelRefOf({ channel_ref: JSON.stringify({ slack: 'C1/1.2', web: 'w-7' }) }, 'web'), 'w-7');
  assert.equal(channelRefOf({ channel_ref: JSON.stringify({ slack: 'C1/1.2' }) }, 'web'), undefined);
  assert.equal(channelRefOf({ channel_ref: 'C1/1700000001.000100' }, 'slack'), 'C1/1700000001.000100');
  assert.equal(channelRefOf({}, 'slack'), undefined);
});

test('with one channel the set is that channel: its name, its handle, and its own error unchanged', async () => {
  const failure = new AirlockError(ErrorCode.SlackUnavailable, 'Slack did not take the message for channel C1: fatal_error');
  const set = new ChannelSet(
    [channel('slack', { post: () => Promise.reject(failure), update: () => Promise.reject(failure) })],
    NO_APPROVALS,
    silent,
  );
  assert.equal(set.name, 'slack');
  await assert.rejects(set.post(REQUEST), (err) => err === failure);
  await assert.rejects(set.update(REQUEST, STATUS), (err) => err === failure);
  const posting = new ChannelSet([channel('slack', { post: async () => 'C1/1.2' })], NO_APPROVALS, silent);
  assert.equal(channelRefOf({ channel_ref: await posting.post(REQUEST) }, 'slack'), 'C1/1.2');
});

test('several channels are named together; an update that fails in one still reaches the others, and the error names the one', async () => {
  const told: string[] = [];
  const set = new ChannelSet(
    [
      channel('tray', { update: () => Promise.reject(new Error('tray gone')) }),
      channel('console', { update: async () => void told.push('console') }),
    ],
    NO_APPROVALS,
    silent,
  );
  assert.equal(set.name, 'tray, console');
  assert.equal(await set.post(REQUEST), undefined, 'no channel kept a handle');
  await assert.rejects(set.update(REQUEST, STATUS), /^AggregateError: tray: tray gone$/);
  assert.deepEqual(told, ['console']);
});

test('a kind registered twice is refused; a config naming a kind the registry lacks fails naming the file and the kinds it has', () => {
  const unopened = { kind: 'console', open: () => Promise.reject(new Error('never opened')) };
  assert.deepEqual(builtInChannels().names, ['slack', 'console']);
  assert.throws(() => builtInChannels().register(unopened), /a channel kind named console is registered already/);
  const { file } = configTree(`${FS}approvals: { channels: [console, pager] }\n`);
  assert.throws(
    () => new ChannelRegistry([unopened]).checkProcess(loadConfig(file, {}), { http: true }),
    (err) =>
      err instanceof AirlockError &&
      err.code === ErrorCode.ConfigInvalid &&
      err.message === `${file}: approvals.channels: no channel kind is named "pager" (known: console)`,
  );
});
