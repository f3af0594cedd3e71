import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { PROJECT_ROOT } from '../support/run-cli.js';

/** The pages people read: the README and every page of docs/. */
function pagesOf(root: string): string[] {
  const docs = join(root, 'docs');
  return [
    'README.md',
    ...readdirSync(docs)
      .filter((f) => f.endsWith('.md'))
      .map((f) => join('docs', f)),
  ];
}

/** The markdown with fenced code blocks and inline code spans blanked out: neither holds links or headings. */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`+[^`\n]*`+/g, '``');
}

/**
 * The anchor GitHub gives a heading: its text as rendered (code spans keep
 * their content, links their text), lower-cased, punctuation dropped, each
 * space a hyphen; a repeated one gets `-1`, `-2`, ….
 */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const withoutFences = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const [, text = ''] of withoutFences.matchAll(/^#{1,6}[ \t]+(.*?)[ \t]*#*[ \t]*$/gm)) {
    const rendered = text.replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/`/g, '');
    const slug = rendered
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** Inline links and images, `[text](target "title")`, and reference definitions, `[name]: target`. */
function linkTargets(markdown: string): string[] {
  const text = prose(markdown);
  const inline = [...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1] ?? '');
  const references = [...text.matchAll(/^[ \t]{0,3}\[[^\]]+\]:[ \t]*<?(\S+?)>?(?:[ \t]+"[^"]*")?[ \t]*$/gm)].map((m) => m[1] ?? '');
  return [...inline, ...references];
}

/** What is wrong with each relative link of `page` (a path under `root`): a missing file, a file outside `root`, an anchor no heading has. */
function brokenLinks(root: string, page: string): string[] {
  const problems: string[] = [];
  const markdown = readFileSync(join(root, page), 'utf8');
  for (const target of linkTargets(markdown)) {
    // Other sites (https:, mailto:) are not ours to check.
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    const [pathPart = '', anchor] = target.split('#', 2);
    const file = pathPart === '' ? join(root, page) : resolve(root, dirname(page), decodeURIComponent(pathPart));
    const inside = relative(root, file);
    if (inside === '..' || inside.startsWith(`..${sep}`)) {
      problems.push(`${page}: ${target} points outside the repository`);
      continue;
    }
    if (!existsSync(file)) {
      problems.push(`${page}: ${target}: no such file ${inside}`);
      continue;
    }
    if (anchor === undefined) continue;
    if (!file.endsWith('.md') || statSync(file).isDirectory()) {
      problems.push(`${page}: ${target}: an anchor into ${inside}, which is not a markdown page`);
      continue;
    }
    if (!headingAnchors(readFileSync(file, 'utf8')).has(anchor)) problems.push(`${page}: ${target}: ${inside} has no heading #${anchor}`);
  }
  return problems;
}

for (const page of pagesOf(PROJECT_ROOT)) {
  test(`every relative link in ${page} resolves to a file of the repository, and every anchor to a heading of it`, () => {
    assert.deepEqual(brokenLinks(PROJECT_ROOT, page), []);
  });
}

test('the README stays a front page: at most 12 KB, and it links to every page of docs/', () => {
  const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
  assert.ok(Buffer.byteLength(readme) <= 12_000, `README.md is ${Buffer.byteLength(readme)} bytes; move detail into docs/`);
  const linked = new Set(linkTargets(readme).map((t) => t.split('#')[0]));
  const unlinked = pagesOf(PROJECT_ROOT).filter((p) => p !== 'README.md' && !linked.has(p));
  assert.deepEqual(unlinked, [], 'pages of docs/ the README does not link to');
});

const anchorCases: { name: string; heading: string; anchor: string }[] = [
  { name: 'code spans keep their text, punctuation goes', heading: '## Config file (`airlock.yaml`)', anchor: 'config-file-airlockyaml' },
  { name: 'underscores stay', heading: '## `on_tool_change`: tools that changed', anchor: 'on_tool_change-tools-that-changed' },
  { name: 'slashes and colons go', heading: '### Requests to `/slack/events`', anchor: 'requests-to-slackevents' },
  { name: 'a link keeps its text', heading: '## See [the API](http-api.md)', anchor: 'see-the-api' },
  { name: 'non-ASCII letters stay, in lower case', heading: '## Ünïcode Names', anchor: 'ünïcode-names' },
  { name: 'a closing run of # is not text', heading: '## Closed ##', anchor: 'closed' },
];
for (const c of anchorCases) {
  test(`heading anchors as GitHub makes them: ${c.name}`, () => {
    assert.ok(headingAnchors(`${c.heading}\n`).has(c.anchor), `${c.heading} → ${[...headingAnchors(`${c.heading}\n`)].join(', ')}`);
  });
}

test('a repeated heading gets -1, and a # line inside a code block is no heading', () => {
  assert.deepEqual([...headingAnchors('## Limits\n\n```sh\n# not a heading\n```\n\n## Limits\n')], ['limits', 'limits-1']);
});

test('the link check finds a missing file, a missing anchor, a file outside the repository, and ignores code and other sites', () => {
  const root = mkdtempSync(join(tmpdir(), 'airlock-docs-links-'));
  try {
    mkdirSync(join(root, 'docs'));
    writeFileSync(join(root, 'docs', 'a.md'), '# A\n\n## Real heading\n');
    writeFileSync(
      join(root, 'README.md'),
      [
        '# Front',
        '[ok](docs/a.md) [ok too](docs/a.md#real-heading) [here](#front) [site](https://example.com/x#y) <https://example.com>',
        '[gone](docs/missing.md) [no anchor](docs/a.md#not-a-heading) [out](../elsewhere.md) [self](#nowhere)',
        '`[in code](docs/nope.md)`',
        '```md\n[in a block](docs/nope.md)\n```',
        '[ref]: docs/missing-too.md',
      ].join('\n'),
    );
    assert.deepEqual(brokenLinks(root, 'README.md'), [
      'README.md: docs/missing.md: no such file docs/missing.md',
      'README.md: docs/a.md#not-a-heading: docs/a.md has no heading #not-a-heading',
      'README.md: ../elsewhere.md points outside the repository',
      'README.md: #nowhere: README.md has no heading #nowhere',
      'README.md: docs/missing-too.md: no such file docs/missing-too.md',
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
