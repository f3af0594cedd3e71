import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client as V2Client, StreamableHTTPClientTransport as V2Transport } from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { api, pendingFor } from '../support/approvals-api.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { FILESYSTEM_SERVER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';
import { assertRefusal, firstText } from '../support/refusal.js';

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

/** One upstream and how to exercise it: a tool to read, one to write, and what each answers. */
interface UpstreamKind {
  name: string;
  server: string;
  config: (dir: string) => string;
  read: { tool: string; args: (dir: string) => Record<string, unknown>; text: RegExp };
  denied: { tool: string; args: (dir: string) => Record<string, unknown> };
  limited: { tool: string; args: (dir: string) => Record<string, unknown> };
  write: { tool: string; args: (dir: string, text: string) => Record<string, unknown>; wrote: (dir: string, text: string) => boolean };
}

const sandbox = (dir: string) => join(dir, 'sandbox');

const UPSTREAMS: UpstreamKind[] = [
  {
    name: 'server-filesystem (stdio, 2025-11-25)',
    server: 'filesystem',
    config: () =>
      `  filesystem:\n    command: ${process.execPath}\n    args: [${FILESYSTEM_SERVER}, ./sandbox]\n    policy: policies/filesystem.json\n`,
    read: { tool: 'read_text_file', args: (dir) => ({ path: join(sandbox(dir), 'notes.txt') }), text: /hello from the sandbox/ },
    denied: { tool: 'move_file', args: (dir) => ({ source: join(sandbox(dir), 'notes.txt'), destination: join(sandbox(dir), 'x.txt') }) },
    limited: { tool: 'list_directory', args: (dir) => ({ path: sandbox(dir) }) },
    write: {
      tool: 'write_file',
      args: (dir, text) => ({ path: join(sandbox(dir), `${text}.txt`), content: text }),
      wrote: (dir, text) => {
        try {
          return readFileSync(join(sandbox(dir), `${text}.txt`), 'utf8') === text;
        } catch {
          return false;
        }
      },
    },
  },
];

const POLICY = {
  version: '1',
  default: 'deny',
  tools: {
    read_text_file: {},
    move_file: { action: 'deny', reason: 'Files stay where they are' },
    // `scope: session` on purpose: a 2026 client has no session, and its counter is its grant's.
    list_directory: { limits: [{ counter: 'ls', window: 'hour', max: 1, scope: 'session' }] },
    write_file: { action: 'require_approval', reason: 'Writing files needs a person', approval: { approvers: ['alice'] } },
  },
};

/** Every (client, endpoint) pair gets a grant of its own, so their counters and audit events are told apart. */
const ROWS = CLIENTS.flatMap((client, c) =>
  [false, true].map((aggregated, a) => ({ client, aggregated, grant: `g${c}${a}`, token: `token-g${c}${a}-0123456789abcdef` })),
);

let gateway: RunningGateway;
before(async () => {
  const servers = UPSTREAMS.map((u) => u.config('')).join('');
  const grants = ROWS.map((r) => `  - name: ${r.grant}\n    token: ${r.token}\n`).join('');
  gateway = await startGateway({
    config:
      `servers:\n${servers}grants:\n${grants}admins:\n  - name: alice\n    token: ${ALICE}\n` +
      `approvals: { channel: console, timeout: 10m }\n`,
    files: { 'policies/filesystem.json': JSON.stringify(POLICY), 'sandbox/notes.txt': 'hello from the sandbox\n' },
  });
  mkdirSync(sandbox(gateway.dir), { recursive: true });
  writeFileSync(join(sandbox(gateway.dir), 'notes.txt'), 'hello from the sandbox\n');
});
after(() => gateway?.stop());

for (const upstream of UPSTREAMS) {
  for (const row of ROWS) {
    const path = row.aggregated ? '/mcp' : `/mcp/${upstream.server}`;
    const name = (tool: string) => (row.aggregated ? `${upstream.server}__${tool}` : tool);
    test(`${row.client.name} on ${path}, ${upstream.name}: allowed, denied, rate limited, held and approved, held and rejected; audited with its protocol`, async () => {
      const dir = gateway.dir;
      const client = await row.client.connect(new URL(path, gateway.url), row.token);
      try {
        assert.match(firstText(await client.call(name(upstream.read.tool), upstream.read.args(dir))), upstream.read.text);

        assertRefusal(await client.call(name(upstream.denied.tool), upstream.denied.args(dir)), 'POLICY DENIED', {
          decision: 'deny',
          server: upstream.server,
          tool: upstream.denied.tool,
        });

        const first = await client.call(name(upstream.limited.tool), upstream.limited.args(dir));
        assert.notEqual((first as { isError?: boolean }).isError, true, JSON.stringify(first));
        assertRefusal(await client.call(name(upstream.limited.tool), upstream.limited.args(dir)), 'RATE LIMITED', {
          server: upstream.server,
          tool: upstream.limited.tool,
        });

        const approvedText = `approved-${row.grant}`;
        const approved = client.call(name(upstream.write.tool), upstream.write.args(dir, approvedText));
        const held = await pendingFor(gateway.url, ALICE, upstream.write.tool);
        assert.equal(held.grant, row.grant);
        assert.equal((await api(gateway.url, `/api/approvals/${held.id}/approve`, ALICE, { method: 'POST' })).status, 200);
        assert.notEqual(((await approved) as { isError?: boolean }).isError, true);
        assert.ok(upstream.write.wrote(dir, approvedText), 'the approved write reached the server');

        const rejectedText = `rejected-${row.grant}`;
        const rejected = client.call(name(upstream.write.tool), upstream.write.args(dir, rejectedText));
        const second = await pendingFor(gateway.url, ALICE, upstream.write.tool);
        const answer = await api(gateway.url, `/api/approvals/${second.id}/reject`, ALICE, {
          method: 'POST',
          body: { reason: 'not today' },
        });
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assertRefusal(await rejected, 'APPROVAL REJECTED', { server: upstream.server, tool: upstream.write.tool });
        assert.equal(upstream.write.wrote(dir, rejectedText), false, 'a rejected write never reaches the server');
      } finally {
        await client.close();
      }

      // allowed + executed (read, first list), denied, rate_limited, and for each held call approval_requested (+ executed).
      const CALL_EVENTS = ['allowed', 'denied', 'rate_limited', 'approval_requested', 'executed'];
      let calls: { event: string; protocol?: string | null; session?: string | null }[] = [];
      // The trail is written in batches.
      await until(`the calls of ${row.grant} to be audited`, async () => {
        const { body } = await api(gateway.url, `/api/audit?grant=${row.grant}&limit=1000`, ALICE);
        calls = ((body.events ?? []) as typeof calls).filter((e) => CALL_EVENTS.includes(e.event));
        return calls.length >= 9;
      });
      for (const event of calls) {
        assert.equal(event.protocol, row.client.protocol, `${event.event} records the client's protocol`);
        if (row.client.session) assert.equal(typeof event.session, 'string', `${event.event} records the session`);
        else assert.equal(event.session ?? null, null, `${event.event} of a sessionless client has no session`);
      }
    });
  }
}
