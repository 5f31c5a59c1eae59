/**
 * Opens a Chroma `chroma.sqlite3` strictly read-only: `mode=ro&immutable=1` (no locks taken, no journal
 * touched, nothing ever written). better-sqlite3 understands URI filenames only when SQLITE_USE_URI=1 was
 * set before its native module loaded; when it was loaded earlier without it, the file's bytes are read
 * into memory and opened from there instead (equally read-only, and a consistent copy).
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { ErrorCodes, StrataError } from '../../core/errors.js';

process.env.SQLITE_USE_URI ??= '1';

export type ChromaDb = Database.Database;

export function openChromaSqlite(path: string): ChromaDb {
  const uri = `${pathToFileURL(path).href}?mode=ro&immutable=1`;
  let db: ChromaDb;
  try {
    db = new Database(uri, { readonly: true, fileMustExist: true });
  } catch {
    try {
      db = new Database(readFileSync(path), { readonly: true });
    } catch (e) {
      throw new StrataError(
        ErrorCodes.CHROMA_FORMAT,
        `cannot open ${path} as SQLite: ${(e as Error).message}`,
        { file: path },
        { cause: e },
      );
    }
  }
  try {
    const tables = new Set(
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[],
    );
    for (const t of [
      'collections',
      'segments',
      'embeddings',
      'embedding_metadata',
      'embeddings_queue',
      'max_seq_id',
      'databases',
    ]) {
      if (!tables.has(t))
        throw new StrataError(ErrorCodes.CHROMA_FORMAT, `not a Chroma database: table ${t} is missing`, {
          file: path,
        });
    }
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}
