import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  evaluate,
  evaluatePrompt,
  evaluateResource,
  isPromptHidden,
  isResourceHidden,
  type AccessDecision,
} from '../../src/policy/index.js';
import { policyFrom, V1 } from '../support/policy.js';

interface Expected {
  action: AccessDecision['action'];
  rule?: string;
  /** The glob that matched; `null` when none may have. */
  matched?: string | null;
  reason?: string[];
}

interface Case {
  name: string;
  policy: object;
  /** A resource URI, or a prompt name. */
  resource?: string;
  prompt?: string;
  expect: Expected;
}

function check(c: Case): void {
  const policy = policyFrom(c.policy);
  const decision = c.resource !== undefined ? evaluateResource(policy, c.resource) : evaluatePrompt(policy, c.prompt!);
  const seen = JSON.stringify(decision);
  assert.equal(decision.action, c.expect.action, seen);
  if (c.expect.rule !== undefined) assert.equal(decision.rule, c.expect.rule, seen);
  if (c.expect.matched !== undefined) assert.equal(decision.matched, c.expect.matched ?? undefined, seen);
  for (const part of c.expect.reason ?? [])
    assert.ok(decision.reason.includes(part), `reason ${JSON.stringify(decision.reason)} should contain ${JSON.stringify(part)}`);
}

const REPORTS = { ...V1, default: 'deny', resources: { allow: ['file:///srv/reports/*'] } };
const resources = (section: object, policyDefault = 'allow') => ({ ...V1, default: policyDefault, resources: section });
const prompts = (section: object, policyDefault = 'allow') => ({ ...V1, default: policyDefault, prompts: section });

const defaults: Case[] = [
  {
    name: 'a policy without a resources section denies every resource under default: deny',
    policy: { ...V1, default: 'deny', tools: { read_file: {} } },
    resource: 'file:///srv/reports/q1.pdf',
    expect: {
      action: 'deny',
      rule: 'default',
      matched: null,
      reason: ['resource "file:///srv/reports/q1.pdf"', 'no resources section', 'its default, deny'],
    },
  },
  {
    name: 'a policy without a resources section allows every resource under default: allow',
    policy: { ...V1, default: 'allow' },
    resource: 'demo://resource/static/document/architecture.md',
    expect: { action: 'allow', rule: 'default', reason: ['its default, allow'] },
  },
  {
    name: 'a policy without a prompts section denies every prompt under default: deny',
    policy: { ...V1, default: 'deny' },
    prompt: 'simple-prompt',
    expect: { action: 'deny', rule: 'default', reason: ['prompt "simple-prompt"', 'no prompts section'] },
  },
  {
    name: 'resources.default: allow opens resources under a policy that denies by default',
    policy: resources({ default: 'allow' }, 'deny'),
    resource: 'file:///etc/passwd',
    expect: { action: 'allow', rule: 'resources.default' },
  },
  {
    name: 'resources.default: deny closes resources under a policy that allows by default',
    policy: resources({ default: 'deny' }, 'allow'),
    resource: 'demo://x',
    expect: { action: 'deny', rule: 'resources.default', reason: ['resources.default is deny'] },
  },
  {
    name: 'a URI no glob matches follows the policy default when the section sets none',
    policy: REPORTS,
    resource: 'file:///srv/secrets/key.pem',
    expect: { action: 'deny', rule: 'default', matched: null, reason: ['matches no glob in resources', "the policy's default is deny"] },
  },
  {
    name: 'prompts.default: allow opens prompts under a policy that denies by default',
    policy: prompts({ default: 'allow' }, 'deny'),
    prompt: 'anything',
    expect: { action: 'allow', rule: 'prompts.default' },
  },
  {
    name: 'the resources section does not decide prompts',
    policy: resources({ default: 'allow', allow: ['**'] }, 'deny'),
    prompt: 'simple-prompt',
    expect: { action: 'deny', rule: 'default' },
  },
  {
    name: 'the prompts section does not decide resources',
    policy: prompts({ default: 'allow' }, 'deny'),
    resource: 'demo://x',
    expect: { action: 'deny', rule: 'default' },
  },
  {
    name: 'the tools-only hide list does not hide resources',
    policy: { ...V1, default: 'allow', hide: ['*'] },
    resource: 'demo://x',
    expect: { action: 'allow', rule: 'default' },
  },
  {
    name: 'the tools-only hide list does not hide prompts',
    policy: { ...V1, default: 'allow', hide: ['*'] },
    prompt: 'simple-prompt',
    expect: { action: 'allow', rule: 'default' },
  },
];

const uriGlobs: Case[] = [
  {
    name: '* matches a file in the folder',
    policy: REPORTS,
    resource: 'file:///srv/reports/q1.pdf',
    expect: {
      action: 'allow',
      rule: 'resources.allow[0]',
      matched: 'file:///srv/reports/*',
      reason: ['allowed by resources.allow[0] ("file:///srv/reports/*")'],
    },
  },
  {
    name: '* does not match across a "/"',
    policy: REPORTS,
    resource: 'file:///srv/reports/2026/q1.pdf',
    expect: { action: 'deny', rule: 'default', matched: null },
  },
  {
    name: '* matches an empty run (the folder itself, with its slash)',
    policy: REPORTS,
    resource: 'file:///srv/reports/',
    expect: { action: 'allow', matched: 'file:///srv/reports/*' },
  },
  {
    name: 'a glob is anchored at its end',
    policy: REPORTS,
    resource: 'file:///srv/reportsX/q1.pdf',
    expect: { action: 'deny', rule: 'default' },
  },
  {
    name: 'a glob is anchored at its start',
    policy: resources({ allow: ['demo://a/*'] }, 'deny'),
    resource: 'xdemo://a/b',
    expect: { action: 'deny', rule: 'default' },
  },
  {
    name: '** matches across "/"',
    policy: resources({ allow: ['file:///srv/reports/**'] }, 'deny'),
    resource: 'file:///srv/reports/2026/q1/a.pdf',
    expect: { action: 'allow', matched: 'file:///srv/reports/**' },
  },
  {
    name: '/**/ matches one "/" too',
    policy: resources({ allow: ['file:///srv/**/a.pdf'] }, 'deny'),
    resource: 'file:///srv/a.pdf',
    expect: { action: 'allow' },
  },
  {
    name: '/**/ matches several folders',
    policy: resources({ allow: ['file:///srv/**/a.pdf'] }, 'deny'),
    resource: 'file:///srv/x/y/a.pdf',
    expect: { action: 'allow' },
  },
  {
    name: '/**/ still needs the literal after it',
    policy: resources({ allow: ['file:///srv/**/a.pdf'] }, 'deny'),
    resource: 'file:///srv/x/b.pdf',
    expect: { action: 'deny' },
  },
  {
    name: '** alone matches every plain URI',
    policy: resources({ deny: ['**'] }),
    resource: 'https://example.com/a?b=c#d',
    expect: { action: 'deny', rule: 'resources.deny[0]', matched: '**' },
  },
  {
    name: '? is a literal character (a query), not a wildcard',
    policy: resources({ allow: ['https://x/api?id=*'] }, 'deny'),
    resource: 'https://x/apiZid=1',
    expect: { action: 'deny', rule: 'default' },
  },
  {
    name: '? matches itself',
    policy: resources({ allow: ['https://x/api?id=*'] }, 'deny'),
    resource: 'https://x/api?id=7',
    expect: { action: 'allow' },
  },
  {
    name: '(a|b) is literal, not an alternation',
    policy: resources({ allow: ['https://x/(a|b)'] }, 'deny'),
    resource: 'https://x/a',
    expect: { action: 'deny' },
  },
  {
    name: 'brackets are literal (an IPv6 host)',
    policy: resources({ allow: ['http://[::1]:8080/*'] }, 'deny'),
    resource: 'http://[::1]:8080/x',
    expect: { action: 'allow' },
  },
  {
    name: 'braces are literal (a template variable)',
    policy: resources({ allow: ['demo://resource/dynamic/text/{resourceId}'] }, 'deny'),
    resource: 'demo://resource/dynamic/text/{resourceId}',
    expect: { action: 'allow' },
  },
  {
    name: 'a template matches the globs of the URIs it makes',
    policy: resources({ allow: ['demo://resource/dynamic/text/*'] }, 'deny'),
    resource: 'demo://resource/dynamic/text/{resourceId}',
    expect: { action: 'allow' },
  },
  {
    name: 'globs are case-sensitive',
    policy: resources({ allow: ['demo://a/readme'] }, 'deny'),
    resource: 'demo://a/README',
    expect: { action: 'deny' },
  },
  {
    name: 'an exact URI matches only itself',
    policy: resources({ allow: ['demo://a/b'] }, 'deny'),
    resource: 'demo://a/b/c',
    expect: { action: 'deny' },
  },
  {
    name: 'an allow glob for a host does not match a URI naming it as a user of another host',
    policy: resources({ allow: ['https://api.example.com/**'] }, 'deny'),
    resource: 'https://api.example.com@evil.test/x',
    expect: { action: 'deny', rule: 'default' },
  },
  {
    name: 'a user before the host is allowed where a glob names it (server-postgres lists postgres://user@host/…)',
    policy: resources({ allow: ['postgres://**/schema'] }, 'deny'),
    resource: 'postgres://reader@db.internal:5432/shop/users/schema',
    expect: { action: 'allow' },
  },
  {
    name: 'plain percent-escapes pass',
    policy: resources({ allow: ['file:///srv/*'] }, 'deny'),
    resource: 'file:///srv/r%C3%A9sum%C3%A9%20v2.pdf',
    expect: { action: 'allow' },
  },
];

const precedence: Case[] = [
  {
    name: 'hide beats deny and allow',
    policy: resources({ allow: ['demo://a/*'], deny: ['demo://a/*'], hide: ['demo://a/*'] }),
    resource: 'demo://a/b',
    expect: { action: 'hide', rule: 'resources.hide[0]', matched: 'demo://a/*', reason: ['hidden by resources.hide[0]'] },
  },
  {
    name: 'deny beats allow',
    policy: resources({ allow: ['demo://a/**'], deny: ['demo://a/secret/*'] }, 'deny'),
    resource: 'demo://a/secret/x',
    expect: {
      action: 'deny',
      rule: 'resources.deny[0]',
      matched: 'demo://a/secret/*',
      reason: ['denied by resources.deny[0] ("demo://a/secret/*")'],
    },
  },
  {
    name: 'allow beats the default',
    policy: resources({ default: 'deny', allow: ['demo://a/**'], deny: ['demo://a/secret/*'] }),
    resource: 'demo://a/public/x',
    expect: { action: 'allow', rule: 'resources.allow[0]' },
  },
  {
    name: 'the first matching glob of a list is the rule',
    policy: resources({ deny: ['demo://b/*', 'demo://a/*', 'demo://**'] }),
    resource: 'demo://a/x',
    expect: { action: 'deny', rule: 'resources.deny[1]' },
  },
  {
    name: 'prompts: hide beats deny and allow',
    policy: prompts({ allow: ['p'], deny: ['p'], hide: ['p'] }),
    prompt: 'p',
    expect: { action: 'hide', rule: 'prompts.hide[0]' },
  },
  {
    name: 'prompts: deny beats allow',
    policy: prompts({ allow: ['*'], deny: ['admin_*'] }, 'deny'),
    prompt: 'admin_reset',
    expect: { action: 'deny', rule: 'prompts.deny[0]', matched: 'admin_*' },
  },
  {
    name: 'prompts: allow beats the default',
    policy: prompts({ allow: ['*'], deny: ['admin_*'] }, 'deny'),
    prompt: 'summarise',
    expect: { action: 'allow', rule: 'prompts.allow[0]', matched: '*' },
  },
];

const promptNames: Case[] = [
  {
    name: 'an exact prompt name',
    policy: prompts({ allow: ['simple-prompt'] }, 'deny'),
    prompt: 'simple-prompt',
    expect: { action: 'allow', matched: 'simple-prompt' },
  },
  {
    name: 'an exact prompt name matches only itself',
    policy: prompts({ allow: ['simple-prompt'] }, 'deny'),
    prompt: 'simple-prompt-2',
    expect: { action: 'deny', rule: 'default' },
  },
  {
    name: 'a prompt glob: * is any run, "/" included',
    policy: prompts({ allow: ['team/*'] }, 'deny'),
    prompt: 'team/a/b',
    expect: { action: 'allow' },
  },
  { name: 'a prompt glob: ? is one character', policy: prompts({ allow: ['v?'] }, 'deny'), prompt: 'v2', expect: { action: 'allow' } },
  { name: 'a prompt glob: ? is not two', policy: prompts({ allow: ['v?'] }, 'deny'), prompt: 'v22', expect: { action: 'deny' } },
  {
    name: 'a prompt name with regex characters is literal',
    policy: prompts({ allow: ['a.b'] }, 'deny'),
    prompt: 'aXb',
    expect: { action: 'deny' },
  },
  {
    name: 'a prompt name longer than 1024 characters is refused while globs are written',
    policy: prompts({ allow: ['*'] }, 'deny'),
    prompt: 'p'.repeat(1_025),
    expect: { action: 'deny', rule: 'prompts', reason: ['characters)', 'longer than the 1024 characters'] },
  },
  {
    name: 'a long prompt name follows the default when no glob is written',
    policy: prompts({ default: 'allow' }, 'deny'),
    prompt: 'p'.repeat(5_000),
    expect: { action: 'allow', rule: 'prompts.default' },
  },
];

const AMBIGUOUS: [string, string, string][] = [
  ['a ".." segment', 'file:///srv/reports/../../etc/passwd', 'has a "." or ".." segment'],
  ['a "." segment', 'file:///srv/reports/./q1.pdf', 'has a "." or ".." segment'],
  ['a ".." after the query', 'file:///srv/reports/a?/../../etc/passwd', 'has a "." or ".." segment'],
  ['a percent-escaped dot', 'file:///srv/reports/%2e%2e/x', 'percent-escape %2e of "."'],
  ['a percent-escaped slash in one segment', 'file:///srv/reports/..%2F..%2Fetc%2Fpasswd', 'percent-escape %2F of "/"'],
  ['a percent-escaped letter', 'file:///srv/reports/%71.pdf', 'percent-escape %71 of "q"'],
  ['a percent-escaped backslash', 'file:///srv/reports/a%5cb', 'percent-escape %5c'],
  ['a "%" without two hex digits', 'file:///srv/reports/100%', 'not a percent-escape'],
  ['a backslash', 'file:///srv/reports/..\\..\\etc', 'a backslash'],
  ['an empty segment', 'file:///srv//reports/q1.pdf', 'empty path segment'],
  ['an upper-case scheme', 'FILE:///srv/reports/q1.pdf', 'lower-case scheme'],
  ['no scheme at all', '/srv/reports/q1.pdf', 'lower-case scheme'],
  ['a file URI with a host', 'file://localhost/srv/reports/q1.pdf', 'names the host "localhost"'],
  ['an upper-case host', 'https://Example.com/a', 'upper-case letters in its host'],
  ['a space', 'file:///srv/reports/a b.pdf', 'a space'],
  ['a newline', 'file:///srv/reports/a\nb.pdf', 'U+000A'],
  ['an escape character', 'file:///srv/reports/\u001b[2Ja.pdf', 'U+001B'],
  ['a right-to-left override', 'file:///srv/reports/\u202efdp.exe', 'U+202E'],
  ['a zero-width space', 'file:///srv/reports/a\u200b.pdf', 'U+200B'],
  ['a no-break space', 'file:///srv/reports/a\u00a0.pdf', 'U+00A0'],
  ['more than 8192 characters', `file:///srv/reports/${'a'.repeat(8_192)}`, 'more than the 8192'],
];

const ambiguity: Case[] = [
  ...AMBIGUOUS.map(([what, uri, says]): Case => ({
    name: `a URI with ${what} is refused while globs are written`,
    policy: resources({ allow: ['file:///srv/reports/**'], deny: ['file:///etc/**', 'https://example.com/**'] }, 'allow'),
    resource: uri,
    expect: { action: 'deny', rule: 'resources', matched: null, reason: [says, 'plain form'] },
  })),
  {
    name: 'an odd URI follows the default when no glob is written (nothing to slip past)',
    policy: resources({ default: 'allow' }, 'deny'),
    resource: 'file:///srv/reports/../x',
    expect: { action: 'allow', rule: 'resources.default' },
  },
  {
    name: 'an odd URI a hide glob matches as written is hidden, not refused',
    policy: resources({ hide: ['file:///srv/secret/**'] }),
    resource: 'file:///srv/secret/a b.txt',
    expect: { action: 'hide', rule: 'resources.hide[0]' },
  },
  {
    name: 'a query may hold "//"',
    policy: resources({ allow: ['https://x/go?**'] }, 'deny'),
    resource: 'https://x/go?to=https://y',
    expect: { action: 'allow' },
  },
];

for (const c of [...defaults, ...uriGlobs, ...precedence, ...promptNames, ...ambiguity]) test(c.name, () => check(c));

test('a huge URI is quoted cut in the reason, with its length', () => {
  const uri = `demo://x/${'a'.repeat(1_000_000)}`;
  const decision = evaluateResource(policyFrom({ ...V1, default: 'deny' }), uri);
  assert.equal(decision.action, 'deny');
  assert.ok(decision.reason.length < 500, `reason of ${decision.reason.length} characters`);
  assert.match(decision.reason, /^resource "demo:\/\/x\/a+"… \(1000009 characters\)/);
});

test('control and bidirectional characters are escaped in a reason, never passed to a terminal', () => {
  const policy = policyFrom({ ...V1, default: 'deny' });
  for (const [text, escaped] of [
    ['\u001b[31m', '\\u001b[31m'],
    ['\u202e', '\\u202e'],
    ['\u0085', '\\u0085'],
    ['a\nb', 'a\\nb'],
  ]) {
    const reasons = [evaluateResource(policy, `demo://${text}`).reason, evaluatePrompt(policy, text!).reason];
    for (const reason of reasons) {
      assert.ok(reason.includes(escaped!), `${JSON.stringify(reason)} should contain ${JSON.stringify(escaped)}`);
      assert.doesNotMatch(reason, /[\p{Cc}\p{Cf}]/u);
    }
  }
});

test('a glob with many ** does not backtrack on a long URI', () => {
  const policy = policyFrom(resources({ allow: ['demo://**a**a**a**a**a**b'] }, 'deny'));
  assert.equal(evaluateResource(policy, `demo://${'a'.repeat(8_000)}`).action, 'deny');
});

test('lists leave out what a hide glob matches, and only that', () => {
  const policy = policyFrom({
    ...V1,
    default: 'deny',
    resources: { hide: ['demo://secret/**'], deny: ['demo://denied/*'] },
    prompts: { hide: ['admin_*'] },
  });
  assert.equal(isResourceHidden(policy, 'demo://secret/a/b'), true);
  assert.equal(isResourceHidden(policy, 'demo://secret/a b'), true);
  // Denied ones are listed, as denied tools are: the agent is told why when it reads one.
  assert.equal(isResourceHidden(policy, 'demo://denied/a'), false);
  assert.equal(isResourceHidden(policy, 'demo://public/a'), false);
  assert.equal(isResourceHidden(policy, 'demo://resource/dynamic/text/{resourceId}'), false);
  assert.equal(isResourceHidden(policy, `demo://public/${'a'.repeat(9_000)}`), true, 'too long to compare: left out');
  assert.equal(isPromptHidden(policy, 'admin_reset'), true);
  assert.equal(isPromptHidden(policy, 'summarise'), false);
  assert.equal(isPromptHidden(policy, 'p'.repeat(2_000)), true);

  const open = policyFrom({ ...V1, default: 'allow' });
  assert.equal(isResourceHidden(open, `demo://public/${'a'.repeat(9_000)}`), false, 'no hide glob: nothing is left out');
  assert.equal(isPromptHidden(open, 'p'.repeat(2_000)), false);
});

test('resources and prompts sections change no decision about tools', () => {
  const base = {
    ...V1,
    default: 'deny',
    hide: ['delete_account'],
    tools: { list_customers: {}, 'delete_*': { action: 'deny', reason: 'Agents may not delete' }, export: { action: 'require_approval' } },
  };
  const withSections = {
    ...base,
    resources: { default: 'allow', allow: ['**'], hide: ['**'] },
    prompts: { default: 'allow', hide: ['*'], deny: ['export'] },
  };
  const [plain, extended] = [policyFrom(base), policyFrom(withSections)];
  for (const tool of ['list_customers', 'delete_user', 'delete_account', 'export', 'unlisted', 'file:///srv/x']) {
    assert.deepEqual(evaluate(extended, { tool, args: {} }), evaluate(plain, { tool, args: {} }), tool);
  }
});

test('a hide decision says what the rest of the policy would answer, for a name that does not exist there', () => {
  const policy = policyFrom({
    ...V1,
    default: 'deny',
    resources: { allow: ['demo://public/*'], hide: ['demo://public/secret', 'demo://private/*'] },
    prompts: { hide: ['admin_*'] },
  });
  const unhidden = (d: AccessDecision) => d.unhidden && [d.unhidden.action, d.unhidden.rule];
  assert.deepEqual(unhidden(evaluateResource(policy, 'demo://public/secret')), ['allow', 'resources.allow[0]']);
  assert.deepEqual(unhidden(evaluateResource(policy, 'demo://private/x')), ['deny', 'default']);
  assert.deepEqual(
    unhidden(evaluateResource(policy, 'demo://private/a b')),
    ['deny', 'resources'],
    'an odd URI: the rest of the policy refuses its form',
  );
  assert.deepEqual(unhidden(evaluatePrompt(policy, 'admin_reset')), ['deny', 'default']);
  assert.equal(evaluateResource(policy, 'demo://public/x').unhidden, undefined);
});
