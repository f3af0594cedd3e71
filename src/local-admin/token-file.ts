import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { AirlockError, ErrorCode, errorMessage } from '../errors.js';

export interface OwnTokenFile {
  token: string;
  /** Made by this call (false: read back from an earlier start). */
  created: boolean;
  /** Its permission bits, e.g. 0o600. */
  mode: number;
}

/** Mode bits that let anyone but the file's owner read or change it. */
export const NOT_OWNER_ONLY = 0o077;

const OR_ELSE = 'configure `admins`, or set AIRLOCK_ADMIN_TOKEN';
const WHAT_TO_DO = `delete it to have a new token made at the next start, ${OR_ELSE}`;

/**
 * The gateway's own token file: made on first use (32 random bytes,
 * base64url; its folder 0700, the file created exclusively with mode 0600),
 * read back on later starts. Whatever is found at `file` must be a regular
 * file of this user's: a symbolic link is refused rather than followed (it
 * could make Airlock write or read anywhere), a FIFO does not hang the
 * start, and a file another user wrote is refused since that user knows
 * its token. Surrounding whitespace is not part of the token.
 */
export function ensureTokenFile(file: string, options: { uid: number | undefined; random?: () => Buffer }): OwnTokenFile {
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new AirlockError(
      ErrorCode.TokenFileInvalid,
      `cannot make the folder of the local admin's token file ${file}: ${errorMessage(err)}; make way for that folder, ${OR_ELSE}`,
      { cause: err },
    );
  }
  const token = (options.random ?? (() => randomBytes(32)))().toString('base64url');
  let fd: number;
  try {
    // O_EXCL: an existing file, or a symbolic link even to nothing, is never written through.
    fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { ...readOwnTokenFile(file, options.uid), created: false };
    throw new AirlockError(ErrorCode.TokenFileInvalid, `cannot create the local admin's token file ${file}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  try {
    writeSync(fd, `${token}\n`);
    return { token, created: true, mode: fstatSync(fd).mode & 0o777 };
  } catch (err) {
    // A file left empty would stop every later start.
    rmSync(file, { force: true });
    throw new AirlockError(ErrorCode.TokenFileInvalid, `cannot write the local admin's token file ${file}: ${errorMessage(err)}`, {
      cause: err,
    });
  } finally {
    closeSync(fd);
  }
}

function readOwnTokenFile(file: string, uid: number | undefined): { token: string; mode: number } {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ELOOP' ? 'it is a symbolic link, which Airlock does not follow there' : errorMessage(err);
    throw new AirlockError(ErrorCode.TokenFileInvalid, `the local admin's token file ${file} cannot be used: ${why}; ${WHAT_TO_DO}`, {
      cause: err,
    });
  }
  try {
    const stat = fstatSync(fd);
    const refuse = (why: string) =>
      new AirlockError(ErrorCode.TokenFileInvalid, `the local admin's token file ${file} cannot be used: ${why}; ${WHAT_TO_DO}`);
    if (!stat.isFile()) throw refuse('it is not a regular file');
    if (uid !== undefined && stat.uid !== uid)
      throw refuse(`it belongs to uid ${stat.uid}, not to this user (uid ${uid}), who therefore knows the token`);
    const token = readFileSync(fd, 'utf8').trim();
    if (token === '') throw refuse('it is empty');
    return { token, mode: stat.mode & 0o777 };
  } finally {
    closeSync(fd);
  }
}

/**
 * The token in a file a command was pointed at (`--token-file`,
 * AIRLOCK_ADMIN_TOKEN_FILE). The person named it, so links are followed and
 * pipes read (`--token-file <(pass show airlock)`); surrounding whitespace
 * is not part of the token.
 */
export function readTokenFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'it does not exist'
        : code === 'EISDIR'
          ? 'it is a folder'
          : code === 'EACCES'
            ? 'permission denied'
            : errorMessage(err);
    throw new AirlockError(ErrorCode.TokenFileInvalid, `cannot read the token file ${file}: ${why}`, { cause: err });
  }
  const token = text.trim();
  if (token === '') throw new AirlockError(ErrorCode.TokenFileInvalid, `the token file ${file} is empty: write the admin token into it`);
  return token;
}
