import { APPROVAL_STATES, assertApprovalId, describeApprovers, type ApprovalRecord, type ApprovalState } from '../approvals/index.js';
import { approvalView, decideAsAdmin, describeDecision, describeEnd, fieldsWithInvisible } from '../channels/index.js';
import { suggest } from '../config/index.js';
import { AirlockError, ErrorCode } from '../errors.js';
import { escapeInvisibleInJson, escapeLine, INVISIBLE_NOTE } from '../invisible-characters.js';
import { holdersNote, openConsole, type ConsoleSession } from './approvals-session.js';
import { ExitCode, table, type Io } from './output.js';

export interface ApprovalsCliOptions {
  config?: string;
  json?: boolean;
  state?: string;
  server?: string;
  tool?: string;
  grant?: string;
  limit?: string;
  reason?: string;
  tokenFile?: string;
}

/**
 * `airlock approvals list|show|approve|reject`: the console channel from a
 * shell. It works on Redis directly (so it also serves `airlock stdio`,
 * which has no HTTP API), as the admin whose token it is given (see
 * givenAdminToken).
 */
export async function approvalsCli(
  io: Io,
  action: 'list' | 'show' | 'approve' | 'reject',
  id: string | undefined,
  options: ApprovalsCliOptions,
): Promise<number> {
  const state = action === 'list' ? parseState(options.state) : 'pending';
  const limit = parseLimit(options.limit);
  if (action !== 'list') assertApprovalId(id ?? '');
  const session = await openConsole(io, options);
  try {
    const { approvals } = session;
    if (action === 'list') {
      const records = await approvals.list({
        ...(state !== 'all' && { state }),
        server: options.server,
        tool: options.tool,
        grant: options.grant,
        limit,
      });
      io.out(
        options.json
          ? JSON.stringify({ approvals: records.map((r) => approvalView(r, { arguments: false })) }, null, 2)
          : listing(records, state),
      );
      if (records.length === 0) io.err(await holdersNote(session));
      return ExitCode.Ok;
    }
    const approvalId = id ?? '';
    if (action === 'show') {
      const record = await approvals.get(approvalId);
      io.out(options.json ? JSON.stringify({ approval: approvalView(record) }, null, 2) : details(record));
      return ExitCode.Ok;
    }
    return await decideAndSay(io, session, { id: approvalId, verdict: action, reason: options.reason ?? '', json: options.json ?? false });
  } finally {
    await session.close();
  }
}

/** Decides one request as the session's admin and says what it did; exit 1 when nothing changed. */
export async function decideAndSay(
  io: Io,
  session: ConsoleSession,
  decision: { id: string; verdict: 'approve' | 'reject'; reason: string; json: boolean },
): Promise<number> {
  const { id, verdict, reason } = decision;
  const result = await decideAsAdmin(session.approvals, session.audit, { id, verdict, admin: session.admin, reason });
  const message = describeDecision(result, verdict);
  if (decision.json) io.out(JSON.stringify({ outcome: result.outcome, message, approval: approvalView(result.record) }, null, 2));
  else (result.outcome === 'too_late' ? io.err : io.out)(message);
  return result.outcome === 'too_late' ? ExitCode.Failed : ExitCode.Ok;
}

function parseState(text: string | undefined): ApprovalState | 'all' {
  if (text === undefined) return 'pending';
  const states = [...APPROVAL_STATES, 'all'];
  if (states.includes(text)) return text as ApprovalState | 'all';
  throw new AirlockError(ErrorCode.BadArguments, `--state must be one of ${states.join(', ')}, got "${text}"${suggest(text, states)}`);
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return 100;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw new AirlockError(ErrorCode.BadArguments, `--limit must be a whole number from 1 to 1000, got "${text}"`);
  return n;
}

/**
 * Listings and details are for a terminal, where invisible characters
 * mislead as in Slack and control characters can drive the terminal
 * itself: everything a request's maker chose is shown escaped (see
 * escapeInvisible), and said to be; `--json` gives the values as they are.
 */
function listing(records: ApprovalRecord[], state: string): string {
  if (records.length === 0) return `no ${state === 'all' ? '' : `${state} `}approval requests`;
  return records
    .map(({ request, status }) => {
      const when = status.state === 'pending' ? `expires ${new Date(request.expires_at).toISOString()}` : describeEnd({ request, status });
      const flag = fieldsWithInvisible(request).length > 0 ? '  [invisible characters, shown as \\uXXXX]' : '';
      const task = request.task_id === null ? '' : `  task ${request.task_id}`;
      return `${escapeLine(`${request.id}  ${status.state.padEnd(9)} ${request.server}/${request.tool}  grant ${request.grant ?? '(none)'}${task}  ${when}`)}${flag}\n    ${escapeLine(request.reason)}`;
    })
    .join('\n');
}

export function details(record: ApprovalRecord): string {
  const { request, status } = record;
  const invisible = fieldsWithInvisible(request);
  const rows: [string, string][] = [
    ['id', request.id],
    ['state', describeEnd(record)],
    ['call', `${request.server}/${request.tool}`],
    ['grant', request.grant ?? '(none)'],
    ['client', request.client ?? '(unknown)'],
    ...(request.task_id === null ? [] : ([['task', request.task_id]] as [string, string][])),
    ['rule', request.rule],
    ['reason', request.reason],
    ['approvers', `${describeApprovers({ approvers: request.approvers, from: request.approvers_from })} (${request.min_approvals} needed)`],
    ['created', new Date(request.created_at).toISOString()],
    ['expires', new Date(request.expires_at).toISOString()],
  ];
  if (status.votes.length > 0)
    rows.push([
      'votes',
      status.votes
        .map((v) =>
          escapeLine(
            `${v.verdict} by ${v.by}${v.person !== undefined ? ` (${v.person})` : ''} via ${v.via} at ${new Date(v.at).toISOString()}`,
          ),
        )
        .join('\n            '),
    ]);
  if (status.execution)
    rows.push([
      'execution',
      `${status.execution.result} in ${status.execution.ms} ms${status.execution.detail ? `: ${status.execution.detail}` : ''}`,
    ]);
  rows.push(['digest', request.digest]);
  // Each value on its own line: a line feed in a tool or client name would otherwise add a row (`call:`) of its own. Votes, one line each, are escaped already.
  const shown = rows.map(([name, value]): [string, string] => [name, name === 'votes' ? value : escapeLine(value)]);
  // Airlock's own words, added after the escaping so that its \uXXXX is not doubled.
  if (invisible.length > 0) shown.unshift(['note', `${INVISIBLE_NOTE} (in ${invisible.join(', ')}); --json gives the values as they are`]);
  return `${table(shown)}\narguments:\n${escapeInvisibleInJson(JSON.stringify(request.arguments, null, 2))}`;
}
