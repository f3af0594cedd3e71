import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { startGateway, type RunningGateway } from '../support/gateway.js';
import { FIXTURE_SERVER, TSX_LOADER } from '../support/mcp-servers.js';
import { until } from '../support/poll.js';
import { httpRequest } from '../support/raw-http.js';
import { INITIALIZE, post } from '../support/raw-mcp.js';
import { PROJECT_ROOT } from '../support/run-cli.js';

/**
 * Real MCP clients against a gateway with grants: the MCP Inspector's CLI
 * and mcp-remote (what Claude Desktop users run for a remote server), as
 * published. Both start OAuth discovery on any 401; what they print when
 * it fails is what the gateway's answers to that discovery say.
 */

const TOKEN = 'client-grant-token-0123456789';
const WRONG = 'wrong-token-that-must-never-be-echoed-42';
const INSPECTOR = join(PROJECT_ROOT, 'node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js');
const MCP_REMOTE = join(PROJECT_ROOT, 'node_modules/mcp-remote/dist/proxy.js');
/** Every process here gets a HOME of its own: the clients keep catalogs, OAuth state and lock files there. */
const homes: string[] = [];
const home = () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-client-home-'));
  homes.push(dir);
  return dir;
};

/** What the gateway tells a client that tried OAuth; the clients print it inside their own text (JSON-escaped, some of them). */
const ADVICE = /takes a static grant token, not OAuth: configure your MCP client to send the header "Authorization: Bearer <grant token>"/;
/** The clients escape quotes once or twice over, as JSON inside JSON. */
const unescaped = (text: string) => text.replace(/\\+"/g, '"');

let gateway: RunningGateway;
let node22: string;
const url = (path: string) => new URL(path, gateway.url).href;

before(async () => {
  gateway = await startGateway({
    config: [
      'servers:',
      '  fx:',
      `    command: ${process.execPath}`,
      `    args: [--import, ${TSX_LOADER}, ${FIXTURE_SERVER}]`,
      '    policy: fx.yaml',
      'grants:',
      '  - name: agent',
      `    token: ${TOKEN}`,
      '',
    ].join('\n'),
    files: { 'fx.yaml': 'version: "1"\ndefault: deny\ntools:\n  echo: {}\n' },
  });
  // The Inspector declares Node >= 22.19 (the conformance suite's Node 22 serves); Airlock itself runs on this Node.
  node22 = (await promisify(execFile)(process.execPath, [join(PROJECT_ROOT, 'scripts/node22.mjs')], { encoding: 'utf8' })).stdout.trim();
});
after(async () => {
  await gateway?.stop();
  for (const dir of homes) rmSync(dir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  /** stdout and stderr together, in the order they came. */
  output: string;
}

/** Runs a client to its end, stdout and stderr together; `stdin: 'pipe'` keeps its stdin open, as an MCP host does. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv, stdin: 'ignore' | 'pipe' = 'ignore'): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: [stdin, 'pipe', 'pipe'] });
    let output = '';
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // Only keeps a client that waits for a sign-in from hanging the suite; every run here ends by itself.
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, output });
    });
  });
}

const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;

/**
 * `npx @modelcontextprotocol/inspector --cli …`. With `terminal`, under a
 * pseudo-terminal (util-linux `script`), as a person runs it: without one
 * the Inspector refuses to start OAuth and prints only that.
 */
function inspector(args: string[], terminal: boolean): Promise<Run> {
  const argv = [node22, INSPECTOR, '--cli', url('/mcp/fx'), '--transport', 'http', '--method', 'tools/list', ...args];
  const env = { ...process.env, HOME: home(), MCP_INSPECTOR_SECRET_STORE: 'memory', NO_COLOR: '1' };
  if (!terminal) return run(argv[0]!, argv.slice(1), env);
  return run('script', ['-qec', argv.map(quote).join(' '), '/dev/null'], env);
}

/** The OAuth requests the gateway answered since `mark`, as `METHOD path`. */
const oauthRequests = (mark: number) =>
  gateway.logs
    .slice(mark)
    .filter((l) => typeof l.msg === 'string' && l.msg.startsWith('OAuth request answered'))
    .map((l) => `${String(l.method)} ${String(l.path)}`);

test('the Inspector CLI without a token, at a terminal, prints that the gateway takes a grant token and how to send it', async () => {
  const mark = gateway.logs.length;
  const { code, output } = await inspector([], true);
  assert.notEqual(code, 0, output);
  assert.match(unescaped(output), ADVICE, output);
  // It gave up at registration: no browser was sent to /authorize.
  await until('the registration in the log', () => oauthRequests(mark).length > 0);
  assert.deepEqual(oauthRequests(mark), ['POST /register']);
});

test('the Inspector CLI with a wrong token prints the same advice and never the token', async () => {
  const { code, output } = await inspector(['--header', `Authorization: Bearer ${WRONG}`], true);
  assert.notEqual(code, 0, output);
  assert.match(unescaped(output), ADVICE, output);
  assert.ok(!output.includes(WRONG), output);
});

test('the Inspector CLI with the grant token in --header lists the tools', async () => {
  const { code, stdout, output } = await inspector(['--header', `Authorization: Bearer ${TOKEN}`], false);
  assert.equal(code, 0, output);
  const listed = JSON.parse(stdout) as { tools: { name: string }[] };
  assert.ok(
    listed.tools.some((t) => t.name === 'echo'),
    output,
  );
});

test('mcp-remote without a token exits with the advice in its log, without waiting for a sign-in', async () => {
  const mark = gateway.logs.length;
  const configDir = home();
  const { code, output } = await run(
    process.execPath,
    [MCP_REMOTE, url('/mcp/fx')],
    { ...process.env, HOME: configDir, MCP_REMOTE_CONFIG_DIR: configDir },
    'pipe',
  );
  assert.equal(code, 1, output);
  assert.match(output, /Fatal error: RegistrationRejectedError: Dynamic Client Registration rejected \(HTTP 400\)/, output);
  assert.match(unescaped(output), ADVICE, output);
  assert.doesNotMatch(output, /Waiting for authorization|falling-back-to-alternate-transport/, output);
  await until('the registration in the log', () => oauthRequests(mark).length > 0);
  assert.deepEqual(oauthRequests(mark), ['POST /register']);
});

test('mcp-remote with the token in --header "Authorization:${AUTH_HEADER}" serves the tools over stdio', async () => {
  const configDir = home();
  const client = new Client({ name: 'claude-desktop-stand-in', version: '1' });
  const transport = new StdioClientTransport({
    command: process.execPath,
    // The form mcp-remote documents for hosts that split arguments at spaces: the value, space included, comes from the environment.
    args: [MCP_REMOTE, url('/mcp/fx'), '--header', 'Authorization:${AUTH_HEADER}'],
    env: { ...getDefaultEnvironment(), AUTH_HEADER: `Bearer ${TOKEN}`, HOME: configDir, MCP_REMOTE_CONFIG_DIR: configDir },
    stderr: 'pipe',
  });
  let log = '';
  transport.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  try {
    await client.connect(transport);
    const { tools } = await client.listTools();
    assert.ok(
      tools.some((t) => t.name === 'echo'),
      log,
    );
    assert.deepEqual(await client.callTool({ name: 'echo', arguments: { text: 'through mcp-remote' } }), {
      content: [{ type: 'text', text: 'through mcp-remote' }],
    });
    assert.ok(!log.includes(TOKEN), 'mcp-remote logged the token');
  } finally {
    await client.close();
  }
});

test('an SDK client with OAuth support gets the advice as its error and is never sent to a browser', async () => {
  const redirected: string[] = [];
  const saved: { client?: Awaited<ReturnType<OAuthClientProvider['clientInformation']>> } = {};
  const provider: OAuthClientProvider = {
    redirectUrl: 'http://127.0.0.1:9/callback',
    clientMetadata: { client_name: 'sdk-oauth-client', redirect_uris: ['http://127.0.0.1:9/callback'] },
    clientInformation: () => saved.client,
    saveClientInformation: (info) => void (saved.client = info),
    tokens: () => undefined,
    saveTokens: () => undefined,
    redirectToAuthorization: (to) => void redirected.push(String(to)),
    saveCodeVerifier: () => undefined,
    codeVerifier: () => '',
  };
  const client = new Client({ name: 'sdk-oauth-client', version: '1' });
  await assert.rejects(
    client.connect(new StreamableHTTPClientTransport(new URL(url('/mcp/fx')), { authProvider: provider })),
    (err: Error) => {
      assert.match(err.message, ADVICE);
      return true;
    },
  );
  assert.deepEqual(redirected, []);
});

/** The OAuth requests a client makes, and their answers: the same static body whoever asks. */
const OAUTH_ANSWERS: { method: string; path: string; status: number; error?: string }[] = [
  { method: 'GET', path: '/.well-known/oauth-protected-resource', status: 404, error: 'not_found' },
  { method: 'GET', path: '/.well-known/oauth-protected-resource/mcp/fx', status: 404, error: 'not_found' },
  { method: 'GET', path: '/.well-known/oauth-authorization-server', status: 404, error: 'not_found' },
  { method: 'GET', path: '/.well-known/oauth-authorization-server/mcp/fx', status: 404, error: 'not_found' },
  { method: 'GET', path: '/.well-known/openid-configuration', status: 404, error: 'not_found' },
  { method: 'POST', path: '/register', status: 400, error: 'registration_not_supported' },
  { method: 'GET', path: '/authorize?response_type=code&client_id=x&redirect_uri=http://evil.example/', status: 400 },
];

test('OAuth discovery is answered without a token, by the same static text for every caller, with no CORS headers', async () => {
  for (const { method, path, status, error } of OAUTH_ANSWERS) {
    const answers: string[] = [];
    const callers: Record<string, string>[] = [
      {},
      { Authorization: `Bearer ${TOKEN}`, Origin: url('/').replace(/\/$/, '') },
      { Authorization: `Bearer ${WRONG}` },
    ];
    for (const headers of callers) {
      const answer = await fetch(url(path), {
        method,
        headers: { 'content-type': 'application/json', ...headers },
        ...(method === 'POST' && { body: JSON.stringify({ client_name: WRONG, redirect_uris: ['http://evil.example/'] }) }),
      });
      const text = await answer.text();
      assert.equal(answer.status, status, `${method} ${path}: ${text}`);
      assert.equal(answer.headers.get('access-control-allow-origin'), null, `${method} ${path}`);
      assert.ok(
        !text.includes(WRONG) && !text.includes(TOKEN) && !text.includes('evil.example'),
        `${method} ${path} echoed its request: ${text}`,
      );
      assert.ok(!/\bfx\b|\bagent\b/.test(text), `${method} ${path} names a server or grant: ${text}`);
      answers.push(text);
    }
    assert.equal(new Set(answers).size, 1, `${method} ${path} answers differ by caller`);
    const [text = ''] = answers;
    if (error === undefined) {
      assert.match(text, ADVICE);
      continue;
    }
    const body = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['airlock_code', 'error', 'error_description']);
    assert.equal(body.error, error);
    assert.equal(body.airlock_code, 'AIRLOCK_OAUTH_NOT_SUPPORTED');
    assert.match(String(body.error_description), ADVICE);
    // mcp-remote reads its errors by substring: these would make it wait for a sign-in or retry over SSE.
    assert.doesNotMatch(String(body.error_description), /Unauthorized|404|Not Found|405|Method Not Allowed/);
  }
});

test('OAuth discovery with a foreign Host or Origin is refused like every other route', async () => {
  const port = new URL(gateway.url).port;
  for (const { method, path } of OAUTH_ANSWERS) {
    for (const headers of [{ Host: `evil.example:${port}` }, { Host: `127.0.0.1:${port}`, Origin: 'http://evil.example' }]) {
      const answer = await httpRequest(url(path), {
        method,
        headers: { ...headers, 'content-type': 'application/json' },
        body: method === 'POST' ? '{}' : undefined,
      });
      assert.equal(answer.status, 403, `${method} ${path} ${JSON.stringify(headers)}: ${answer.text}`);
      const body = JSON.parse(answer.text) as { error?: { data?: { airlock_code?: string } } };
      assert.equal(body.error?.data?.airlock_code, 'AIRLOCK_HOST_NOT_ALLOWED', answer.text);
    }
  }
});

test('a 401 never echoes the token that was sent', async () => {
  for (const token of [WRONG, `${TOKEN}x`, 'x'.repeat(4000), '<script>alert(1)</script>', 'tok"en,realm="evil"']) {
    for (const path of ['/mcp/fx', '/mcp']) {
      const answer = await post(url(path), INITIALIZE, { Authorization: `Bearer ${token}` });
      assert.equal(answer.status, 401, JSON.stringify(answer.messages));
      const everything = JSON.stringify(answer.messages) + JSON.stringify([...answer.headers]);
      assert.ok(!everything.includes(token), `${path} echoed ${token.slice(0, 40)}: ${everything.slice(0, 400)}`);
      assert.equal(answer.headers.get('www-authenticate'), 'Bearer realm="airlock"');
    }
  }
});
