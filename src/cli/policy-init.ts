import { lstatSync, statSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { findConfigFile, loadConfig, type LoadedConfig } from '../config/index.js';
import { formatProblem, type Problem } from '../errors.js';
import { starterPolicy } from '../inventory/index.js';
import { liveTools } from './live-tools.js';
import { serverNamed } from './lookup.js';
import { displayPath, ExitCode, shellWord, type Io } from './output.js';
import { checkOutputFile, writeOutputFile } from './output-file.js';

export interface PolicyInitOptions {
  config?: string;
  output?: string;
  force?: boolean;
}

/**
 * `airlock policy init SERVER [-o FILE] [--force]`: a starter policy from the
 * server's live tool list and risk classes, printed or written to FILE.
 *
 * It reads no policy, so no policy file is required to exist, the server's
 * own or another's: a newcomer adding servers makes them one at a time. Each
 * one missing is named with the command that writes it. The rest of the
 * config must load, since the server is started from it.
 */
export async function policyInit(io: Io, server: string, options: PolicyInitOptions): Promise<number> {
  const unreadable: Problem[] = [];
  const config = loadConfig(findConfigFile(io.cwd, options.config), io.env, { policyFileProblem: (p) => unreadable.push(p) });
  serverNamed(config, server);
  const configArg = options.config === undefined ? '' : ` -c ${shellWord(displayPath(io, config.file))}`;
  const initCommand = (name: string, file: string) => `airlock policy init ${name}${configArg} -o ${shellWord(displayPath(io, file))}`;
  const output = options.output === undefined ? undefined : resolve(io.cwd, options.output);
  // Before the server is started: a file that will not be written should not cost a start, nor leave a doubt.
  if (output !== undefined) checkOutputFile(io, output, { ...options, example: `${server}.yaml` });

  const text = starterPolicy(server, (await liveTools(config, server)).tools);
  if (output === undefined) io.out(text.trimEnd());
  else {
    writeOutputFile(io, output, text, { ...options, example: `${server}.yaml` });
    io.out(written(io, output, server, config, configArg));
  }
  for (const [name, { policy: file }] of Object.entries(config.servers)) {
    const problem = unreadable.find((p) => p.path === `servers.${name}.policy`);
    // Gone once this run wrote it; for SERVER with -o elsewhere, `written` has said what the config names.
    if (problem === undefined || statSync(file, { throwIfNoEntry: false })?.isFile() || (name === server && output !== undefined)) continue;
    const missing = lstatSync(file, { throwIfNoEntry: false }) === undefined;
    if (!missing) io.err(`note: ${formatProblem(problem)}`);
    else {
      const what = name === server ? 'this policy there' : 'one';
      io.err(
        `note: ${displayPath(io, config.file)}: servers.${name}.policy names ${displayPath(io, file)}, which does not exist yet; write ${what} with: ${initCommand(name, file)}`,
      );
    }
  }
  return ExitCode.Ok;
}

/** What was written, and how the config can use it when it names another file. */
function written(io: Io, output: string, server: string, config: LoadedConfig, configArg: string): string {
  const expected = config.servers[server]!.policy;
  const shown = displayPath(io, output);
  if (sameFile(output, expected))
    return `wrote ${shown}, the policy servers.${server}.policy names; review it, then run: airlock policy check${configArg}`;
  const fromConfig = relative(config.dir, output);
  return [
    `wrote ${shown}; review it.`,
    `${displayPath(io, config.file)} names ${displayPath(io, expected)} as servers.${server}.policy, not this file: to use it, set`,
    `  policy: ${/^[\w./-]+$/.test(fromConfig) ? fromConfig : JSON.stringify(fromConfig)}`,
    `under servers.${server} (a path relative to the config's folder), or move it to ${displayPath(io, expected)}`,
  ].join('\n');
}

/** Whether two paths name one file (through links and `..` alike); false when either does not exist. */
function sameFile(a: string, b: string): boolean {
  const [x, y] = [statSync(a, { throwIfNoEntry: false }), statSync(b, { throwIfNoEntry: false })];
  return x !== undefined && y !== undefined && x.dev === y.dev && x.ino === y.ino;
}
