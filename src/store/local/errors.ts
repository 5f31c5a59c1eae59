/** Filesystem errors of the local store as StrataErrors: which are transient, which mean "not there". */
import { isNoSpace, noSpaceError, StoreError, StrataError } from '../../core/errors.js';

const TRANSIENT_CODES = new Set(['EAGAIN', 'EBUSY', 'EMFILE', 'ENFILE', 'EINTR', 'ETIMEDOUT']);
/** What a local store call was doing, for E_NO_SPACE messages. */
const VERBS: Record<string, string> = {
  put: 'writing',
  putFile: 'storing the file as',
  getToFile: 'downloading to a local file',
  delete: 'deleting',
};
const MISSING_CODES = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);

/** The `code` of a Node.js (or SQLite) error, if it has one. */
export function errCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

/** Whether `e` says the path (or a directory on it) does not exist or is not a file. */
export function isMissing(e: unknown): boolean {
  return MISSING_CODES.has(errCode(e) ?? '');
}

/**
 * StrataErrors pass through; a full disk becomes E_NO_SPACE naming what was being done; anything else a
 * StoreError (transient for EAGAIN, EMFILE…).
 */
export function ioError(what: string, e: unknown, context: Record<string, unknown>): StrataError {
  if (e instanceof StrataError) return e;
  if (isNoSpace(e)) {
    const verb = what.replace(/ failed$/, '');
    const doing = VERBS[verb] ?? verb;
    const on = context.key ?? context.file;
    return noSpaceError(on === undefined ? doing : `${doing} ${String(on)}`, e, context);
  }
  const code = errCode(e);
  const msg = e instanceof Error ? e.message : String(e);
  return new StoreError(`${what}: ${msg}`, context, {
    cause: e,
    transient: code ? TRANSIENT_CODES.has(code) : false,
  });
}
