import { readdirSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { builtInChannels } from '../channels/index.js';
import { findConfigFile, loadConfig, readSourceFile, type LoadedConfig } from '../config/index.js';
import { DocumentError, ErrorCode, formatProblem, type Problem } from '../errors.js';
import { compileSource } from '../policy/index.js';
import { approverWarnings } from './approver-checks.js';
import { displayPath, ExitCode, type Io } from './output.js';
import { sessionLimitNotes } from './session-limit-notes.js';

const POLICY_EXTENSIONS = new Set(['.json', '.yaml', '.yml']);

interface FileResult {
  file: string;
  ok: boolean;
  problems: Problem[];
  /** Things that load but would surprise at run time (holds nobody in the channel could decide); they do not fail the check. */
  warnings: Problem[];
  /** Worth knowing, not wrong (a limit a reconnect resets); they do not fail the check. */
  notes: Problem[];
}

/**
 * `airlock policy check [PATH...]`: every file (or every policy file in a
 * folder) is loaded through the same parser the gateway uses. With no paths,
 * the config file and every policy it references are checked. Who may
 * approve depends on the config (its approvers, admins, people and
 * channel), so holds nobody could decide are warned about only with a
 * config: with no paths, or with `-c`. Limits that count per session are
 * noted, since a reconnecting agent starts them afresh.
 */
export function policyCheck(io: Io, paths: string[], options: { config?: string; json?: boolean }): number {
  const results = paths.length > 0 ? checkPaths(io, paths, options.config) : checkConfigured(io, options.config);
  if (options.json) {
    io.out(JSON.stringify(results, null, 2));
  } else {
    for (const result of results) {
      if (result.ok) io.out(`ok    ${result.file}`);
      else for (const problem of result.problems) io.out(`error ${formatProblem(problem)}`);
      for (const warning of result.warnings) io.out(`warn  ${formatProblem(warning)}`);
      for (const note of result.notes) io.out(`note  ${formatProblem(note)}`);
    }
    const failed = results.filter((r) => !r.ok).length;
    io.out(`${results.length} file${results.length === 1 ? '' : 's'} checked, ${failed === 0 ? 'all valid' : `${failed} with problems`}`);
  }
  return results.every((r) => r.ok) ? ExitCode.Ok : ExitCode.Failed;
}

function expand(io: Io, path: string): string[] {
  const absolute = resolve(io.cwd, path);
  // A path that does not exist is passed on, so the loader reports it as "file not found".
  if (!statSync(absolute, { throwIfNoEntry: false })?.isDirectory()) return [path];
  return readdirSync(absolute)
    .filter((name) => POLICY_EXTENSIONS.has(extname(name).toLowerCase()))
    .sort()
    .map((name) => join(path, name));
}

function checkPaths(io: Io, paths: string[], explicitConfig: string | undefined): FileResult[] {
  const files = paths.flatMap((p) => expand(io, p));
  if (explicitConfig === undefined) return files.map((file) => checkFile(io, file, undefined));
  const configFile = findConfigFile(io.cwd, explicitConfig);
  try {
    const config = loadConfig(configFile, io.env, { channels: builtInChannels().names });
    return files.map((file) => checkFile(io, file, config));
  } catch (err) {
    return [
      {
        file: displayPath(io, configFile),
        ok: false,
        problems: problemsOf(err).map((p) => ({ ...p, file: displayPath(io, p.file) })),
        warnings: [],
        notes: [],
      },
    ];
  }
}

function checkFile(io: Io, file: string, config: LoadedConfig | undefined): FileResult {
  try {
    // Read here rather than through loadPolicyFile, so notes can name lines in the source.
    const source = readSourceFile(resolve(io.cwd, file), ErrorCode.PolicyInvalid);
    const policy = compileSource(source);
    const warnings = config ? approverWarnings(config, policy).map((w) => ({ file, path: w.path, message: w.message })) : [];
    const notes = sessionLimitNotes(policy.document, source).map((n) => ({ ...n, file }));
    return { file, ok: true, problems: [], warnings, notes };
  } catch (err) {
    return { file, ok: false, problems: problemsOf(err).map((p) => ({ ...p, file })), warnings: [], notes: [] };
  }
}

function checkConfigured(io: Io, explicit: string | undefined): FileResult[] {
  const configFile = findConfigFile(io.cwd, explicit);
  const shown = displayPath(io, configFile);
  try {
    const config = loadConfig(configFile, io.env, { channels: builtInChannels().names });
    const policyFiles = [...new Set(Object.values(config.servers).map((s) => s.policy))];
    return [
      { file: shown, ok: true, problems: [], warnings: [], notes: [] },
      ...policyFiles.map((f) => checkFile(io, displayPath(io, f), config)),
    ];
  } catch (err) {
    return [
      { file: shown, ok: false, problems: problemsOf(err).map((p) => ({ ...p, file: displayPath(io, p.file) })), warnings: [], notes: [] },
    ];
  }
}

function problemsOf(err: unknown): Problem[] {
  if (err instanceof DocumentError) return [...err.problems];
  throw err;
}
