import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  AuditReader,
  parsePointInTime,
  verifyAuditFile,
  type ChainReport,
  type CheckpointReport,
  type CheckpointRules,
  type VerifyOptions,
} from '../audit/index.js';
import { anchorKeyFromEnv, durationMs, findConfigFile, loadConfig, type LoadedConfig } from '../config/index.js';
import { AirlockError, ErrorCode } from '../errors.js';
import { checkpointSettings } from '../gateway/index.js';
import { openRedisSaying } from './console-access.js';
import { whereLine } from './where.js';
import { displayPath, ExitCode, plural, type Io } from './output.js';

export interface AuditVerifyOptions {
  config?: string;
  file?: string;
  redis?: boolean;
  anchorKeyEnv?: string;
  asOf?: string;
}

/**
 * `airlock audit verify [--file F] [--anchor-key-env NAME] [--as-of T]`:
 * walks the chain in Redis, and the JSON-lines file (`--file`, else
 * `audit.file` when it exists), and names the first event that was changed,
 * removed or reordered. With the anchor key (`--anchor-key-env`, else
 * `audit.anchor_key`) it checks every checkpoint and that the newest is
 * recent, as of now or `--as-of`, so a cut from the end shows; and it says
 * which events no checkpoint covers yet.
 */
export async function auditVerify(io: Io, options: AuditVerifyOptions): Promise<number> {
  const config = loadConfig(findConfigFile(io.cwd, options.config), io.env);
  const file =
    options.file === undefined
      ? config.audit.file !== undefined && existsSync(config.audit.file)
        ? config.audit.file
        : undefined
      : resolve(io.cwd, options.file);
  if (file !== undefined && !existsSync(file)) throw new AirlockError(ErrorCode.BadArguments, `--file ${options.file}: no such file`);
  const checkpoints = rules(config, io, options);
  const verifying: VerifyOptions = {
    ...(checkpoints && { checkpoints }),
    asOf: options.asOf === undefined ? { ms: Date.now(), now: true } : { ms: parsePointInTime('--as-of', options.asOf), now: false },
  };
  let ok = true;
  if (options.redis === false) io.err(whereLine(io, config, 'not used'));
  else {
    const { redis } = await openRedisSaying(io, config);
    try {
      const report = await new AuditReader(redis, config.redis.prefix, Math.max(5_000, durationMs(config.redis.timeout))).verify(verifying);
      ok =
        tell(
          io,
          'audit trail in Redis',
          report,
          report.trimmedThrough === undefined ? '' : ` (retention trimmed seq 1–${report.trimmedThrough})`,
        ) && ok;
    } finally {
      redis.disconnect();
    }
  }
  if (file !== undefined) {
    const report = await verifyAuditFile(file, verifying);
    ok =
      tell(
        io,
        displayPath(io, file),
        report,
        report.startsAfter === undefined ? '' : ` (the file starts after seq ${report.startsAfter})`,
      ) && ok;
  }
  return ok ? ExitCode.Ok : ExitCode.Failed;
}

/** The key from `--anchor-key-env`, else the config's; the intervals always from the config, as the gateways sign by them. */
function rules(config: LoadedConfig, io: Io, options: AuditVerifyOptions): CheckpointRules | undefined {
  const settings = checkpointSettings(config);
  const key = options.anchorKeyEnv === undefined ? settings?.key : Buffer.from(anchorKeyFromEnv(io.env, options.anchorKeyEnv), 'utf8');
  return key === undefined ? undefined : { key, everyEvents: config.audit.checkpoint.events, everyMs: config.audit.checkpoint.interval_ms };
}

function tell(io: Io, what: string, report: ChainReport & { checkpoints: CheckpointReport }, note: string): boolean {
  const { checkpoints } = report;
  if (report.problem) {
    io.err(`${what}: BROKEN after ${report.checked} good event${report.checked === 1 ? '' : 's'}: ${report.problem.message}`);
  } else {
    const span =
      report.first === undefined
        ? 'no events'
        : `${report.checked} event${report.checked === 1 ? '' : 's'}, seq ${report.first}–${report.last ?? report.first}`;
    io.out(`${what}: chain intact: ${span}${note}`);
  }
  if (!checkpoints.checked) {
    const found = checkpoints.newest
      ? `${plural(checkpoints.count, 'checkpoint')} in the trail, the newest (seq ${checkpoints.newest.seq}) unverified`
      : 'none in the trail';
    io.out(
      `${what}: checkpoints not checked (no anchor key: set audit.anchor_key, or pass --anchor-key-env NAME): ${found}; a cut at the end of the trail cannot be told`,
    );
  } else if (checkpoints.newest && !report.problem) {
    io.out(
      `${what}: ${plural(checkpoints.count, 'checkpoint')} signed and matching; the newest (seq ${checkpoints.newest.seq}, ${checkpoints.newest.time}) covers events through seq ${checkpoints.newest.covers}`,
    );
  }
  if (checkpoints.unproven && checkpoints.newest) {
    const { first, last } = checkpoints.unproven;
    const count = last - first + 1;
    const events = count === 1 ? `event ${first} (the last one` : `events ${first}–${last} (the last ${count}`;
    io.out(
      `${what}: ${events}, after the checkpoint at ${checkpoints.newest.time}) ${count === 1 ? 'is' : 'are'} not covered by a checkpoint yet; a cut there cannot be told`,
    );
  }
  return report.problem === undefined;
}
