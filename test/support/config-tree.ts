import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * A temporary folder holding `policies/fs.yaml`, the given files and, unless
 * `config` is undefined, the config file; removed after the test file ends.
 */
export function configTree(
  config: string | undefined,
  files: Record<string, string> = {},
  configName = 'airlock.yaml',
): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-config-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries({ 'policies/fs.yaml': 'version: "1"\n', ...files })) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  const file = join(dir, configName);
  if (config !== undefined) writeFileSync(file, config);
  return { dir, file };
}

/** A valid config with one stdio server `fs`, four lines long. */
export const FS = 'servers:\n  fs:\n    command: node\n    policy: policies/fs.yaml\n';
