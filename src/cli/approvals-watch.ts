import type { ApprovalRecord } from '../approvals/index.js';
import { describeApprovers } from '../approvals/index.js';
import { approvalView } from '../channels/index.js';
import { escapeInvisibleInJson, escapeLine } from '../invisible-characters.js';
import { Redactor } from '../redact.js';
import { holdersNote, openConsole, type ConsoleSession } from './approvals-session.js';
import { ExitCode, plural, shellWord, table, type Io } from './output.js';
import { shownRedisUrl } from './where.js';

export interface WatchOptions {
  config?: string;
  json?: boolean;
  bell?: boolean;
  tokenFile?: string;
}

const BEL = '\x07';
/** Longest string value in the preview, and the longest preview: the whole call is `approvals show`'s. */
const VALUE_CHARS = 60;
const PREVIEW_CHARS = 200;

/**
 * `airlock approvals watch`: says which requests are pending, then prints
 * each new one as it is held, with who may decide, when it expires, a
 * preview of its arguments (secrets redacted, as in Slack) and the command
 * to decide it; until `stop` aborts (SIGINT, SIGTERM). It reveals
 * arguments, so it needs an admin token, like `list`.
 */
export async function approvalsWatch(io: Io, options: WatchOptions, stop: AbortSignal): Promise<number> {
  const session = await openConsole(io, options);
  try {
    const show = shower(io, session, options);
    const where = shownRedisUrl(session.target.url);
    let started = false;
    const early: ApprovalRecord[] = [];
    const held: ApprovalRecord[] = [];
    let lastProblem: string | undefined;
    const watch = await session.approvals.watchPending({
      pending: (record, isEarly) => {
        lastProblem = undefined;
        if (!started) (isEarly ? early : held).push(record);
        else show(record, false);
      },
      lost: () => io.err(`lost Redis at ${where}: reconnecting; requests held meanwhile are shown once it answers`),
      back: (pending, told) =>
        io.err(
          `Redis at ${where} answers again: ${plural(pending, 'request')} pending, ${told === 0 ? 'none' : told} new since it was lost`,
        ),
      problem: (message) => {
        if (message !== lastProblem) io.err(message);
        lastProblem = message;
      },
    });
    started = true;
    if (!options.json) io.out(early.length === 0 ? 'no requests pending' : `${plural(early.length, 'request')} already pending:`);
    for (const record of early) show(record, true);
    io.err(`${await holdersNote(session)}; watching for new requests (Ctrl-C to stop)`);
    for (const record of held) show(record, false);
    await new Promise<void>((resolve) => (stop.aborted ? resolve() : stop.addEventListener('abort', () => resolve(), { once: true })));
    await watch.close();
    return ExitCode.Ok;
  } finally {
    await session.close();
  }
}

/** How one request is printed: a block for people, or one JSON line; the bell for each new one. */
function shower(io: Io, session: ConsoleSession, options: WatchOptions): (record: ApprovalRecord, early: boolean) => void {
  const redactor = new Redactor(session.config.redact.keys);
  const flags = [
    ...(options.config !== undefined ? ['-c', shellWord(options.config)] : []),
    ...(options.tokenFile !== undefined ? ['--token-file', shellWord(options.tokenFile)] : []),
  ].join(' ');
  const command = (verb: string, id: string, more = '') => `airlock approvals ${verb} ${id}${flags && ` ${flags}`}${more}`;
  return (record, early) => {
    const { request } = record;
    const shown = redactor.redact(request.arguments);
    const entitled = session.approvals.entitlement(request, { via: 'console', id: session.admin });
    const commands = { approve: command('approve', request.id), reject: command('reject', request.id, ' --reason "…"') };
    const ring = options.bell && !early ? BEL : '';
    if (options.json) {
      io.out(
        JSON.stringify({
          ...approvalView(record, { arguments: false }),
          already_pending: early,
          arguments: shown.value,
          arguments_redacted: shown.redacted,
          you_may_decide: entitled.ok,
          commands,
        }),
      );
      // The bell goes to the terminal by stderr, so stdout stays one JSON object per line.
      if (ring) io.err(`${ring}new approval request ${request.id}`);
      return;
    }
    const first = `${request.id}  ${request.server}/${request.tool}  grant ${request.grant ?? '(none)'}  expires ${new Date(request.expires_at).toISOString()} (${fromNow(request.expires_at)})`;
    // Everything the agent chose is shown escaped, each on its one line: a line feed, a carriage return or an escape
    // sequence in a tool name could otherwise add or rewrite a row, such as the command that decides another request.
    const rows: [string, string][] = [
      ['reason', escapeLine(request.reason)],
      [
        'approvers',
        escapeLine(
          `${describeApprovers({ approvers: request.approvers, from: request.approvers_from })} (${request.min_approvals} needed)`,
        ),
      ],
      ['arguments', preview(shown.value, shown.redacted, request.id)],
    ];
    const decide: [string, string][] = entitled.ok
      ? [
          ['approve', commands.approve],
          ['reject', commands.reject],
        ]
      : [['you', entitled.message]];
    const body = table([...rows, ...decide]);
    io.out(`${ring}${escapeLine(first)}\n${indent(body)}`);
  };
}

/** The arguments on one line: secrets redacted, long strings cut, the whole cut at PREVIEW_CHARS (`approvals show` has them all). */
function preview(value: unknown, redacted: boolean, id: string): string {
  const shorten = (node: unknown): unknown => {
    if (typeof node === 'string') return node.length <= VALUE_CHARS ? node : `${cut(node, VALUE_CHARS)}… [${node.length} characters]`;
    if (Array.isArray(node)) return node.map(shorten);
    if (node === null || typeof node !== 'object') return node;
    return Object.fromEntries(Object.entries(node).map(([key, child]) => [key, shorten(child)]));
  };
  const json = JSON.stringify(shorten(value));
  const text = escapeInvisibleInJson(json.length <= PREVIEW_CHARS ? json : `${cut(json, PREVIEW_CHARS)}…`);
  const notes = [redacted && 'secrets redacted', json.length > PREVIEW_CHARS && 'cut'].filter(Boolean);
  return notes.length === 0 ? text : `${text}  (${notes.join(', ')}: airlock approvals show ${id})`;
}

/** The first `n` UTF-16 units, never half a surrogate pair (which would show as an escape the agent did not send). */
function cut(text: string, n: number): string {
  return /[\uD800-\uDBFF]/.test(text[n - 1] ?? '') ? text.slice(0, n - 1) : text.slice(0, n);
}

function fromNow(at: number): string {
  const s = Math.round((at - Date.now()) / 1000);
  if (s <= 0) return 'due now';
  if (s < 120) return `in ${s} s`;
  if (s < 7200) return `in ${Math.round(s / 60)} min`;
  return `in ${Math.round(s / 3600)} h`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
