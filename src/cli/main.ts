import { Command, CommanderError } from 'commander';
import { AirlockError, DocumentError } from '../errors.js';
import { approvalsCli, type ApprovalsCliOptions } from './approvals.js';
import { approvalsLatest } from './approvals-latest.js';
import { approvalsWatch, type WatchOptions } from './approvals-watch.js';
import { auditExport, auditList } from './audit.js';
import { auditVerify, type AuditVerifyOptions } from './audit-verify.js';
import { doctor } from './doctor.js';
import { ExitCode, type Io } from './output.js';
import { policyCheck } from './policy-check.js';
import { policyExplain, type ExplainOptions } from './policy-explain.js';
import { hostFlag, portFlag, start } from './start.js';
import { stdio } from './stdio.js';
import { policyInit, type PolicyInitOptions } from './policy-init.js';
import { processTerminal } from './terminal.js';
import { acceptTools, tools, type ToolsOptions } from './tools.js';
import { escapeInvisible } from '../invisible-characters.js';
import { VERSION } from '../version.js';

type ExplainCliOptions = ExplainOptions & { resource?: string; prompt?: string };
type DecideCliOptions = ApprovalsCliOptions & { latest?: boolean };

const TOKEN_FILE_HELP =
  'read the admin token from this file (else the file AIRLOCK_ADMIN_TOKEN_FILE names, else AIRLOCK_ADMIN_TOKEN); none is read unless named';

/** Builds the `airlock` program; each action sets `exitCode` rather than exiting, so tests can run it in-process. */
export function buildProgram(io: Io, result: { exitCode: number }): Command {
  const program = new Command('airlock')
    .description('A human-in-the-loop gateway for the Model Context Protocol')
    .version(VERSION)
    .exitOverride()
    // Options after a subcommand are that subcommand's (`audit export --since …`), not its parent's of the same name.
    .enablePositionalOptions()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });

  program
    .command('start')
    .description('run the gateway')
    .option('-c, --config <file>', 'config file (default ./airlock.yaml, else examples/airlock.yaml)')
    .option('--port <port>', "listen on this port (0: any free one); over AIRLOCK_PORT and the config file's listen.port", portFlag)
    .option(
      '--host <host>',
      "listen on this address; over AIRLOCK_HOST and the config file's listen.host (anything but loopback needs grants)",
      hostFlag,
    )
    .addHelpText(
      'after',
      "\nWhere it listens: --host and --port, else the variables AIRLOCK_HOST and AIRLOCK_PORT\n(an empty one counts as unset), else the config file's listen.host and listen.port.",
    )
    .action(async (opts: { config?: string; host?: string; port?: number }) => {
      const { stopped } = await start(io, opts);
      await stopped;
    });
  program
    .command('stdio')
    .description('serve one configured server to a stdio MCP client, under the same policy')
    .argument('<server>', 'a server name from the config')
    .option('--grant <name>', 'act as this grant (its name reaches policy conditions on `grant`)')
    .option('-c, --config <file>', 'config file (default ./airlock.yaml, else examples/airlock.yaml)')
    .action(async (server: string, opts: { config?: string; grant?: string }) => {
      await stdio(io, server, opts);
    });

  const policy = program.command('policy').description('check and explain policy files');
  policy
    .command('check')
    .description('validate policy files (or, with no PATH, the config and every policy it uses)')
    .argument('[paths...]', 'policy files or folders of them')
    .option('-c, --config <file>', 'config file (default ./airlock.yaml, else examples/airlock.yaml)')
    .option('--json', 'print results as JSON')
    .action((paths: string[], opts: { config?: string; json?: boolean }) => {
      result.exitCode = policyCheck(io, paths, opts);
    });
  policy
    .command('explain')
    .description('print the decision for a call, or a resource read or prompt, the rule that fired and why, without calling anything')
    .argument('<server>', 'a server name from the config')
    .argument('[tool]', 'the tool name (or give --resource or --prompt instead)')
    .option('--args <json>', 'the call arguments as a JSON object')
    .option('--grant <name>', 'explain the call as this grant')
    .option('--risk <class>', 'the tool risk class: read, write, execute, destructive or unknown')
    .option('--changed', 'treat the tool as changed since it was last accepted')
    .option('--resource <uri>', 'explain reading this resource URI instead of a tool call')
    .option('--prompt <name>', "explain getting this prompt (the server's name for it) instead of a tool call")
    .option('-c, --config <file>', 'config file (default ./airlock.yaml, else examples/airlock.yaml)')
    .option('--json', 'print the decision as JSON')
    .action(async (server: string, tool: string | undefined, opts: ExplainCliOptions, command: Command) => {
      const given = [
        tool !== undefined && 'a tool',
        opts.resource !== undefined && '--resource',
        opts.prompt !== undefined && '--prompt',
      ].filter(Boolean);
      if (given.length === 0) command.error("error: missing required argument 'tool' (or give --resource URI or --prompt NAME)");
      if (given.length > 1) command.error(`error: give a tool, --resource URI or --prompt NAME, not ${given.join(' and ')}`);
      const { resource, prompt, ...options } = opts;
      const target = tool !== undefined ? { tool } : resource !== undefined ? { resource } : { prompt: prompt! };
      result.exitCode = await policyExplain(io, server, target, options);
    });
  policy
    .command('init')
    .description("write a starter policy from the server's live tool list and risk classes")
    .argument('<server>', 'a server name from the config')
    .option('-o, --output <file>', 'write it to this file instead of printing it (an existing file only with --force)')
    .option('--force', 'replace the -o file if it exists (never through a symbolic link)')
    .option('-c, --config <file>', 'config file (default ./airlock.yaml, else examples/airlock.yaml)')
    .action(async (server: string, opts: PolicyInitOptions, command: Command) => {
      if (opts.force && opts.output === undefined) command.error('error: --force replaces the -o FILE; without -o nothing is written');
      result.exitCode = await policyInit(io, server, opts);
    });

  const toolsCommand = program
    .command('tools')
    .description("inventory: every upstream tool, its risk class, today's decision, and whether it changed since accepted")
    .argument('[server]', 'only this server')
    .option('--grant <name>', "today's decision for this grant")
    .option('-c, --config <file>', 'config file (default ./airlock.yaml, else examples/airlock.yaml)')
    .option('--json', 'print JSON')
    .action(async (server: string | undefined, opts: ToolsOptions) => {
      result.exitCode = await tools(io, server, opts);
    });
  toolsCommand
    .command('accept')
    .description("accept a server's current tool definitions (all, or the named tools), as the admin whose token it is given")
    .argument('<server>', 'a server name from the config')
    .argument('[tools...]', 'tool names; default: every tool of the server')
    .option('-c, --config <file>', 'config file (default ./airlock.yaml, else examples/airlock.yaml)')
    .option('--token-file <file>', TOKEN_FILE_HELP)
    .action(async (server: string, names: string[], opts: { config?: string; tokenFile?: string }) => {
      result.exitCode = await acceptTools(io, server, names, opts);
    });

  const approvals = program
    .command('approvals')
    .description('the console approval channel: list, show and decide held calls (as the admin whose token it is given)');
  const withCommon = (command: Command) =>
    command
      .option('-c, --config <file>', 'config file (default ./airlock.yaml, else examples/airlock.yaml)')
      .option('--json', 'print JSON')
      .option('--token-file <file>', TOKEN_FILE_HELP);
  withCommon(
    approvals
      .command('list')
      .description('approval requests, newest first (default: pending ones)')
      .option('--state <state>', 'pending, approved, rejected, expired, withdrawn or all')
      .option('--server <name>', 'only this server')
      .option('--tool <name>', 'only this tool')
      .option('--grant <name>', 'only calls of this grant')
      .option('--limit <n>', 'at most this many (default 100)'),
  ).action(async (opts: ApprovalsCliOptions) => {
    result.exitCode = await approvalsCli(io, 'list', undefined, opts);
  });
  withCommon(
    approvals.command('show').description('one request with its arguments, votes and outcome').argument('<id>', 'an approval id (apr_…)'),
  ).action(async (id: string, opts: ApprovalsCliOptions) => {
    result.exitCode = await approvalsCli(io, 'show', id, opts);
  });
  // `approve ID` or `approve --latest`: one of them, and --latest only where a person can confirm the id it shows.
  const decide = async (verdict: 'approve' | 'reject', id: string | undefined, opts: DecideCliOptions, command: Command) => {
    if (!opts.latest) {
      if (id === undefined) command.error("error: missing required argument 'id' (or give --latest, on a terminal)", { exitCode: 2 });
      return approvalsCli(io, verdict, id, opts);
    }
    if (id !== undefined) command.error(`error: give an id or --latest, not both`, { exitCode: 2 });
    const terminal = processTerminal();
    if (!terminal.interactive)
      command.error(
        `error: --latest needs a terminal (stdin and stdout), where you confirm the id of the request it shows before it is decided; elsewhere name the request: airlock approvals ${verdict} <id> (airlock approvals list shows the ids)`,
        { exitCode: 2 },
      );
    return approvalsLatest(io, verdict, opts, terminal);
  };
  withCommon(
    approvals
      .command('approve')
      .description('approve a held call: it is released at once')
      .argument('[id]', 'an approval id (apr_…)')
      .option('--latest', 'show the newest pending request and approve it once you have typed its id (on a terminal only)')
      .option('--reason <text>', 'why, for the record'),
  ).action(async (id: string | undefined, opts: DecideCliOptions, command: Command) => {
    result.exitCode = await decide('approve', id, opts, command);
  });
  withCommon(
    approvals
      .command('reject')
      .description('reject a held call: the agent is told who and why')
      .argument('[id]', 'an approval id (apr_…)')
      .option('--latest', 'show the newest pending request and reject it once you have typed its id (on a terminal only)')
      .option('--reason <text>', 'shown to the agent'),
  ).action(async (id: string | undefined, opts: DecideCliOptions, command: Command) => {
    result.exitCode = await decide('reject', id, opts, command);
  });
  withCommon(
    approvals
      .command('watch')
      .description('print each new pending request as it is held, with the command to decide it, until Ctrl-C')
      .option('--bell', 'ring the terminal bell for each new request'),
  ).action(async (opts: WatchOptions) => {
    result.exitCode = await approvalsWatch(io, opts, stopSignal());
  });

  program
    .command('doctor')
    .description(
      'check the config, every policy, Redis (reachable, persistence, eviction policy), every upstream and Slack; exit 1 on any failure',
    )
    .option('-c, --config <file>', 'config file (default ./airlock.yaml, else examples/airlock.yaml)')
    .option('--port <port>', 'check the listener as `airlock start --port` would open it', portFlag)
    .option('--host <host>', 'check the listener as `airlock start --host` would open it', hostFlag)
    .action(async (opts: { config?: string; host?: string; port?: number }) => {
      result.exitCode = await doctor(io, opts);
    });

  const audit = program
    .command('audit')
    .description('the audit trail: who called what, what the policy said, who approved it, what the server answered')
    .option('--cursor <id>', 'go on after this event (the `more:` line of the page before)')
    .option('--limit <n>', 'at most this many events (default 100, at most 1000)')
    .option('--json', 'print JSON')
    .enablePositionalOptions();
  const withFilters = (command: Command) =>
    command
      .option('-c, --config <file>', 'config file (default ./airlock.yaml, else examples/airlock.yaml)')
      .option('--since <when>', 'from this time: an ISO date or date-time, or a time ago (15m, 2h, 7d)')
      .option('--until <when>', 'up to this time (same forms)')
      .option('--server <name>', 'only this server')
      .option('--tool <name>', 'only this tool')
      .option('--resource <uri>', 'only requests for this resource (resources/read, resources/subscribe, completion)')
      .option('--prompt <name>', "only requests for this prompt, by its server's name for it (prompts/get, completion)")
      .option('--grant <name>', 'only calls of this grant')
      .option('--approver <who>', 'only events of this approver or admin (Slack user id or name, admin name)')
      .option('--decision <name>', 'only this event (allowed, denied, approved, …) or policy action (require_approval, …)')
      .option('--approval <id>', 'only events of this approval request')
      .option('--request <id>', 'only events of this call (its request_id)')
      .option('--task <id>', 'only events of this MCP task (its task_id, tsk_…)');
  withFilters(audit).action(async (opts: Parameters<typeof auditList>[1]) => {
    result.exitCode = await auditList(io, opts);
  });
  withFilters(audit.command('export').description('every matching event, as JSON lines (each verifies like the audit file) or CSV'))
    .option('--format <format>', 'jsonl or csv', 'jsonl')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .action(async (opts: Parameters<typeof auditExport>[1]) => {
      result.exitCode = await auditExport(io, opts);
    });
  audit
    .command('verify')
    .description(
      'walk the hash chain and name the first event that was changed, removed or reordered, and with the anchor key check the signed checkpoints and that none was cut from the end (exit 1)',
    )
    .option('-c, --config <file>', 'config file (default ./airlock.yaml, else examples/airlock.yaml)')
    .option('--file <file>', 'also check this JSON-lines file (default: audit.file, when it exists)')
    .option('--no-redis', 'check only the file')
    .option('--anchor-key-env <name>', 'read the anchor key from this environment variable (default: audit.anchor_key)')
    .option(
      '--as-of <when>',
      'judge the end of the trail as of this time, not now (when the gateways stopped, or an export was made): ISO date-time or time ago',
    )
    .action(async (opts: AuditVerifyOptions) => {
      result.exitCode = await auditVerify(io, opts);
    });
  return program;
}

/** Aborts on the first SIGINT or SIGTERM: a command that runs until stopped (`approvals watch`) then ends, exit 0. */
function stopSignal(): AbortSignal {
  const controller = new AbortController();
  const stop = () => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    controller.abort();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return controller.signal;
}

/** Runs the CLI and returns the exit code: 0 ok, 1 a check failed or bad input, 2 usage error. */
export async function runCli(argv: string[], io: Io): Promise<number> {
  const result = { exitCode: ExitCode.Ok as number };
  const program = buildProgram(io, result);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return result.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      const informational = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
      return informational ? ExitCode.Ok : ExitCode.Usage;
    }
    if (err instanceof DocumentError || err instanceof AirlockError) {
      // A message may quote an upstream's error text or stderr, which must not drive the terminal it is printed on.
      io.err(`airlock: ${escapeInvisible(err.message)}`);
      return ExitCode.Failed;
    }
    throw err;
  }
}

/** The `airlock` command itself (bin/airlock.js). */
export async function main(): Promise<void> {
  process.exitCode = await runCli(process.argv.slice(2), {
    out: (s) => process.stdout.write(`${s}\n`),
    err: (s) => process.stderr.write(`${s}\n`),
    cwd: process.cwd(),
    env: process.env,
  });
}
