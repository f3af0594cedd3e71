import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { Client as V2Client, StreamableHTTPClientTransport as V2Transport } from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { api, pendingFor } from '../support/approvals-api.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { FILESYSTEM_SERVER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';
import { assertRefusal, firstText } from '../support/refusal.js';
import { fixtureCalls, fixtureMessages, startV2HttpFixture, type RunningV2Fixture } from '../support/v2-fixture.js';

/**
 * The same five calls (allowed, denied, rate limited, held then approved,
 * held then rejected) from each generation of client, on both endpoints,
 * against each kind of upstream: Airlock treats them alike, and its audit
 * trail says which protocol the client spoke.
 */

const ALICE = 'alice-admin-token-0123456789';

/** What a test needs of a connected client, whichever SDK made it. */
interface AnyClient {
  call(name: string, args: Record<string, unknown>): Promise<unknown>;
  close(): Promise<void>;
}

interface ClientKind {
  name: string;
  /** The protocol version the audit must record. */
  protocol: string;
  /** Whether the client has a session (2025) or sends each request on its own (2026). */
  session: boolean;
  connect(url: URL, token: string): Promise<AnyClient>;
}

const CLIENTS: ClientKind[] = [
  {
    name: 'v2 client pinned to 2026-07-28',
    protocol: '2026-07-28',
    session: false,
    connect: async (url, token) => {
      const client = new V2Client({ name: 'gen-2026', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
      await client.connect(new V2Transport(url, { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
      return { call: (name, args) => client.callTool({ name, arguments: args }), close: () => client.close() };
    },
  },
  {
    name: 'v2 client in legacy mode',
    protocol: '2025-11-25',
    session: true,
    connect: async (url, token) => {
      const client = new V2Client({ name: 'gen-v2-legacy', version: '1.0.0' });
      await client.connect(new V2Transport(url, { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
      return { call: (name, args) => client.callTool({ name, arguments: args }), close: () => client.close() };
    },
  },
  {
    name: 'v1 client',
    protocol: '2025-11-25',
    session: true,
    connect: async (url, token) => {
      const client = new V1Client({ name: 'gen-v1', version: '1.0.0' });
      await client.connect(new V1Transport(url, { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
      return { call: (name, args) => client.callTool({ name, arguments: args }), close: () => client.close() };
    },
  },
];

/** One upstream and how to exercise it: a tool to read, one to write, one denied, one rate limited, and what each answers. */
interface UpstreamKind {
  name: string;
  server: string;
  /** Its lines under `servers:`. */
  config: () => string;
  policy: object;
  read: { tool: string; args: () => Record<string, unknown>; text: RegExp };
  denied: { tool: string; args: () => Record<string, unknown> };
  limited: { tool: string; args: () => Record<string, unknown> };
  write: { tool: string; args: (text: string) => Record<string, unknown>; wrote: (text: string) => boolean };
  /** How many calls of `tool` really reached the server so far. */
  reached: (tool: string) => number;
  /** What else must hold of the upstream once a client is done (its generation, say). */
  check?: () => void;
}

/** Files the upstreams and the gateway share: the filesystem server's sandbox and call log, the fixture's notes and request log. */
const work = mkdtempSync(join(tmpdir(), 'airlock-generations-'));
const sandbox = join(work, 'sandbox');
const notes = join(work, 'notes');
const fsCalls = join(work, 'filesystem-calls.jsonl');
const fixtureLog = join(work, 'fixture-requests.jsonl');
let fixture: RunningV2Fixture;

/**
 * server-filesystem with every line the gateway writes to it appended to
 * RECORD_TO first. Its stdin's `emit` is wrapped rather than a second 'data'
 * listener added: that would set stdin flowing before the server's own
 * listener is there (it connects after awaiting its folder checks), and the
 * first messages would be lost.
 */
const FS_RECORDING = [
  "import { appendFileSync } from 'node:fs';",
  'const emit = process.stdin.emit.bind(process.stdin);',
  "process.stdin.emit = (event, ...args) => (event === 'data' && appendFileSync(process.env.RECORD_TO, args[0]), emit(event, ...args));",
  `await import(${JSON.stringify(pathToFileURL(FILESYSTEM_SERVER).href)});`,
  '',
].join('\n');

function readIf(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

const UPSTREAMS: UpstreamKind[] = [
  {
    name: 'server-filesystem (stdio, 2025-11-25)',
    server: 'filesystem',
    config: () =>
      `  filesystem:\n    command: ${process.execPath}\n    args: [./fs-recording.mjs, ${sandbox}]\n` +
      `    env: { RECORD_TO: ${fsCalls} }\n    policy: policies/filesystem.json\n`,
    policy: {
      version: '1',
      default: 'deny',
      tools: {
        read_text_file: {},
        move_file: { action: 'deny', reason: 'Files stay where they are' },
        // `scope: session` on purpose: a 2026 client has no session, and its counter is its grant's.
        list_directory: { limits: [{ counter: 'ls', window: 'hour', max: 1, scope: 'session' }] },
        write_file: { action: 'require_approval', reason: 'Writing files needs a person', approval: { approvers: ['alice'] } },
      },
    },
    read: { tool: 'read_text_file', args: () => ({ path: join(sandbox, 'notes.txt') }), text: /hello from the sandbox/ },
    denied: { tool: 'move_file', args: () => ({ source: join(sandbox, 'notes.txt'), destination: join(sandbox, 'x.txt') }) },
    limited: { tool: 'list_directory', args: () => ({ path: sandbox }) },
    write: {
      tool: 'write_file',
      args: (text) => ({ path: join(sandbox, `${text}.txt`), content: text }),
      wrote: (text) => readIf(join(sandbox, `${text}.txt`)) === text,
    },
    reached: (tool) =>
      (readIf(fsCalls) ?? '')
        .split('\n')
        .filter((line) => line.includes('"tools/call"'))
        .filter((line) => (JSON.parse(line) as { params?: { name?: string } }).params?.name === tool).length,
  },
  {
    name: 'the SDK v2 fixture (HTTP, 2026-07-28)',
    server: 'notes',
    config: () => `  notes:\n    url: ${fixture.url}\n    protocol: 2026-07-28\n    policy: policies/notes.json\n`,
    policy: {
      version: '1',
      default: 'deny',
      tools: {
        echo: {},
        delete_note: { action: 'deny', reason: 'Notes are kept' },
        pid: { limits: [{ counter: 'pid', window: 'hour', max: 1, scope: 'session' }] },
        save_note: { action: 'require_approval', reason: 'Saving notes needs a person', approval: { approvers: ['alice'] } },
      },
    },
    read: { tool: 'echo', args: () => ({ text: 'hello from the fixture' }), text: /^hello from the fixture$/ },
    denied: { tool: 'delete_note', args: () => ({ name: 'kept' }) },
    limited: { tool: 'pid', args: () => ({}) },
    write: {
      tool: 'save_note',
      args: (text) => ({ name: text, text }),
      wrote: (text) => readIf(join(notes, `${text}.txt`)) === text,
    },
    reached: (tool) => fixtureCalls(fixtureLog, tool).length,
    // Pinned to 2026-07-28, Airlock never opened a 2025 connection to it.
    check: () =>
      assert.deepEqual(
        fixtureMessages(fixtureLog).filter((m) => m.method === 'initialize'),
        [],
      ),
  },
];

/** Every (client, endpoint) pair gets a grant of its own, so their counters and audit events are told apart. */
const ROWS = CLIENTS.flatMap((client, c) =>
  [false, true].map((aggregated, a) => ({ client, aggregated, grant: `g${c}${a}`, token: `token-g${c}${a}-0123456789abcdef` })),
);

let gateway: RunningGateway;
before(async () => {
  mkdirSync(sandbox);
  mkdirSync(notes);
  writeFileSync(join(sandbox, 'notes.txt'), 'hello from the sandbox\n');
  writeFileSync(join(notes, 'kept.txt'), 'kept');
  fixture = await startV2HttpFixture({ FIXTURE_NOTES_DIR: notes, FIXTURE_REQUEST_LOG: fixtureLog });
  const servers = UPSTREAMS.map((u) => u.config()).join('');
  const grants = ROWS.map((r) => `  - name: ${r.grant}\n    token: ${r.token}\n`).join('');
  gateway = await startGateway({
    config:
      `servers:\n${servers}grants:\n${grants}admins:\n  - name: alice\n    token: ${ALICE}\n` +
      `approvals: { channel: console, timeout: 10m }\n`,
    files: {
      'fs-recording.mjs': FS_RECORDING,
      ...Object.fromEntries(UPSTREAMS.map((u) => [`policies/${u.server}.json`, JSON.stringify(u.policy)])),
    },
  });
});
after(async () => {
  await gateway?.stop();
  await fixture?.stop();
  rmSync(work, { recursive: true, force: true });
});

for (const upstream of UPSTREAMS) {
  for (const row of ROWS) {
    const path = row.aggregated ? '/mcp' : `/mcp/${upstream.server}`;
    const name = (tool: string) => (row.aggregated ? `${upstream.server}__${tool}` : tool);
    test(`${row.client.name} on ${path}, ${upstream.name}: allowed, denied, rate limited, held and approved, held and rejected; each reaches the server or not; audited with its protocol`, async () => {
      const { read, denied, limited, write } = upstream;
      /** Runs `step` and asserts how many calls of `tool` it made reach the server. */
      const reaching = async <T>(tool: string, expected: number, step: () => Promise<T>): Promise<T> => {
        const before = upstream.reached(tool);
        const result = await step();
        assert.equal(upstream.reached(tool) - before, expected, `${tool}: calls that reached the server`);
        return result;
      };
      const client = await row.client.connect(new URL(path, gateway.url), row.token);
      try {
        const answer = await reaching(read.tool, 1, () => client.call(name(read.tool), read.args()));
        assert.match(firstText(answer), read.text);

        const refused = await reaching(denied.tool, 0, () => client.call(name(denied.tool), denied.args()));
        assertRefusal(refused, 'POLICY DENIED', { decision: 'deny', server: upstream.server, tool: denied.tool });

        const first = await reaching(limited.tool, 1, () => client.call(name(limited.tool), limited.args()));
        assert.notEqual((first as { isError?: boolean }).isError, true, JSON.stringify(first));
        const second = await reaching(limited.tool, 0, () => client.call(name(limited.tool), limited.args()));
        assertRefusal(second, 'RATE LIMITED', { server: upstream.server, tool: limited.tool });

        const approvedText = `approved-${row.grant}`;
        const writes = upstream.reached(write.tool);
        const approved = client.call(name(write.tool), write.args(approvedText));
        const held = await pendingFor(gateway.url, ALICE, write.tool);
        assert.equal(held.grant, row.grant);
        assert.equal(upstream.reached(write.tool), writes, 'a held call has not reached the server');
        assert.equal(write.wrote(approvedText), false, 'nothing was written before the approval');
        assert.equal((await api(gateway.url, `/api/approvals/${held.id}/approve`, ALICE, { method: 'POST' })).status, 200);
        const done = await approved;
        assert.notEqual((done as { isError?: boolean }).isError, true, JSON.stringify(done));
        assert.equal(upstream.reached(write.tool), writes + 1, 'the approved call reached the server once');
        assert.ok(write.wrote(approvedText), 'the approved write took effect');

        const rejectedText = `rejected-${row.grant}`;
        const rejected = client.call(name(write.tool), write.args(rejectedText));
        const again = await pendingFor(gateway.url, ALICE, write.tool);
        const decided = await api(gateway.url, `/api/approvals/${again.id}/reject`, ALICE, {
          method: 'POST',
          body: { reason: 'not today' },
        });
        assert.equal(decided.status, 200, JSON.stringify(decided.body));
        assertRefusal(await rejected, 'APPROVAL REJECTED', { server: upstream.server, tool: write.tool });
        assert.equal(upstream.reached(write.tool), writes + 1, 'a rejected call never reaches the server');
        assert.equal(write.wrote(rejectedText), false, 'a rejected write took no effect');
      } finally {
        await client.close();
      }
      upstream.check?.();

      // allowed + executed (read, first limited call), denied, rate_limited, and for each held call approval_requested (+ executed).
      const CALL_EVENTS = ['allowed', 'denied', 'rate_limited', 'approval_requested', 'executed'];
      let calls: { event: string; server?: string; protocol?: string | null; session?: string | null }[] = [];
      // The trail is written in batches.
      await until(`the calls of ${row.grant} to ${upstream.server} to be audited`, async () => {
        const { body } = await api(gateway.url, `/api/audit?grant=${row.grant}&server=${upstream.server}&limit=1000`, ALICE);
        calls = ((body.events ?? []) as typeof calls).filter((e) => CALL_EVENTS.includes(e.event));
        return calls.length >= 9;
      });
      assert.equal(calls.length, 9, JSON.stringify(calls.map((e) => e.event)));
      for (const event of calls) {
        assert.equal(event.server, upstream.server);
        assert.equal(event.protocol, row.client.protocol, `${event.event} records the client's protocol`);
        if (row.client.session) assert.equal(typeof event.session, 'string', `${event.event} records the session`);
        else assert.equal(event.session ?? null, null, `${event.event} of a sessionless client has no session`);
      }
    });
  }
}
