import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const manifest = parse(readFileSync(fileURLToPath(new URL('../../slack-app-manifest.yaml', import.meta.url)), 'utf8')) as {
  oauth_config: { scopes: { bot: string[] } };
  settings: { interactivity: { is_enabled: boolean; request_url: string }; socket_mode_enabled: boolean };
};

const cases: { name: string; check: () => void }[] = [
  {
    name: 'has the bot scopes of every Web API method Airlock calls',
    check: () => assert.deepEqual([...manifest.oauth_config.scopes.bot].sort(), ['chat:write', 'usergroups:read', 'users:read']),
  },
  {
    name: 'enables interactivity at /slack/events',
    check: () =>
      assert.ok(manifest.settings.interactivity.is_enabled && manifest.settings.interactivity.request_url.endsWith('/slack/events')),
  },
  {
    name: 'says whether Socket Mode is on (off: HTTP mode is the default)',
    check: () => assert.equal(manifest.settings.socket_mode_enabled, false),
  },
];

for (const c of cases) test(`slack-app-manifest.yaml ${c.name}`, c.check);
