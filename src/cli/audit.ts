import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { AuditReader, CSV_HEADER, csvRow, parseAuditQuery, type AuditEvent } from '../audit/index.js';
import { durationMs, findConfigFile, loadConfig, type LoadedConfig } from '../config/index.js';
import { AirlockError, ErrorCode } from '../errors.js';
import { escapeLine } from '../invisible-characters.js';
import { openRedisSaying } from './console-access.js';
import { displayPath, ExitCode, type Io } from './output.js';

export interface AuditFilterOptions {
  config?: string;
  since?: string;
  until?: string;
  server?: string;
  tool?: string;
  resource?: string;
  prompt?: string;
  grant?: string;
  approver?: string;
  decision?: string;
  approval?: string;
  request?: string;
  task?: string;
}

/** `airlock audit [filters]`: one page of the trail, oldest first. */
export async function auditList(
  io: Io,
  options: AuditFilterOptions & { cursor?: string; limit?: string; json?: boolean },
): Promise<number> {
  const query = parseAuditQuery({
    ...filters(options),
    ...(options.cursor !== undefined && { cursor: options.cursor }),
    ...(options.limit !== undefined && { limit: options.limit }),
  });
  return withReader(io, options, async (reader) => {
    const page = await reader.query(query);
    if (options.json) io.out(JSON.stringify(page, null, 2));
    else
      io.out(
        [
          page.events.length === 0 ? 'no audit events match' : page.events.map(line).join('\n'),
          ...(page.next ? [`more: add --cursor ${page.next}`] : []),
        ].join('\n'),
      );
    return ExitCode.Ok;
  });
}

/** `airlock audit export --format jsonl|csv [-o FILE] [filters]`: every matching event. */
export async function auditExport(io: Io, options: AuditFilterOptions & { format?: string; output?: string }): Promise<number> {
  const format = options.format ?? 'jsonl';
  if (format !== 'jsonl' && format !== 'csv') throw new AirlockError(ErrorCode.BadArguments, `--format ${format}: use jsonl or csv`);
  const query = parseAuditQuery(filters(options));
  return withReader(io, options, async (reader) => {
    const file = options.output === undefined ? undefined : createWriteStream(resolve(io.cwd, options.output));
    const write = async (text: string) => {
      if (!file) return io.out(text);
      if (!file.write(`${text}\n`)) await once(file, 'drain');
    };
    let count = 0;
    if (format === 'csv') await write(CSV_HEADER);
    for await (const { event, line } of reader.matching(query)) {
      await write(format === 'csv' ? csvRow(event) : line);
      count += 1;
    }
    if (file && options.output !== undefined) {
      file.end();
      await once(file, 'close');
      io.err(`wrote ${count} event${count === 1 ? '' : 's'} to ${displayPath(io, resolve(io.cwd, options.output))}`);
    }
    return ExitCode.Ok;
  });
}

async function withReader(
  io: Io,
  options: { config?: string },
  work: (reader: AuditReader, config: LoadedConfig) => Promise<number>,
): Promise<number> {
  const config = loadConfig(findConfigFile(io.cwd, options.config), io.env);
  const { redis } = await openRedisSaying(io, config);
  try {
    return await work(new AuditReader(redis, config.redis.prefix, Math.max(5_000, durationMs(config.redis.timeout))), config);
  } finally {
    redis.disconnect();
  }
}

function filters(options: AuditFilterOptions): Record<string, string> {
  const { config: _config, approval, request, task, ...rest } = options;
  const known = {
    since: rest.since,
    until: rest.until,
    server: rest.server,
    tool: rest.tool,
    resource: rest.resource,
    prompt: rest.prompt,
    grant: rest.grant,
    approver: rest.approver,
    decision: rest.decision,
    approval_id: approval,
    request_id: request,
    task_id: task,
  };
  return Object.fromEntries(Object.entries(known).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/**
 * `2026-11-25T17:02:11.120Z  approved  fs/write_file  grant=ci  by alice (console)  apr_…`; a resource or prompt: `fs resources/read file:///srv/a`.
 * One event, one line, escaped: a tool name or an upstream's error text could otherwise forge a line of its own.
 */
function line(event: AuditEvent): string {
  return escapeLine(fields(event));
}

function fields(event: AuditEvent): string {
  const who = event.approvers
    ?.map(
      (a) =>
        `${a.person ?? a.name ?? a.id} (${[(a.person ?? a.name) && a.id, a.person && a.name, a.via, a.verdict].filter(Boolean).join(', ')})`,
    )
    .join(', ');
  return [
    event.time,
    event.event.padEnd(18),
    event.server && event.tool
      ? `${event.server}/${event.tool}`
      : [event.server, event.method, event.resource ?? event.prompt].filter(Boolean).join(' ') || undefined,
    event.grant ? `grant=${event.grant}` : undefined,
    who ? `by ${who}` : undefined,
    event.admin ? `admin=${event.admin}` : undefined,
    event.approval_id,
    event.rule ? `rule=${event.rule}` : undefined,
    event.result ? `${event.result} in ${event.duration_ms ?? '?'} ms` : undefined,
    event.checkpoint
      ? `signs seq ${event.checkpoint.seq}${event.checkpoint.reached === undefined ? '' : `, after the trail had reached seq ${event.checkpoint.reached}`}`
      : undefined,
    event.reason ?? event.detail,
  ]
    .filter((part) => part !== undefined && part !== '')
    .join('  ');
}
