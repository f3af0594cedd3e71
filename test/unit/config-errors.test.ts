import assert from 'node:assert/strict';
import { test } from 'node:test';
import { builtInChannels } from '../../src/channels/index.js';
import { loadConfig, tokenSha256 } from '../../src/config/index.js';
import { DocumentError, ErrorCode, formatProblem } from '../../src/errors.js';
import { FS, configTree as tree } from '../support/config-tree.js';

interface InvalidCase {
  name: string;
  /** undefined: the config file is not written. */
  config: string | undefined;
  files?: Record<string, string>;
  configName?: string;
  env?: NodeJS.ProcessEnv;
  /** Each problem as formatted, without the leading "<config file>: " (`<dir>` stands for the folder), or a pattern for it. */
  problems: (string | RegExp)[];
  /** Secrets the message must not show. */
  hides?: string[];
}

const SLACK = 'slack: { bot_token: b, signing_secret: s, channel: C1 }\n';
const grant = (lines: string): string => `${FS}grants:\n${lines}`;

const invalid: InvalidCase[] = [
  { name: 'a missing config file', config: undefined, problems: ['file not found'] },
  { name: 'an empty config file', config: '', problems: ['file is empty'] },
  { name: 'a config file of only comments', config: '# nothing yet\n', problems: ['file is empty'] },
  { name: 'a config that is not a mapping', config: '- a\n- b\n', problems: ['expected a mapping, got a list (line 1)'] },
  { name: 'invalid JSON', configName: 'airlock.json', config: '{"servers": }', problems: [/^invalid JSON: Unexpected token/] },
  {
    name: 'a duplicated key names its line',
    config: `${FS}listen: { port: 1 }\nlisten: { port: 2 }\n`,
    problems: ['invalid YAML: Map keys must be unique (line 6)'],
  },
  {
    name: 'a server whose policy file is missing',
    config: 'servers:\n  filesystem:\n    command: npx\n    policy: policies/filesystem.yaml\n',
    problems: ['servers.filesystem.policy: policy file not found: <dir>/policies/filesystem.yaml (line 4)'],
  },
  {
    name: 'a policy path that is a folder',
    config: FS.replace('policies/fs.yaml', 'policies'),
    problems: ['servers.fs.policy: policy file is not a file: <dir>/policies (line 4)'],
  },
  {
    name: 'an unset variable without a default',
    config: grant('  - name: ci\n    token: "${AIRLOCK_TOKEN_CI}"\n'),
    problems: ['grants[0].token: environment variable AIRLOCK_TOKEN_CI is not set (use ${AIRLOCK_TOKEN_CI:-value} for a default) (line 7)'],
  },
  {
    name: 'only the env argument is read, not process.env',
    config: `${FS}public_url: "http://\${PATH}"\n`,
    problems: ['public_url: environment variable PATH is not set (use ${PATH:-value} for a default) (line 5)'],
  },
  {
    name: 'an unset variable is one problem, not also a missing policy file',
    config: 'servers:\n  fs:\n    command: node\n    policy: "${POLICY_DIR}/fs.yaml"\n',
    problems: ['servers.fs.policy: environment variable POLICY_DIR is not set (use ${POLICY_DIR:-value} for a default) (line 4)'],
  },
  {
    name: 'an unterminated default',
    config: `${FS}public_url: "\${URL:-http://x"\n`,
    problems: ['public_url: unterminated "${...:-default}" in "${URL:-http://x": a "}" is missing (line 5)'],
  },
  {
    name: 'a reference that is not a variable name',
    config: `${FS}public_url: "\${1URL}"\n`,
    problems: [
      'public_url: cannot read "${1URL}" as a variable reference: write ${NAME} or ${NAME:-default}, or $${ for a literal "${" (line 5)',
    ],
  },
  {
    name: 'an unknown top-level key suggests the right one',
    config: `listn: { port: 1 }\n${FS}`,
    problems: ['listn: unknown key, did you mean "listen"? (line 1)'],
  },
  {
    name: 'a typo in a server key suggests the right one',
    config: FS.replace('command', 'comand'),
    problems: ['servers.fs.comand: unknown key, did you mean "command"? (line 3)'],
  },
  {
    name: 'a port given as a word',
    config: `${FS}listen: { port: ten }\n`,
    problems: ['listen.port: expected a number, got "ten" (line 5)'],
  },
  { name: 'a body limit that is not a size', config: `${FS}listen: { body_limit: lots }\n`, problems: [/^listen\.body_limit: /] },
  {
    name: 'log.pretty takes true, false or auto, nothing else',
    config: `${FS}log: { pretty: "yes" }\n`,
    problems: [/^log\.pretty: .*"yes".*\(line 5\)$/],
  },
  {
    name: 'an unknown log level suggests one',
    config: `${FS}log: { level: verbos }\n`,
    problems: [/^log\.level: expected one of .*got "verbos", did you mean "debug"\?|^log\.level: .*verbos/],
  },
  {
    name: 'a call timeout of zero',
    config: FS.replace('    command: node\n', '    command: node\n    call_timeout: 0s\n'),
    problems: ['servers.fs.call_timeout: must be longer than zero, got "0s" (line 4)'],
  },
  {
    name: 'an upstream protocol that is not one Airlock speaks',
    config: FS.replace('    command: node\n', '    command: node\n    protocol: 2026\n'),
    problems: ['servers.fs.protocol: expected one of "auto", "2025-11-25", "2026-07-28", got 2026 (line 4)'],
  },
  {
    name: 'a list cap of zero (it would turn the cap off, not read nothing)',
    config: FS.replace('    command: node\n', '    command: node\n    max_list_pages: 0\n'),
    problems: ['servers.fs.max_list_pages: must be at least 1, got 0 (line 4)'],
  },
  {
    name: 'a list cap past its most',
    config: FS.replace('    command: node\n', '    command: node\n    max_list_pages: 20000\n'),
    problems: ['servers.fs.max_list_pages: must be at most 10000, got 20000 (line 4)'],
  },
  {
    name: 'a list cap given as a word',
    config: FS.replace('    command: node\n', '    command: node\n    max_list_items: lots\n'),
    problems: ['servers.fs.max_list_items: expected a number, got "lots" (line 4)'],
  },
  {
    name: 'a list cap left empty',
    config: FS.replace('    command: node\n', '    command: node\n    max_list_items:\n'),
    problems: ['servers.fs.max_list_items: expected a whole number, got null (line 4)'],
  },
  {
    name: 'a session limit that is not whole',
    config: `${FS}listen: { max_sessions_per_grant: 2.5 }\n`,
    problems: ['listen.max_sessions_per_grant: expected an integer, got 2.5 (line 5)'],
  },
  {
    name: 'a negative session limit',
    config: `${FS}listen: { max_sessions: -1 }\n`,
    problems: ['listen.max_sessions: must be at least 1, got -1 (line 5)'],
  },
  {
    name: 'a session limit left empty',
    config: `${FS}listen: { max_sessions: null }\n`,
    problems: ['listen.max_sessions: expected a whole number, got null (line 5)'],
  },
  {
    name: 'a port out of range',
    config: `${FS}listen: { port: 70000 }\n`,
    problems: ['listen.port: must be at most 65535, got 70000 (line 5)'],
  },
  {
    name: 'a port that is neither number nor text',
    config: `${FS}listen: { port: true }\n`,
    problems: ['listen.port: expected a port number, got true (line 5)'],
  },
  {
    name: 'allowed_hosts entries that are not a bare host and port (a URL, user info, a path, IPv6 without brackets)',
    config: `${FS}listen:\n  allowed_hosts:\n    - http://airlock.internal\n    - evil.com@airlock\n    - airlock/x\n    - "fd00::1"\n    - good.internal:8443\n`,
    problems: [0, 1, 2, 3].map(
      (i) =>
        `listen.allowed_hosts[${i}]: expected a host name or IP address, optionally with ":port" (an IPv6 address in brackets: "[fd00::1]:8080") (line ${i + 7})`,
    ),
  },
  { name: 'args that are not a list', config: `${FS}    args: -y\n`, problems: ['servers.fs.args: expected a list, got "-y" (line 5)'] },
  { name: 'a config without servers', config: 'listen: { port: 1 }\n', problems: ['servers: required: expected a mapping (line 1)'] },
  {
    name: 'a server name in upper case',
    config: FS.replace('fs:', 'FS:'),
    problems: ['servers.FS: server names use lowercase letters, digits, "-" and "_", and start with a letter or digit (line 2)'],
  },
  {
    name: 'a server name containing "__"',
    config: FS.replace('fs:', 'my__fs:'),
    problems: ['servers.my__fs: server names must not contain "__" (it separates server and tool names on /mcp) (line 2)'],
  },
  {
    name: 'a server with both command and url',
    config: `${FS}    url: http://127.0.0.1:8000/mcp\n`,
    problems: ['servers.fs: has both "command" (a stdio server) and "url" (an HTTP server); give one (line 2)'],
  },
  {
    name: 'a server with neither command nor url',
    config: 'servers:\n  fs:\n    policy: policies/fs.yaml\n',
    problems: ['servers.fs: needs "command" (a stdio server) or "url" (an HTTP server) (line 2)'],
  },
  {
    name: 'a server without a policy',
    config: 'servers:\n  fs:\n    command: node\n',
    problems: ['servers.fs.policy: required: expected a string (line 2)'],
  },
  {
    name: 'headers on a stdio server',
    config: `${FS}    headers: { A: b }\n`,
    problems: ['servers.fs.headers: "headers" is for HTTP servers (with "url"), not stdio servers (line 5)'],
  },
  {
    name: 'args on an HTTP server',
    config: 'servers:\n  web:\n    url: https://x.example.com/mcp\n    args: [a]\n    policy: policies/fs.yaml\n',
    problems: ['servers.web.args: "args" is for stdio servers (with "command"), not HTTP servers (line 4)'],
  },
  {
    name: 'process on an HTTP server',
    config: 'servers:\n  web:\n    url: https://x.example.com/mcp\n    process: per_session\n    policy: policies/fs.yaml\n',
    problems: ['servers.web.process: "process" is for stdio servers (with "command"), not HTTP servers (line 4)'],
  },
  {
    name: 'a process mode that does not exist',
    config: 'servers:\n  fs:\n    command: node\n    process: per_call\n    policy: policies/fs.yaml\n',
    problems: ['servers.fs.process: expected one of "shared", "per_session", got "per_call" (line 4)'],
  },
  {
    name: 'a relay key that does not exist, and one that is not a boolean',
    config: 'servers:\n  fs:\n    command: node\n    relay: { sampling: no, elicitations: false }\n    policy: policies/fs.yaml\n',
    problems: [
      'servers.fs.relay.sampling: expected true or false, got "no" (line 4)',
      'servers.fs.relay.elicitations: unknown key, did you mean "elicitation"? (line 4)',
    ],
  },
  {
    name: 'an upstream URL that is not http(s)',
    config: 'servers:\n  web:\n    url: ftp://x.example.com\n    policy: policies/fs.yaml\n',
    problems: ['servers.web.url: expected an http:// or https:// URL, got "ftp://x.example.com" (line 3)'],
  },
  {
    name: 'a redis URL that is not redis://',
    config: `${FS}redis: { url: "http://localhost:6379" }\n`,
    problems: ['redis.url: expected a redis:// or rediss:// URL (not repeated here: it may hold a password) (line 5)'],
  },
  {
    name: 'a grant with both token and token_sha256',
    config: grant(`  - name: ci\n    token: t\n    token_sha256: ${'a'.repeat(64)}\n`),
    problems: ['grants[0]: has both "token" and "token_sha256"; give one (line 6)'],
  },
  { name: 'a grant with no token', config: grant('  - name: ci\n'), problems: ['grants[0]: needs "token" or "token_sha256" (line 6)'] },
  {
    name: 'a grant with an empty token',
    config: grant('  - name: ci\n    token: "${T}"\n'),
    env: { T: '' },
    problems: ['grants[0].token: must not be empty (line 7)'],
  },
  {
    name: 'a token_sha256 that is not 64 hex characters',
    config: grant('  - name: ci\n    token_sha256: abc\n'),
    problems: ['grants[0].token_sha256: expected 64 hex characters (the SHA-256 of the token) (line 7)'],
  },
  {
    name: 'a grant naming an unknown server gets a suggestion',
    config: grant('  - name: ci\n    token: t\n    servers: [fss]\n'),
    problems: ['grants[0].servers[0]: unknown server "fss", did you mean "fs"? (line 8)'],
  },
  {
    name: 'two grants with one name',
    config: grant('  - name: ci\n    token: a\n  - name: ci\n    token: b\n'),
    problems: ['grants[1].name: duplicate name "ci" (also grants[0]) (line 8)'],
  },
  {
    name: 'two grants with one token, once as its hash',
    config: grant(`  - name: a\n    token: t\n  - name: b\n    token_sha256: ${tokenSha256({ token: 't' })}\n`),
    problems: ['grants[1].token_sha256: same token as grants[0]: every entry needs its own (line 9)'],
  },
  {
    name: 'an admin token that is also a grant token (the agent could approve its own calls)',
    config: grant(`  - name: ci\n    token: shared\nadmins:\n  - name: al\n    token_sha256: ${tokenSha256({ token: 'shared' })}\n`),
    problems: ['admins[0].token_sha256: same token as grants[0]: an agent holding it could approve its own calls (line 10)'],
  },
  {
    name: 'two admins with one name',
    config: `${FS}admins:\n  - { name: al, token: a }\n  - { name: al, token: b }\n`,
    problems: ['admins[1].name: duplicate name "al" (also admins[0]) (line 7)'],
  },
  {
    name: 'approvals by slack without a slack section',
    config: `${FS}approvals: { channel: slack }\n`,
    problems: ['approvals.channel: is "slack" but there is no slack section: add one, or use "console" (line 5)'],
  },
  {
    name: 'a misspelt approval channel',
    config: `${FS}approvals: { channel: slak }\n${SLACK}`,
    problems: ['approvals.channel: expected one of "slack", "console", got "slak", did you mean "slack"? (line 5)'],
  },
  {
    name: 'a misspelt channel in a list names its entry',
    config: `${FS}approvals:\n  channels: [slack, consle]\n${SLACK}`,
    problems: ['approvals.channels[1]: expected one of "slack", "console", got "consle", did you mean "console"? (line 6)'],
  },
  {
    name: 'approvals.channel and approvals.channels both given',
    config: `${FS}approvals:\n  channel: slack\n  channels: [slack, console]\n${SLACK}`,
    problems: ['approvals: has both "channel" (one channel) and "channels" (a list of them); give one (line 5)'],
  },
  {
    name: 'a channel listed twice',
    config: `${FS}approvals:\n  channels: [console, console]\n`,
    problems: ['approvals.channels[1]: duplicate channel "console" (also approvals.channels[0]) (line 6)'],
  },
  {
    name: 'an empty list of channels',
    config: `${FS}approvals: { channels: [] }\n`,
    problems: ['approvals.channels: list at least one channel, or leave the key out (line 5)'],
  },
  {
    name: 'slack among the channels without a slack section',
    config: `${FS}approvals:\n  channels: [console, slack]\n`,
    problems: ['approvals.channels[1]: is "slack" but there is no slack section: add one, or use "console" (line 6)'],
  },
  {
    name: 'an approval timeout beyond 30 days',
    config: `${FS}approvals: { timeout: 40d }\n`,
    problems: ['approvals.timeout: at most 30 days, got "40d" (line 5)'],
  },
  {
    name: 'a slack section without its signing secret',
    config: `${FS}slack: { bot_token: b, channel: C1 }\n`,
    problems: ['slack.signing_secret: required: expected a string (line 5)'],
  },
  {
    name: 'an approvers entry that names nobody gets a suggestion',
    config: `${FS}admins:\n  - { name: alice, token: a }\napprovals: { approvers: [U0BOB, alcie] }\n`,
    problems: [
      'approvals.approvers[1]: "alcie" names no admin, person, Slack user (U…, W…) or Slack user group (S…), did you mean "alice"? (line 7)',
    ],
  },
  {
    name: 'an empty approvers list',
    config: `${FS}approvals: { approvers: [] }\n`,
    problems: ['approvals.approvers: list at least one approver, or leave the key out (line 5)'],
  },
  {
    name: 'a person naming an admin that does not exist',
    config: `${FS}admins:\n  - { name: alice, token: a }\npeople:\n  - { name: Alice, slack: [U0ALICE], admins: [alise] }\n`,
    problems: ['people[0].admins[0]: no admin named "alise", did you mean "alice"? (line 8)'],
  },
  {
    name: 'one identity in two people',
    config: `${FS}admins:\n  - { name: alice, token: a }\npeople:\n  - { name: Alice, slack: [U0ALICE] }\n  - { name: Bob, slack: [U0ALICE] }\n`,
    problems: ['people[1].slack[0]: "U0ALICE" already belongs to people[0]: an identity is one person\'s (line 9)'],
  },
  {
    name: 'a person with no identity',
    config: `${FS}people:\n  - { name: Alice }\n`,
    problems: ['people[0]: links no identity: give "slack" (Slack user ids) and/or "admins" (admin names) (line 6)'],
  },
  {
    name: 'a person whose Slack id is not one',
    config: `${FS}people:\n  - { name: Alice, slack: [alice] }\n`,
    problems: [/^people\[0\]\.slack\[0\]: expected a Slack user id \(U… or W…/],
  },
  {
    name: 'a person named like another admin (an approvers list naming it would be ambiguous)',
    config: `${FS}admins:\n  - { name: alice, token: a }\n  - { name: bob, token: b }\npeople:\n  - { name: bob, admins: [alice] }\n`,
    problems: [/^people\[0\]\.name: "bob" is also an admin's name but not among this person's admins/],
  },
  {
    name: 'two people with one name',
    config: `${FS}people:\n  - { name: A, slack: [U1A] }\n  - { name: A, slack: [U2A] }\n`,
    problems: ['people[1].name: duplicate name "A" (also people[0]) (line 7)'],
  },
  {
    name: 'an anchor key too short to be safe; the key is not shown',
    config: `${FS}audit: { anchor_key: "\${KEY}" }\n`,
    env: { KEY: 'short-secret-value' },
    hides: ['short-secret-value'],
    problems: [
      'audit.anchor_key: too short: an anchor key needs at least 32 characters (openssl rand -base64 32 makes one); it is not shown here (line 5)',
    ],
  },
  {
    name: 'an anchor key that YAML reads as a number; the key is not shown',
    config: `${FS}audit:\n  anchor_key: 123456789012345678901234567890123456\n`,
    hides: ['1234567890'],
    problems: ['audit.anchor_key: expected a string (quote the key; it is not shown here) (line 6)'],
  },
  {
    name: 'with an anchor key, max_events that would trim the newest checkpoint away',
    config: `${FS}audit: { anchor_key: "${'k'.repeat(40)}", checkpoint: { events: 10 }, max_events: 1034 }\n`,
    problems: [
      /^audit\.max_events: must be more than 1034 \(audit\.checkpoint\.events \+ 1024\) while audit\.anchor_key is set, .* \(line 5\)$/,
    ],
  },
  {
    name: 'with an anchor key, a retention shorter than a checkpoint may be old',
    config: `${FS}audit: { anchor_key: "${'k'.repeat(40)}", checkpoint: { interval: 1m }, retention: 2m }\n`,
    problems: [
      /^audit\.retention: must be longer than 2 minutes \(1\.5 × audit\.checkpoint\.interval \+ 30 s\) while audit\.anchor_key is set, .* \(line 5\)$/,
    ],
  },
  {
    name: 'checkpoint.events of 0',
    config: `${FS}audit: { checkpoint: { events: 0 } }\n`,
    problems: ['audit.checkpoint.events: must be at least 1, got 0 (line 5)'],
  },
  {
    name: 'checkpoint.interval that is not a duration',
    config: `${FS}audit: { checkpoint: { interval: soon } }\n`,
    problems: [/^audit\.checkpoint\.interval: expected a duration like "90s"/],
  },
  {
    name: 'an unknown checkpoint key',
    config: `${FS}audit: { checkpoint: { every: 10 } }\n`,
    problems: ['audit.checkpoint.every: unknown key (expected one of: events, interval) (line 5)'],
  },
  {
    name: 'every problem is reported at once, in document order',
    config: 'listn: 1\nservers:\n  fs:\n    command: node\n    policy: policies/other.yaml\ngrants:\n  - name: ci\n    token: "${NOPE}"\n',
    problems: [
      'listn: unknown key, did you mean "listen"? (line 1)',
      'servers.fs.policy: policy file not found: <dir>/policies/other.yaml (line 5)',
      'grants[0].token: environment variable NOPE is not set (use ${NOPE:-value} for a default) (line 8)',
    ],
  },
];

for (const c of invalid) {
  test(`rejected: ${c.name}`, () => {
    const { dir, file } = tree(c.config, c.files, c.configName);
    assert.throws(
      () => loadConfig(file, c.env ?? {}, { channels: builtInChannels().names }),
      (err: unknown) => {
        assert.ok(err instanceof DocumentError);
        assert.equal(err.code, ErrorCode.ConfigInvalid);
        const got = err.problems.map(formatProblem);
        for (const secret of c.hides ?? []) assert.ok(!err.message.includes(secret), `the message shows ${secret}`);
        assert.equal(got.length, c.problems.length, got.join('\n'));
        c.problems.forEach((expected, i) => {
          const line = got[i] ?? '';
          assert.ok(line.startsWith(`${file}: `), line);
          if (expected instanceof RegExp) assert.match(line.slice(file.length + 2), expected);
          else assert.equal(line, `${file}: ${expected.replaceAll('<dir>', dir)}`);
        });
        return true;
      },
    );
  });
}
