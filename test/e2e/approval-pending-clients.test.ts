import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { api } from '../support/approvals-api.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { RECORDING_ENTRY, RECORDING_SOURCE, recordingServer, upstreamCalls } from '../support/recording-upstream.js';
import { assertRefusal, firstText } from '../support/refusal.js';

const AGENT = 'agent-token-0123456789';
const ALICE = 'alice-admin-token-0123456789';
const PROJECT_ROOT = join(import.meta.dirname, '../..');
const INSPECTOR = join(PROJECT_ROOT, 'node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js');
// The Inspector CLI opens a session for each run, so its repeat shares only the grant (`bind: grant`).
/** Longer than the 60 s after which the Inspector and the SDK's defaults give up on a request. */
const DECIDED_AFTER_MS = 70_000;

const POLICY = {
  version: '1',
  default: 'deny',
  tools: { echo: { action: 'require_approval', reason: 'Echoes need a person', approval: { approvers: ['alice'], timeout: '30m' } } },
};

let gateway: RunningGateway;
let node22: string;
const home = mkdtempSync(join(tmpdir(), 'airlock-inspector-home-'));

before(async () => {
  gateway = await startGateway({
    config: [
      `servers:\n${recordingServer('fixture', 'policy.json').trimEnd()}`,
      'grants:',
      `  - { name: agent, token: ${AGENT} }`,
      'admins:',
      `  - { name: alice, token: ${ALICE} }`,
      'approvals: { channel: console, pending: { enabled: true, window: 10m, bind: grant } }',
      '',
    ].join('\n'),
    files: { [RECORDING_ENTRY]: RECORDING_SOURCE, 'policy.json': JSON.stringify(POLICY) },
  });
  // The Inspector declares Node >= 22.19; Airlock itself runs on this Node.
  node22 = (await promisify(execFile)(process.execPath, [join(PROJECT_ROOT, 'scripts/node22.mjs')], { encoding: 'utf8' })).stdout.trim();
});
after(async () => {
  await gateway?.stop();
  rmSync(home, { recursive: true, force: true });
});

const ran = (text: string) => upstreamCalls(gateway, 'fixture', 'echo').filter((a) => a.text === text).length;
const approve = (id: string) => api(gateway.url, `/api/approvals/${id}/approve`, ALICE, { method: 'POST' });

/** `inspector --cli <url> --method tools/call --tool-name echo --tool-arg text=<text>`, as a person runs it: its JSON output. */
async function inspectorEcho(text: string): Promise<Record<string, unknown>> {
  const argv = [INSPECTOR, '--cli', `${gateway.url}/mcp/fixture`, '--transport', 'http', '--header', `Authorization: Bearer ${AGENT}`];
  argv.push('--method', 'tools/call', '--tool-name', 'echo', '--tool-arg', `text=${text}`);
  const env = { ...process.env, HOME: home, MCP_INSPECTOR_SECRET_STORE: 'memory', NO_COLOR: '1' };
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn(node22, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (out.trim() ? resolve(out) : reject(new Error(`the Inspector exited ${code}: ${err}`))));
  });
  return JSON.parse(stdout.slice(stdout.indexOf('{'))) as Record<string, unknown>;
}

const pendingId = (result: unknown) => String(assertRefusal(result, 'APPROVAL PENDING', { decision: 'approval_pending' }).meta.approval_id);

test('approved after 70 s, a pending call repeated by the v1 SDK client (default options) and by the Inspector CLI gets the server’s result; each ran once', async () => {
  const sdk: Client = await gateway.connect('/mcp/fixture', AGENT);
  try {
    const call = () => sdk.callTool({ name: 'echo', arguments: { text: 'sdk-70s' } });
    const sdkId = pendingId(await call());
    const inspectorId = pendingId(await inspectorEcho('inspector-70s'));
    await sleep(DECIDED_AFTER_MS);
    assert.equal((await approve(sdkId)).status, 200);
    assert.equal((await approve(inspectorId)).status, 200);

    const repeated = await call();
    assert.notEqual(repeated.isError, true, JSON.stringify(repeated));
    assert.equal(firstText(repeated), 'sdk-70s');
    const inspected = await inspectorEcho('inspector-70s');
    assert.notEqual(inspected.isError, true, JSON.stringify(inspected));
    assert.equal(firstText(inspected), 'inspector-70s');
    assert.equal(ran('sdk-70s'), 1);
    assert.equal(ran('inspector-70s'), 1);
  } finally {
    await sdk.close();
  }
});
