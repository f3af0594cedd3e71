import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { evaluate, evaluateResource, PolicyWatcher, type ReloadOutcome } from '../../src/policy/index.js';
import { captureLogger } from '../support/log.js';
import { until } from '../support/poll.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-reload-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('an edited policy is in force once the watcher next looks, a broken edit keeps the last good one and is logged', async () => {
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'version: "1"\ndefault: deny\ntools:\n  read_file: {}\n');
  const { logger, lines } = captureLogger();
  const outcomes: ReloadOutcome[] = [];
  const watcher = PolicyWatcher.open({ file, logger, intervalMs: 50, onReload: (o) => outcomes.push(o) });
  try {
    assert.equal(evaluate(watcher.current, { tool: 'write_file' }).action, 'deny');

    writeFileSync(file, 'version: "1"\ndefault: deny\ntools:\n  read_file: {}\n  write_file: { action: require_approval }\n');
    await until('the good edit to apply', () => evaluate(watcher.current, { tool: 'write_file' }).action === 'require_approval');
    assert.ok(lines.some((l) => l.msg === 'policy reloaded'));

    writeFileSync(file, 'version: "1"\ndefault: alow\ntools:\n  write_file: { action: allow }\n');
    await until('the broken edit to be reported', () => outcomes.some((o) => !o.ok));
    assert.equal(evaluate(watcher.current, { tool: 'write_file' }).action, 'require_approval', 'the last good policy stays in force');
    const failure = lines.find((l) => l.level === 50);
    assert.ok(failure, 'the failed reload is logged at error level');
    assert.match(String(failure.msg), /policy\.yaml: default: expected one of "allow", "deny", got "alow", did you mean "allow"\?/);

    writeFileSync(file, 'version: "1"\ndefault: allow\n');
    await until('a fixed edit to apply', () => evaluate(watcher.current, { tool: 'anything' }).action === 'allow');
  } finally {
    watcher.close();
  }
});

test('a resources edit is in force once reloaded; a bad glob keeps the last good resources rules', async () => {
  const file = join(dir, 'resources.yaml');
  const report = 'file:///srv/reports/q1.pdf';
  writeFileSync(file, 'version: "1"\ndefault: deny\n');
  const { logger, lines } = captureLogger();
  const outcomes: ReloadOutcome[] = [];
  const watcher = PolicyWatcher.open({ file, logger, intervalMs: 50, onReload: (o) => outcomes.push(o) });
  try {
    assert.equal(evaluateResource(watcher.current, report).action, 'deny');
    writeFileSync(file, 'version: "1"\ndefault: deny\nresources:\n  allow: ["file:///srv/reports/*"]\n');
    await until('the allow glob to apply', () => evaluateResource(watcher.current, report).action === 'allow');

    writeFileSync(file, 'version: "1"\ndefault: deny\nresources:\n  allow: ["file:///srv/reports/*", "FILE:///srv/*"]\n');
    await until('the broken edit to be reported', () => outcomes.some((o) => !o.ok));
    assert.equal(evaluateResource(watcher.current, report).action, 'allow', 'the last good policy stays in force');
    assert.ok(
      lines.some(
        (l) => l.level === 50 && /resources\.yaml: resources\.allow\[1\]: this glob can never match.*\(line 4\)/.test(String(l.msg)),
      ),
      JSON.stringify(lines),
    );
  } finally {
    watcher.close();
  }
});

test('a deleted policy file keeps the last good policy in force', async () => {
  const file = join(dir, 'gone.json');
  writeFileSync(file, '{"version":"1","default":"deny","tools":{"echo":{}}}');
  const { logger, lines } = captureLogger();
  const outcomes: ReloadOutcome[] = [];
  const watcher = PolicyWatcher.open({ file, logger, intervalMs: 50, onReload: (o) => outcomes.push(o) });
  try {
    rmSync(file);
    await until('the removal to be reported', () => outcomes.some((o) => !o.ok));
    assert.equal(evaluate(watcher.current, { tool: 'echo' }).action, 'allow');
    assert.equal(evaluate(watcher.current, { tool: 'other' }).action, 'deny');
    assert.ok(lines.some((l) => l.level === 50 && String(l.msg).includes('file not found')));
  } finally {
    watcher.close();
  }
});

test('an edit that adds a schema pattern which may backtrack catastrophically is refused on reload; the last good policy stays in force', async () => {
  const file = join(dir, 'patterns.yaml');
  const good =
    'version: "1"\ndefault: deny\ntools:\n  lookup:\n    schema:\n      type: object\n      properties:\n        name: { type: string, pattern: "^[a-z]+$" }\n';
  writeFileSync(file, good);
  const { logger, lines } = captureLogger();
  const outcomes: ReloadOutcome[] = [];
  const watcher = PolicyWatcher.open({ file, logger, intervalMs: 50, onReload: (o) => outcomes.push(o) });
  try {
    const before = watcher.current;
    writeFileSync(file, good.replace('"^[a-z]+$"', '"^(a+)+$"').replace('deny', 'allow'));
    await until('the unsafe edit to be reported', () => outcomes.some((o) => !o.ok));
    assert.equal(watcher.current, before, 'the last good policy stays in force');
    assert.equal(evaluate(watcher.current, { tool: 'other' }).action, 'deny');
    assert.equal(evaluate(watcher.current, { tool: 'lookup', args: { name: 'abc' } }).action, 'allow');
    const failure = lines.find((l) => l.level === 50);
    assert.ok(failure, 'the failed reload is logged at error level');
    assert.match(
      String(failure.msg),
      /patterns\.yaml: tools\.lookup\.schema\.properties\.name\.pattern: the pattern "\^\(a\+\)\+\$" is refused: it may backtrack catastrophically .* \(line 8\)/,
    );
  } finally {
    watcher.close();
  }
});
