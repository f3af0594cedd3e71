import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { builtInChannels } from '../../src/channels/index.js';
import { loadConfig, tokenSha256, type LoadedConfig } from '../../src/config/index.js';
import { FS, configTree as tree } from '../support/config-tree.js';

const DOCUMENTED_EXAMPLE = `listen: { host: 127.0.0.1, port: 8080 }
public_url: https://airlock.example.com      # links in Slack messages
redis: { url: "\${REDIS_URL:-redis://127.0.0.1:6379}" }
servers:
  filesystem:                                 # served at /mcp/filesystem
    command: npx
    args: [-y, "@modelcontextprotocol/server-filesystem", ./sandbox]
    env: {}
    policy: policies/filesystem.yaml
  aws-support:
    url: http://127.0.0.1:8000/mcp             # Streamable HTTP, SSE as fallback
    headers: { Authorization: "Bearer \${AWS_MCP_TOKEN}" }
    policy: policies/aws-support.json
grants:                                       # who may call: one bearer token each
  - name: ci-bot
    token: "\${AIRLOCK_TOKEN_CI}"              # or token_sha256: <hex>
    servers: [filesystem]                     # default: all
admins:                                       # who may use /api and the console
  - name: alice
    token: "\${AIRLOCK_ADMIN_TOKEN}"
approvals:
  channel: slack                              # slack | console
  timeout: 10m                                # default for every rule
slack:
  bot_token: "\${SLACK_BOT_TOKEN}"
  signing_secret: "\${SLACK_SIGNING_SECRET}"
  app_token: "\${SLACK_APP_TOKEN}"             # present: Socket Mode; absent: HTTP at /slack/events
  channel: C0123456789
  api_url: "\${SLACK_API_URL:-}"               # Slack Web API base URL override
audit:
  file: ./airlock-audit.jsonl                 # optional JSON-lines mirror for log shipping
`;
const DOCUMENTED_POLICIES = { 'policies/filesystem.yaml': 'version: "1"\n', 'policies/aws-support.json': '{"version":"1"}' };
const DOCUMENTED_ENV = {
  AIRLOCK_TOKEN_CI: 'ci-secret',
  AIRLOCK_ADMIN_TOKEN: 'admin-secret',
  AWS_MCP_TOKEN: 'aws-secret',
  SLACK_BOT_TOKEN: 'xoxb-1',
  SLACK_SIGNING_SECRET: 'signing',
  SLACK_APP_TOKEN: 'xapp-1',
};

interface ValidCase {
  name: string;
  config: string;
  files?: Record<string, string>;
  configName?: string;
  env?: NodeJS.ProcessEnv;
  check: (config: LoadedConfig, dir: string) => void;
}

const valid: ValidCase[] = [
  {
    name: 'the documented example loads, with paths resolved against the config folder',
    config: DOCUMENTED_EXAMPLE,
    files: DOCUMENTED_POLICIES,
    env: DOCUMENTED_ENV,
    check: (c, dir) => {
      assert.deepEqual(c.listen, {
        host: '127.0.0.1',
        port: 8080,
        body_limit: '1mb',
        session_idle_timeout: '30m',
        shutdown_timeout: '20s',
        max_sessions_per_grant: 100,
        max_sessions: 10_000,
        request_state_ttl: '10m',
      });
      assert.equal(c.public_url, 'https://airlock.example.com');
      assert.equal(c.redis.url, 'redis://127.0.0.1:6379');
      assert.deepEqual(c.servers.filesystem, {
        transport: 'stdio',
        command: 'npx',
        args: ['-y', '@modelcontextprotocol/server-filesystem', './sandbox'],
        env: {},
        call_timeout_ms: 60_000,
        policy: join(dir, 'policies/filesystem.yaml'),
        max_list_pages: 100,
        max_list_items: 10_000,
        protocol: 'auto',
        relay: { sampling: true, elicitation: true, roots: true },
        slow: false,
        process: 'shared',
        cwd: dir,
      });
      assert.deepEqual(c.servers['aws-support'], {
        transport: 'http',
        url: 'http://127.0.0.1:8000/mcp',
        headers: { Authorization: 'Bearer aws-secret' },
        call_timeout_ms: 60_000,
        policy: join(dir, 'policies/aws-support.json'),
        max_list_pages: 100,
        max_list_items: 10_000,
        protocol: 'auto',
        relay: { sampling: true, elicitation: true, roots: true },
        slow: false,
      });
      assert.deepEqual(c.grants, [{ name: 'ci-bot', token: 'ci-secret', servers: ['filesystem'] }]);
      assert.deepEqual(c.admins, [{ name: 'alice', token: 'admin-secret' }]);
      assert.deepEqual(c.approvals, {
        channels: ['slack'],
        timeout: '10m',
        timeout_ms: 600_000,
        heartbeat: '15s',
        heartbeat_ms: 15_000,
        retention: '24h',
        retention_ms: 86_400_000,
        max_arguments: '256kb',
        max_arguments_bytes: 262_144,
        pending: { enabled: false, window: '5m', bind: 'session' },
        pending_window_ms: 300_000,
      });
      assert.equal(c.slack?.app_token, 'xapp-1');
      assert.equal(c.slack?.api_url, undefined);
      assert.equal(c.audit.file, join(dir, 'airlock-audit.jsonl'));
      assert.equal(c.file, join(dir, 'airlock.yaml'));
      assert.equal(c.dir, dir);
    },
  },
  {
    name: 'a JSON config file is accepted, $schema included',
    configName: 'airlock.json',
    config: JSON.stringify({
      $schema: './schema/config.json',
      servers: { fs: { url: 'https://mcp.example.com/mcp', policy: 'policies/fs.yaml' } },
    }),
    check: (c, dir) => {
      assert.equal(c.servers.fs?.transport, 'http');
      assert.equal(c.servers.fs?.policy, join(dir, 'policies/fs.yaml'));
      assert.equal('$schema' in c, false);
    },
  },
  {
    name: 'a minimal config gets every default',
    config: FS,
    check: (c, dir) => {
      assert.deepEqual(c.listen, {
        host: '127.0.0.1',
        port: 8080,
        body_limit: '1mb',
        session_idle_timeout: '30m',
        shutdown_timeout: '20s',
        max_sessions_per_grant: 100,
        max_sessions: 10_000,
        request_state_ttl: '10m',
      });
      assert.deepEqual(c.approvals, {
        channels: ['console'],
        timeout: '10m',
        timeout_ms: 600_000,
        heartbeat: '15s',
        heartbeat_ms: 15_000,
        retention: '24h',
        retention_ms: 86_400_000,
        max_arguments: '256kb',
        max_arguments_bytes: 262_144,
        pending: { enabled: false, window: '5m', bind: 'session' },
        pending_window_ms: 300_000,
      });
      assert.deepEqual(c.servers.fs, {
        transport: 'stdio',
        command: 'node',
        args: [],
        env: {},
        call_timeout_ms: 60_000,
        policy: join(dir, 'policies/fs.yaml'),
        max_list_pages: 100,
        max_list_items: 10_000,
        protocol: 'auto',
        relay: { sampling: true, elicitation: true, roots: true },
        slow: false,
        process: 'shared',
        cwd: dir,
      });
      assert.equal(c.grants, undefined);
      assert.equal(c.audit.file, undefined);
      assert.deepEqual(c.tasks, { enabled: true, retention_ms: 3_600_000, poll_interval_ms: 2_000, max_result_bytes: 1024 * 1024 });
    },
  },
  {
    name: 'a slack section makes slack the default approval channel',
    config: `${FS}slack: { bot_token: b, signing_secret: s, channel: C1 }\n`,
    check: (c) => assert.deepEqual(c.approvals.channels, ['slack']),
  },
  {
    name: 'approvals.channel names the one channel, a slack section or not',
    config: `${FS}approvals: { channel: console }\nslack: { bot_token: b, signing_secret: s, channel: C1 }\n`,
    check: (c) => assert.deepEqual(c.approvals.channels, ['console']),
  },
  {
    name: 'approvals.channels lists several, in their order',
    config: `${FS}approvals: { channels: [console, slack] }\nslack: { bot_token: b, signing_secret: s, channel: C1 }\n`,
    check: (c) => assert.deepEqual(c.approvals.channels, ['console', 'slack']),
  },
  {
    name: 'a channel only the process knows (one registered beside the built-in ones) is accepted',
    config: `${FS}approvals: { channels: [pager, console] }\n`,
    check: (c) => assert.deepEqual(c.approvals.channels, ['pager', 'console']),
  },
  {
    name: '${VAR:-default} takes the default when the variable is unset',
    config: `${FS}public_url: "\${PUBLIC:-http://localhost:8080}"\n`,
    check: (c) => assert.equal(c.public_url, 'http://localhost:8080'),
  },
  {
    name: '${VAR:-default} takes the default when the variable is empty',
    config: `${FS}public_url: "\${PUBLIC:-http://localhost:8080}"\n`,
    env: { PUBLIC: '' },
    check: (c) => assert.equal(c.public_url, 'http://localhost:8080'),
  },
  {
    name: '${VAR:-default} takes the variable when it is set',
    config: `${FS}public_url: "\${PUBLIC:-http://localhost:8080}"\n`,
    env: { PUBLIC: 'https://gw.example.com' },
    check: (c) => assert.equal(c.public_url, 'https://gw.example.com'),
  },
  {
    name: '$${ is a literal ${',
    config: `${FS}    args: ["$\${NOT_A_VAR}", "cost: $5"]\n`,
    check: (c) => assert.deepEqual(c.servers.fs?.transport === 'stdio' && c.servers.fs.args, ['${NOT_A_VAR}', 'cost: $5']),
  },
  {
    name: 'an optional value that interpolates to "" is absent',
    config: `${FS}public_url: "\${P:-}"\nslack: { bot_token: b, signing_secret: s, channel: C1, app_token: "\${A:-}", api_url: "\${U:-}" }\naudit: { file: "\${F:-}" }\n`,
    check: (c) => {
      assert.equal(c.public_url, undefined);
      assert.equal(c.slack?.app_token, undefined);
      assert.equal(c.slack?.api_url, undefined);
      assert.equal(c.audit.file, undefined);
    },
  },
  {
    name: 'audit.anchor_key from the environment, and the checkpoint defaults',
    config: `${FS}audit: { anchor_key: "\${AIRLOCK_AUDIT_ANCHOR_KEY}" }\n`,
    env: { AIRLOCK_AUDIT_ANCHOR_KEY: 'k'.repeat(32) },
    check: (c) => {
      assert.equal(c.audit.anchor_key, 'k'.repeat(32));
      assert.deepEqual(c.audit.checkpoint, { events: 100, interval: '60s', interval_ms: 60_000 });
    },
  },
  {
    name: 'audit.anchor_key from an unset "${VAR:-}" is not set; checkpoint settings are taken anyway',
    config: `${FS}audit: { anchor_key: "\${AIRLOCK_AUDIT_ANCHOR_KEY:-}", checkpoint: { events: 10, interval: 5m } }\n`,
    check: (c) => {
      assert.equal(c.audit.anchor_key, undefined);
      assert.deepEqual(c.audit.checkpoint, { events: 10, interval: '5m', interval_ms: 300_000 });
    },
  },
  {
    name: 'audit.max_events and retention above what the checkpoints need',
    config: `${FS}audit: { anchor_key: "${'k'.repeat(40)}", checkpoint: { events: 10, interval: 1m }, max_events: 1035, retention: 121s }\n`,
    check: (c) => assert.equal(c.audit.max_events, 1035),
  },
  {
    name: 'an environment value is data, never YAML',
    config: `${FS}    args: ["\${EVIL}"]\n`,
    env: { EVIL: 'x\nlisten: { port: 1 }' },
    check: (c) => {
      assert.deepEqual(c.servers.fs?.transport === 'stdio' && c.servers.fs.args, ['x\nlisten: { port: 1 }']);
      assert.equal(c.listen.port, 8080);
    },
  },
  {
    name: 'keys are not interpolated',
    config: `${FS}    env: { "\${KEY}": v }\n`,
    env: { KEY: 'changed' },
    check: (c) => assert.deepEqual(c.servers.fs?.transport === 'stdio' && c.servers.fs.env, { '${KEY}': 'v' }),
  },
  {
    name: 'a port may come from the environment as text',
    config: `${FS}listen: { port: "\${PORT:-9090}" }\n`,
    check: (c) => assert.equal(c.listen.port, 9090),
  },
  {
    name: 'a default is only expanded when used',
    config: `${FS}public_url: "\${A:-\${B}}"\n`,
    env: { A: 'https://a.example.com' },
    check: (c) => assert.equal(c.public_url, 'https://a.example.com'),
  },
  {
    name: 'cwd is resolved against the config folder while command and args stay as written',
    config: 'servers:\n  fs:\n    command: ./bin/server\n    args: [./data]\n    cwd: work\n    policy: policies/fs.yaml\n',
    check: (c, dir) => {
      assert.ok(c.servers.fs?.transport === 'stdio');
      assert.equal(c.servers.fs.command, './bin/server');
      assert.deepEqual(c.servers.fs.args, ['./data']);
      assert.equal(c.servers.fs.cwd, join(dir, 'work'));
    },
  },
  {
    name: 'a token given as its SHA-256 is accepted in either case of hex',
    config: `${FS}grants:\n  - name: ci\n    token_sha256: ${tokenSha256({ token: 't' }).toUpperCase()}\n`,
    check: (c) => assert.equal(c.grants?.[0] && tokenSha256(c.grants[0]), tokenSha256({ token: 't' })),
  },
  {
    name: 'a call timeout, a body limit and a log level are read',
    config:
      FS.replace('    command: node\n', '    command: node\n    call_timeout: 5m\n') +
      'listen: { body_limit: 256kb }\nlog: { level: debug }\n',
    check: (c) => {
      assert.equal(c.servers.fs?.call_timeout_ms, 300_000);
      assert.equal(c.listen.body_limit, '256kb');
      assert.equal(c.log.level, 'debug');
    },
  },
  {
    name: 'session limits and list caps are read, from the environment too',
    config:
      FS.replace('    command: node\n', '    command: node\n    max_list_pages: 5\n    max_list_items: "${MAX_ITEMS:-250}"\n') +
      'listen: { max_sessions_per_grant: 20, max_sessions: "${MAX_SESSIONS:-500}" }\n',
    check: (c) => {
      assert.equal(c.servers.fs?.max_list_pages, 5);
      assert.equal(c.servers.fs?.max_list_items, 250);
      assert.equal(c.listen.max_sessions_per_grant, 20);
      assert.equal(c.listen.max_sessions, 500);
    },
  },
  {
    name: 'pretty logs, a separate metrics listener and a shutdown timeout are read',
    config: `${FS}log: { pretty: true }\nmetrics: { listen: { port: "\${METRICS_PORT:-9464}" } }\nlisten: { shutdown_timeout: 45s }\n`,
    check: (c) => {
      assert.equal(c.log.pretty, true);
      assert.deepEqual(c.metrics.listen, { host: '127.0.0.1', port: 9464 });
      assert.equal(c.listen.shutdown_timeout, '45s');
    },
  },
  {
    name: 'log.pretty is auto unless set',
    config: FS,
    check: (c) => assert.equal(c.log.pretty, 'auto'),
  },
  {
    name: 'log.pretty: auto is read',
    config: `${FS}log: { pretty: auto }\n`,
    check: (c) => assert.equal(c.log.pretty, 'auto'),
  },
  {
    name: 'listen.allowed_hosts takes host names, IP addresses and host:port, IPv6 in brackets',
    config: `${FS}listen: { host: 0.0.0.0, allowed_hosts: [airlock.internal, "gw.internal:8443", 10.0.0.5, "[fd00::1]:9000", my_service] }\n`,
    check: (c) =>
      assert.deepEqual(c.listen.allowed_hosts, ['airlock.internal', 'gw.internal:8443', '10.0.0.5', '[fd00::1]:9000', 'my_service']),
  },
];

for (const c of valid) {
  test(c.name, () => {
    const { dir, file } = tree(c.config, c.files, c.configName);
    c.check(loadConfig(file, c.env ?? {}, { channels: [...builtInChannels().names, 'pager'] }), dir);
  });
}
