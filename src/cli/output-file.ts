import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { AirlockError, ErrorCode, errorMessage } from '../errors.js';
import { displayPath, shellWord, type Io } from './output.js';

export interface OutputOptions {
  /** Replace an existing file. */
  force?: boolean;
  /** A file name to suggest when `-o` names a folder. */
  example: string;
}

/**
 * Refuses an `-o FILE` that will not be written, naming what to do instead:
 * a folder that does not exist, a folder, anything but a regular file, and
 * an existing file without `force`. A symbolic link is refused even with
 * `force`: what it points at may be anything (a hostile agent that can
 * write beside the policies could plant `policy.yaml -> ~/.bashrc`), and
 * replacing the link itself would surprise whoever made it. Returns the
 * existing file's state when it is to be replaced.
 */
export function checkOutputFile(io: Io, file: string, options: OutputOptions): Stats | undefined {
  const shown = displayPath(io, file);
  const existing = lstatSync(file, { throwIfNoEntry: false });
  if (existing === undefined) {
    const folder = dirname(file);
    const parent = statSync(folder, { throwIfNoEntry: false });
    if (parent === undefined || !parent.isDirectory())
      throw new AirlockError(
        ErrorCode.BadArguments,
        `cannot write ${shown}: the folder ${displayPath(io, folder)} does not exist; create it (mkdir -p ${shellWord(displayPath(io, folder))}) or choose another -o FILE`,
      );
    return undefined;
  }
  if (existing.isSymbolicLink())
    throw new AirlockError(
      ErrorCode.BadArguments,
      `${shown} is a symbolic link (to ${readlinkSync(file)}): policy init neither writes through a link nor replaces one, even with --force; remove the link, or give the file it points to as -o FILE`,
    );
  if (existing.isDirectory())
    throw new AirlockError(
      ErrorCode.BadArguments,
      `${shown} is a folder: give a file name, for example -o ${shellWord(join(shown, options.example))}`,
    );
  if (!existing.isFile()) throw new AirlockError(ErrorCode.BadArguments, `${shown} is not a regular file: choose another -o FILE`);
  if (!options.force)
    throw new AirlockError(ErrorCode.BadArguments, `${shown} exists: add --force to replace it, or choose another -o FILE`);
  return existing;
}

/**
 * Writes `text` to `file` after checking it again (checkOutputFile). A new
 * file is created exclusively, so one that appeared since is not
 * overwritten. With `force`, a replacement is written beside it and renamed
 * over it, with the old file's mode: a gateway reloading that policy reads
 * the old file or the new one, never half of one, and a rename replaces the
 * name, never writing through a link that appeared in the meantime.
 */
export function writeOutputFile(io: Io, file: string, text: string, options: OutputOptions): void {
  const existing = checkOutputFile(io, file, options);
  const shown = displayPath(io, file);
  if (existing === undefined) {
    try {
      writeFileSync(file, text, { flag: 'wx' });
    } catch (err) {
      throw new AirlockError(ErrorCode.BadArguments, `cannot write ${shown}: ${errorMessage(err)}`);
    }
    return;
  }
  const mode = existing.mode & 0o7777;
  const temporary = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  let created = false;
  try {
    writeFileSync(temporary, text, { flag: 'wx', mode });
    created = true;
    // The mode given at creation is narrowed by the umask; the replacement keeps the old file's exactly.
    chmodSync(temporary, mode);
    renameSync(temporary, file);
  } catch (err) {
    if (created) rmSync(temporary, { force: true });
    throw new AirlockError(ErrorCode.BadArguments, `cannot replace ${shown}: ${errorMessage(err)}`);
  }
}
