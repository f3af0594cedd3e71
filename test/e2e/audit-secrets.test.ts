import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { api, pendingFor } from '../support/approvals-api.js';
import { streamEvents, waitForEvents, withRedis, type AuditRecord } from '../support/audit-stream.js';
import type { RunningGateway } from '../support/gateway.js';
import { track } from '../support/held-call.js';
import { until } from '../support/poll.js';
import { startRecordingGateway, upstreamCalls } from '../support/recording-upstream.js';
import { assertRefusal, firstText } from '../support/refusal.js';
import { cli } from '../support/run-cli.js';

const AGENT = 'agent-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';

/** Each secret is distinct, so a leak names which one. */
const SECRET = {
  password: 'hunter2-Pa55word-e2e',
  apiKey: 'ak_live_7f3c9e1d2b4a-e2e',
  bearer: 'eyJhbGciOiJIUzI1NiJ9.e2e-jwt-payload.sig',
  bareBearer: 'bare-bearer-value-e2e-0001',
  nested: 'db-pass-nested-e2e-0002',
  clientSecret: 'client-secret-e2e-0003',
  listed: 'token-in-a-list-e2e-0004',
  slack: 'xoxb-123456789012-e2e-slack-token',
};
/** Arguments as agents send them: secrets under secret-sounding keys, in headers, nested, in lists, and values that are credentials whatever their key. */
const secretArgs = (label: string) => ({
  text: label,
  password: SECRET.password,
  api_key: SECRET.apiKey,
  headers: { Authorization: `Bearer ${SECRET.bearer}`, Accept: 'application/json' },
  note: `Bearer ${SECRET.bareBearer}`,
  db: { host: 'db.internal', password: SECRET.nested },
  clientSecret: SECRET.clientSecret,
  sessions: [{ token: SECRET.listed, user: 'bob' }],
  channel_hint: SECRET.slack,
});
const REDACTED_SHAPE = (label: string) => ({
  text: label,
  password: '[redacted]',
  api_key: '[redacted]',
  headers: { Authorization: '[redacted]', Accept: 'application/json' },
  note: 'Bearer [redacted]',
  db: { host: 'db.internal', password: '[redacted]' },
  clientSecret: '[redacted]',
  sessions: [{ token: '[redacted]', user: 'bob' }],
  channel_hint: '[redacted]',
});

const POLICY = {
  version: '1',
  default: 'deny',
  tools: {
    echo: {},
    write_file: { action: 'deny', reason: 'No writing' },
    start_dicom_export_job: { action: 'require_approval', reason: 'Exports need a person' },
  },
};

let gateway: RunningGateway;
let agent: Client;

before(async () => {
  gateway = await startRecordingGateway({
    policy: POLICY,
    agent: AGENT,
    admins: { alice: ALICE },
    rugPull: true,
    config: ['approvals: { channel: console, timeout: 10m }', 'audit: { file: ./airlock-audit.jsonl }'],
  });
  agent = await gateway.connect('/mcp/fixture', AGENT);
});
after(() => gateway?.stop());

/** RFC 8785 for plain JSON values: keys sorted, as JSON.stringify writes the rest. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  return `{${Object.keys(value)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
    .join(',')}}`;
}
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
/** The digest as documented: HMAC-SHA256 of the canonical JSON under the deployment's key in Redis. */
async function keyedDigest(args: unknown): Promise<string> {
  const key = await withRedis(gateway.redis.url, (client) => client.get('{airlock}:digest-key'));
  assert.match(key ?? '', /^[0-9a-f]{64}$/);
  return createHmac('sha256', Buffer.from(key!, 'hex')).update(canonical(args)).digest('hex');
}

/** Everything the trail keeps, anywhere: every audit key in Redis, the mirror, and both exports. */
async function everythingStored(): Promise<Record<string, string>> {
  const redis = await withRedis(gateway.redis.url, async (client) => {
    const keys = await client.keys('*audit*');
    const dumps = await Promise.all(
      keys.map(
        async (key) =>
          `${key}: ${JSON.stringify((await client.type(key)) === 'stream' ? await client.xrange(key, '-', '+') : await client.get(key))}`,
      ),
    );
    return dumps.join('\n');
  });
  const run = (format: string) =>
    cli(['audit', 'export', '--format', format, '-c', join(gateway.dir, 'airlock.yaml')], gateway.dir, { REDIS_URL: gateway.redis.url });
  const [jsonl, csv] = await Promise.all([run('jsonl'), run('csv')]);
  return { redis, mirror: readFileSync(join(gateway.dir, 'airlock-audit.jsonl'), 'utf8'), jsonl: jsonl.stdout, csv: csv.stdout };
}

function assertNoSecrets(stored: Record<string, string>, secrets: Record<string, string>): void {
  for (const [where, text] of Object.entries(stored)) {
    for (const [name, secret] of Object.entries(secrets))
      assert.ok(!text.includes(secret), `the ${name} secret ${JSON.stringify(secret)} is stored in ${where}`);
  }
}

test('secrets in allowed, denied and approved calls are redacted in every stored copy of the trail, while the digest of what was sent is kept', async () => {
  const allowedArgs = secretArgs('allowed');
  assert.equal(firstText(await agent.callTool({ name: 'echo', arguments: allowedArgs })), 'allowed');
  assertRefusal(
    await agent.callTool({ name: 'write_file', arguments: { path: 'x', content: 'y', ...secretArgs('denied') } }),
    'POLICY DENIED',
    { decision: 'deny' },
  );
  const heldArgs = { datastore: 'prod', ...secretArgs('held') };
  const held = track(agent.callTool({ name: 'start_dicom_export_job', arguments: heldArgs }));
  const request = await pendingFor(gateway.url, ALICE, 'start_dicom_export_job');
  assert.equal(
    (await api(gateway.url, `/api/approvals/${request.id}/approve`, ALICE, { method: 'POST', body: { reason: 'ok' } })).status,
    200,
  );
  assert.notEqual((await held.promise).isError, true);
  // The call itself was sent unredacted: redaction is for what is kept.
  assert.equal((upstreamCalls(gateway, 'fixture', 'start_dicom_export_job')[0] as { password?: string }).password, SECRET.password);

  const events = await waitForEvents(gateway.redis.url, 'the approved call executed', (all) =>
    all.some((e) => e.event === 'executed' && e.approval_id === request.id),
  );
  await until(
    'the mirror to catch up',
    () => readFileSync(join(gateway.dir, 'airlock-audit.jsonl'), 'utf8').split('\n').filter(Boolean).length === events.length,
  );

  const stored = await everythingStored();
  assertNoSecrets(stored, SECRET);
  assert.ok(!JSON.stringify(gateway.logs).includes(SECRET.password), 'the gateway log never holds a secret either');
  assertNoSecrets({ 'the gateway log': JSON.stringify(gateway.logs) }, SECRET);

  const withArgs = (name: string, tool: string): AuditRecord => {
    const found = events.find((e) => e.event === name && e.tool === tool);
    assert.ok(found, `${name} ${tool}`);
    return found;
  };
  const allowed = withArgs('allowed', 'echo');
  assert.deepEqual(allowed.arguments, REDACTED_SHAPE('allowed'));
  assert.equal(allowed.digest, await keyedDigest(allowedArgs), 'the digest is of the arguments as sent, secrets included');
  assert.deepEqual(withArgs('denied', 'write_file').arguments, { path: 'x', content: 'y', ...REDACTED_SHAPE('denied') });
  const requested = withArgs('approval_requested', 'start_dicom_export_job');
  const approved = withArgs('approved', 'start_dicom_export_job');
  for (const event of [requested, approved]) {
    assert.deepEqual(event.arguments, { datastore: 'prod', ...REDACTED_SHAPE('held') }, event.event);
    assert.equal(event.digest, request.digest, `${event.event}: the digest matches the approval's`);
  }
  assert.equal(request.digest, await keyedDigest(heldArgs));
  for (const digest of [allowed.digest!, String(request.digest)]) {
    for (const [where, text] of Object.entries(stored)) assert.ok(text.includes(digest), `the digest ${digest} is in ${where}`);
  }
  // An unkeyed hash of the arguments would let whoever holds a copy test guesses of the redacted secret offline.
  const guessable = {
    'sha256 of the allowed arguments': sha256(canonical(allowedArgs)),
    'sha256 of the held arguments': sha256(canonical(heldArgs)),
  };
  assertNoSecrets(stored, guessable);
  assertNoSecrets(stored, { 'digest key': (await withRedis(gateway.redis.url, (client) => client.get('{airlock}:digest-key')))! });
});

test('a raw header line "Authorization: Bearer …" in a list of strings is not stored', async () => {
  const token = 'raw-header-line-secret-e2e-0005';
  const cookie = 'session=raw-cookie-secret-e2e-0006';
  const args = { text: 'header lines', headers: [`Authorization: Bearer ${token}`, `Cookie: ${cookie}`, 'Accept: text/plain'] };
  assert.equal(firstText(await agent.callTool({ name: 'echo', arguments: args })), 'header lines');
  await waitForEvents(gateway.redis.url, 'the header-lines call', (all) =>
    all.some((e) => e.event === 'allowed' && (e.arguments as { text?: string } | undefined)?.text === 'header lines'),
  );
  const stored = (await streamEvents(gateway.redis.url)).map((e) => JSON.stringify(e)).join('\n');
  assertNoSecrets({ 'the Redis stream': stored }, { token, cookie });
});
