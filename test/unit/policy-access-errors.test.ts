import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode } from '../../src/errors.js';
import { policyError, policyFrom } from '../support/policy.js';

interface Case {
  name: string;
  policy: object | string;
  file?: string;
  /** Each problem's path, line (when checked) and what its message says, in the order reported. */
  problems: { path: string; says: string[]; line?: number }[];
}

const V1 = { version: '1', default: 'deny' } as const;
const resources = (section: object) => ({ ...V1, resources: section });
const prompts = (section: object) => ({ ...V1, prompts: section });
const NEVER = 'this glob can never match';

const cases: Case[] = [
  {
    name: 'an empty URI glob',
    policy: resources({ allow: [''] }),
    problems: [{ path: 'resources.allow[0]', says: ['an empty glob matches no URI'] }],
  },
  {
    name: 'a URI glob with an upper-case scheme',
    policy: resources({ deny: ['file:///etc/*', 'FILE:///etc/*'] }),
    problems: [{ path: 'resources.deny[1]', says: [NEVER, 'lower-case scheme', 'refused while resources has globs'] }],
  },
  {
    name: 'a URI glob with a ".." segment',
    policy: resources({ hide: ['file:///srv/../etc/*'] }),
    problems: [{ path: 'resources.hide[0]', says: [NEVER, '".." segment'] }],
  },
  {
    name: 'a URI glob with a space',
    policy: resources({ allow: ['file:///srv/My Documents/*'] }),
    problems: [{ path: 'resources.allow[0]', says: [NEVER, 'a space'] }],
  },
  {
    name: 'a URI glob with a percent-escaped slash',
    policy: resources({ allow: ['file:///srv/a%2Fb'] }),
    problems: [{ path: 'resources.allow[0]', says: [NEVER, '%2F'] }],
  },
  {
    name: 'a URI glob naming a host in a file URI',
    policy: resources({ allow: ['file://localhost/srv/*'] }),
    problems: [{ path: 'resources.allow[0]', says: [NEVER, 'host "localhost"'] }],
  },
  {
    name: 'a URI glob with an upper-case host',
    policy: resources({ deny: ['https://Intranet.example.com/**'] }),
    problems: [{ path: 'resources.deny[0]', says: [NEVER, 'upper-case'] }],
  },
  {
    name: 'a URI glob longer than any URI compared',
    policy: resources({ deny: [`demo://${'a'.repeat(8_200)}`] }),
    problems: [{ path: 'resources.deny[0]', says: ['longer than 8192'] }],
  },
  {
    name: 'a URI glob written as a prompt name (no scheme)',
    policy: resources({ hide: ['secret-doc'] }),
    problems: [{ path: 'resources.hide[0]', says: [NEVER, 'lower-case scheme'] }],
  },
  {
    name: 'an empty prompt name',
    policy: prompts({ hide: ['ok', ''] }),
    problems: [{ path: 'prompts.hide[1]', says: ['an empty name matches no prompt'] }],
  },
  {
    name: 'a glob list written as one string',
    policy: resources({ allow: 'file:///srv/*' }),
    problems: [{ path: 'resources.allow', says: ['expected a list, got "file:///srv/*"'] }],
  },
  {
    name: 'a glob that is not a string',
    policy: prompts({ deny: [42] }),
    problems: [{ path: 'prompts.deny[0]', says: ['expected a string, got 42'] }],
  },
  {
    name: 'a section default other than allow or deny',
    policy: resources({ default: 'require_approval' }),
    problems: [{ path: 'resources.default', says: ['"allow", "deny"', 'got "require_approval"'] }],
  },
  {
    name: 'a misspelt key in a section suggests the right one',
    policy: prompts({ alow: ['x'] }),
    problems: [{ path: 'prompts.alow', says: ['unknown key', 'did you mean "allow"?'] }],
  },
  {
    name: 'a misspelt section suggests the right one',
    policy: { ...V1, resource: { allow: [] } },
    problems: [{ path: 'resource', says: ['unknown key', 'did you mean "resources"?'] }],
  },
  {
    name: 'a section that is not an object',
    policy: { ...V1, prompts: ['x'] },
    problems: [{ path: 'prompts', says: ['expected a mapping, got a list'] }],
  },
  {
    name: 'a YAML policy names the line of each bad glob, every one reported',
    file: 'p.yaml',
    policy:
      'version: "1"\ndefault: deny\nresources:\n  allow:\n    - file:///srv/reports/*\n    - "FILE:///srv/*"\n  hide:\n    - file:///srv/./x\nprompts:\n  deny: [""]\n',
    problems: [
      { path: 'resources.allow[1]', says: [NEVER], line: 6 },
      { path: 'resources.hide[0]', says: [NEVER, '"." or ".."'], line: 8 },
      { path: 'prompts.deny[0]', says: ['empty name'], line: 10 },
    ],
  },
];

for (const c of cases) {
  test(`refused: ${c.name}`, () => {
    const file = c.file ?? 'test.json';
    const err = policyError(c.policy, file);
    assert.equal(err.code, ErrorCode.PolicyInvalid);
    assert.deepEqual(
      err.problems.map((p) => p.path),
      c.problems.map((p) => p.path),
      err.message,
    );
    c.problems.forEach((expected, i) => {
      const problem = err.problems[i]!;
      assert.equal(problem.file, file);
      for (const part of expected.says)
        assert.ok(problem.message.includes(part), `${JSON.stringify(problem.message)} should contain ${JSON.stringify(part)}`);
      if (expected.line !== undefined) assert.equal(problem.line, expected.line, err.message);
      assert.ok(err.message.split('\n')[i]?.startsWith(`${file}: ${expected.path}: `), err.message);
    });
  });
}

const loads: [string, object][] = [
  ['** alone', resources({ hide: ['**'] })],
  ['a wildcard scheme', resources({ allow: ['*://example.com/*'] })],
  ['a wildcard standing for the whole path of a file URI', resources({ deny: ['file://**'] })],
  ['a wildcard before the scheme ends', resources({ allow: ['demo*'] })],
  ['a wildcard in a percent-escape', resources({ allow: ['file:///srv/%*'] })],
  ['a wildcard in the host', resources({ allow: ['https://*.example.com/**'] })],
  ['plain percent-escapes, a query and a fragment', resources({ allow: ['https://x/r%C3%A9sum%C3%A9?q=*#top'] })],
  ['an IPv6 host and a template', resources({ allow: ['http://[::1]:8080/*', 'demo://resource/dynamic/text/{resourceId}'] })],
  ['prompt names with spaces and slashes', prompts({ allow: ['Summarise a file', 'team/*'] })],
  ['empty lists', { ...V1, resources: { allow: [], deny: [], hide: [] }, prompts: {} }],
];

for (const [name, policy] of loads) test(`loads: ${name}`, () => void policyFrom(policy));
