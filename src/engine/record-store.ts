import { endianness } from 'node:os';
import Database from 'better-sqlite3';
import { ClosedError, ErrorCodes, StrataError } from '../core/errors.js';
import { canonicalJson } from '../core/hash.js';
import type { Metadata, MetadataPatch, RowKind } from '../core/types.js';
import type { SegmentRow } from './rows.js';

/**
 * The record store of a segment: one SQLite file (records.sqlite), one table of rows keyed by an
 * integer `key` (the usearch key) and unique by `id`. This module owns the schema, the pragmas and the
 * prepared statements; the writer and reader own a RecordStore, and the RecordStore owns the one
 * database handle.
 */

export type SqliteDatabase = Database.Database;

/** Bumped when the schema changes; stored as PRAGMA user_version and checked by verification. */
export const RECORDS_SCHEMA_VERSION = 1;

export const KIND_CODE: Readonly<Record<RowKind, number>> = { put: 0, tombstone: 1, patch: 2 };
const KIND_NAME: readonly RowKind[] = ['put', 'tombstone', 'patch'];

export function kindName(code: number): RowKind {
  const k = KIND_NAME[code];
  if (k === undefined) throw new StrataError(ErrorCodes.INTERNAL, `unknown row kind code ${code}`);
  return k;
}

const RECORDS_DDL = `CREATE TABLE records (
  key INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  kind INTEGER NOT NULL, -- 0 put, 1 tombstone, 2 patch
  seq INTEGER NOT NULL,
  embedding BLOB, -- float32 little-endian, puts only
  document TEXT,
  doc_set INTEGER NOT NULL, -- 0 = a patch that leaves the document unchanged
  metadata TEXT, -- canonical JSON; NULL = none (patch with meta_set 0: unchanged)
  meta_set INTEGER NOT NULL
) STRICT`;

/**
 * Format 1 snapshots carried a metadata_index table (one row per metadata scalar); nothing reads it (the
 * query layer filters over in-memory columns), so format 2 segments have none. Verification of a format 1
 * snapshot still checks its row count.
 */
const METADATA_SCALARS_FROM = `FROM records AS r, json_each(r.metadata) AS j
  WHERE r.kind = 0 AND r.metadata IS NOT NULL AND j.type IN ('text', 'integer', 'real', 'true', 'false')`;
const METADATA_ELEMENTS_FROM = `FROM records AS r, json_each(r.metadata) AS j, json_each(j.value) AS e
  WHERE r.kind = 0 AND r.metadata IS NOT NULL AND j.type = 'array'
    AND e.type IN ('text', 'integer', 'real', 'true', 'false')`;

const METADATA_INDEX_EXPECTED_COUNT = `SELECT
  (SELECT count(*) ${METADATA_SCALARS_FROM}) + (SELECT count(*) ${METADATA_ELEMENTS_FROM}) AS n`;

export const ROW_COLUMNS = 'key, id, kind, seq, embedding, document, doc_set, metadata, meta_set';
/** A row as `.raw()` returns ROW_COLUMNS. */
export type RawRow = [
  key: number,
  id: string,
  kind: number,
  seq: number,
  embedding: Buffer | null,
  document: string | null,
  docSet: number,
  metadata: string | null,
  metaSet: number,
];

/**
 * Page size for a store of this dimension. Each put row is dimension*4 bytes of vector plus a few
 * hundred bytes of id/document/metadata; rows larger than a page spill into overflow pages, rows that fit
 * leave the rest of the page empty. Less waste means a faster write and a smaller file, and faster
 * `ORDER BY id` scans and integrity checks; point reads do not change. Rule: the smallest page
 * (4 KB..64 KB) that wastes at most 10%, else the one that wastes least; 1536-d -> 32 KB.
 */
export function pageSizeFor(dimension: number, otherBytes = 256): number {
  const row = dimension * 4 + otherBytes + 12; // + cell header and pointer
  let best = 4096;
  let bestWaste = Number.POSITIVE_INFINITY;
  for (let p = 4096; p <= 65536; p *= 2) {
    const usable = p - 8 - 4; // page header; leaf pages may also hold small-payload neighbours
    const perPage = Math.floor(usable / row);
    // A row larger than the page overflows into a chain of pages: little slack, but every read chases the
    // chain, so overflow counts as 15% plus a little per link.
    const waste = perPage === 0 ? 0.15 + Math.min(0.5, Math.ceil(row / p) / 100) : 1 - (perPage * row) / p;
    if (waste <= 0.1) return p;
    if (waste < bestWaste) {
      best = p;
      bestWaste = waste;
    }
  }
  return best;
}

const LITTLE_ENDIAN = endianness() === 'LE';

/** A zero-copy view of a Float32Array as the blob SQLite stores (float32 little-endian). */
export function f32ToBlob(v: Float32Array): Buffer {
  if (!LITTLE_ENDIAN) {
    throw new StrataError(ErrorCodes.INTERNAL, 'big-endian hosts are not supported by the record store');
  }
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** The blob as a Float32Array: a view when the Buffer owns an aligned ArrayBuffer, else a copy. */
export function blobToF32(b: Uint8Array): Float32Array {
  if (b.byteLength % 4 !== 0) {
    throw new StrataError(ErrorCodes.INTERNAL, `embedding blob of ${b.byteLength} bytes is not float32`);
  }
  if (b.byteOffset === 0 && b.buffer.byteLength === b.byteLength) {
    return new Float32Array(b.buffer, 0, b.byteLength / 4);
  }
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** Statement parameters for one row, in ROW_COLUMNS order. Normalizes what each kind may carry. */
export function encodeRow(key: number, row: SegmentRow): RawRow {
  switch (row.kind) {
    case 'put':
      return [
        key,
        row.id,
        0,
        row.seq,
        row.embedding ? f32ToBlob(row.embedding) : null,
        row.document ?? null,
        1,
        row.metadata == null ? null : canonicalJson(row.metadata),
        1,
      ];
    case 'tombstone':
      return [key, row.id, 1, row.seq, null, null, 1, null, 1];
    case 'patch':
      return [
        key,
        row.id,
        2,
        row.seq,
        null,
        row.document ?? null,
        row.document === undefined ? 0 : 1,
        row.metadata == null ? null : canonicalJson(row.metadata),
        row.metadata === undefined ? 0 : 1,
      ];
  }
}

export function decodeRow(r: RawRow): SegmentRow {
  return {
    id: r[1],
    kind: kindName(r[2]),
    seq: r[3],
    embedding: r[4] === null ? null : blobToF32(r[4]),
    document: r[6] ? r[5] : undefined,
    metadata: r[8] ? (r[7] === null ? null : (JSON.parse(r[7]) as Metadata | MetadataPatch)) : undefined,
  };
}

export interface KindCounts {
  records: number;
  tombstones: number;
  patches: number;
}

export type RecordStoreMode = 'build' | 'update' | 'readonly';

const WRITE_PRAGMAS = [
  'synchronous = OFF',
  'locking_mode = EXCLUSIVE',
  'temp_store = MEMORY',
  'cache_size = -65536',
];

/**
 * No rollback journal: the build is one transaction into a private file that is deleted if anything
 * fails, so a journal would only cost writes. better-sqlite3 runs SQLite in defensive mode, which
 * silently refuses journal_mode=OFF (answering 'delete'); unsafe mode is lifted for this one pragma.
 */
function journalOff(db: SqliteDatabase): void {
  db.unsafeMode(true);
  try {
    const mode = db.pragma('journal_mode = OFF', { simple: true });
    if (mode !== 'off') {
      throw new StrataError(ErrorCodes.INTERNAL, `SQLite refused journal_mode=OFF (got ${String(mode)})`, {
        file: db.name,
      });
    }
  } finally {
    db.unsafeMode(false);
  }
}

/** Owns one better-sqlite3 handle on records.sqlite and the statements prepared on it. */
export class RecordStore {
  readonly path: string;
  readonly mode: RecordStoreMode;
  #db: SqliteDatabase | null;
  readonly #stmts = new Map<string, Database.Statement<unknown[], unknown>>();

  private constructor(path: string, db: SqliteDatabase, mode: RecordStoreMode) {
    this.path = path;
    this.#db = db;
    this.mode = mode;
  }

  /**
   * A new, empty store for a full build. Durability is the caller's: journal and sync are off (a crash
   * leaves a temp directory that is deleted, never a half-valid segment), the caller fsyncs after close.
   */
  static create(path: string, pageSize: number): RecordStore {
    const db = new Database(path);
    try {
      if (db.pragma('page_count', { simple: true }) !== 0) {
        throw new StrataError(ErrorCodes.INTERNAL, 'record store already exists', { file: path });
      }
      db.pragma(`page_size = ${pageSize}`);
      journalOff(db);
      for (const p of WRITE_PRAGMAS) db.pragma(p);
      db.pragma(`user_version = ${RECORDS_SCHEMA_VERSION}`);
      db.exec(RECORDS_DDL);
    } catch (e) {
      db.close();
      throw e;
    }
    return new RecordStore(path, db, 'build');
  }

  /** A private copy of a base segment's store, opened for an incremental build. */
  static openForUpdate(path: string): RecordStore {
    const db = new Database(path, { fileMustExist: true });
    try {
      journalOff(db);
      for (const p of WRITE_PRAGMAS) db.pragma(p);
    } catch (e) {
      db.close();
      throw e;
    }
    return new RecordStore(path, db, 'update');
  }

  static openReadOnly(path: string): RecordStore {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    return new RecordStore(path, db, 'readonly');
  }

  get isOpen(): boolean {
    return this.#db !== null;
  }

  get db(): SqliteDatabase {
    if (this.#db === null) throw new ClosedError('record store', { file: this.path });
    return this.#db;
  }

  /** Closes the handle (and with it every prepared statement). Idempotent. */
  close(): void {
    const db = this.#db;
    if (db === null) return;
    this.#db = null;
    this.#stmts.clear();
    db.close();
  }

  #stmt<P extends unknown[] = unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
    let s = this.#stmts.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s as unknown as Database.Statement<P, R>;
  }

  begin(): void {
    this.db.exec('BEGIN');
  }

  commit(): void {
    if (this.db.inTransaction) this.db.exec('COMMIT');
  }

  insert(key: number, row: SegmentRow): void {
    this.#stmt<RawRow>(`INSERT INTO records (${ROW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      ...encodeRow(key, row),
    );
  }

  /** key and kind code of an id, if present. */
  lookup(id: string): { key: number; kind: number } | undefined {
    const r = this.#stmt<[string], [number, number]>('SELECT key, kind FROM records WHERE id = ?')
      .raw(true)
      .get(id);
    return r === undefined ? undefined : { key: r[0], kind: r[1] };
  }

  deleteKey(key: number): void {
    this.#stmt<[number]>('DELETE FROM records WHERE key = ?').run(key);
  }

  maxKey(): number {
    const v = this.#stmt<[], number | null>('SELECT max(key) FROM records').pluck(true).get();
    return v ?? 0;
  }

  countsByKind(): KindCounts {
    const counts: KindCounts = { records: 0, tombstones: 0, patches: 0 };
    const rows = this.#stmt<[], [number, number]>('SELECT kind, count(*) FROM records GROUP BY kind')
      .raw(true)
      .all();
    for (const [kind, n] of rows) {
      if (kind === 0) counts.records = n;
      else if (kind === 1) counts.tombstones = n;
      else if (kind === 2) counts.patches = n;
      else throw new StrataError(ErrorCodes.INTERNAL, `unknown row kind code ${kind}`, { file: this.path });
    }
    return counts;
  }

  rowById(id: string): SegmentRow | undefined {
    const r = this.#stmt<[string], RawRow>(`SELECT ${ROW_COLUMNS} FROM records WHERE id = ?`)
      .raw(true)
      .get(id);
    return r === undefined ? undefined : decodeRow(r);
  }

  rowByKey(key: number): SegmentRow | undefined {
    const r = this.#stmt<[number], RawRow>(`SELECT ${ROW_COLUMNS} FROM records WHERE key = ?`)
      .raw(true)
      .get(key);
    return r === undefined ? undefined : decodeRow(r);
  }

  /** Keys of these ids' puts, in one statement. */
  keysOfIds(ids: readonly string[]): Map<string, number> {
    const rows = this.#stmt<[string], [string, number]>(
      'SELECT id, key FROM records WHERE kind = 0 AND id IN (SELECT value FROM json_each(?))',
    )
      .raw(true)
      .all(JSON.stringify(ids));
    return new Map(rows);
  }

  /** Every put in key order, streamed: key, id, metadata JSON, document and (when asked) the embedding. */
  iteratePuts(
    vectors: boolean,
  ): IterableIterator<
    [key: number, id: string, metadata: string | null, document: string | null, embedding: Buffer | null]
  > {
    return this.#stmt<[], [number, string, string | null, string | null, Buffer | null]>(
      `SELECT key, id, metadata, document, ${vectors ? 'embedding' : 'NULL'} FROM records WHERE kind = 0 ORDER BY key`,
    )
      .raw(true)
      .iterate();
  }

  /** The stored embedding of a key: a Buffer for a put, null for another kind, undefined if absent. */
  embeddingBlob(key: number): Buffer | null | undefined {
    const r = this.#stmt<[number], [Buffer | null]>('SELECT embedding FROM records WHERE key = ?')
      .raw(true)
      .get(key);
    return r === undefined ? undefined : r[0];
  }

  /** Ids of many keys in one statement (a k-NN answer resolves all its hits at once). */
  idsOfKeys(keys: readonly number[]): Map<number, string> {
    const rows = this.#stmt<[string], [number, string]>(
      'SELECT key, id FROM records WHERE key IN (SELECT value FROM json_each(?))',
    )
      .raw(true)
      .all(JSON.stringify(keys));
    return new Map(rows);
  }

  idOfKey(key: number): string | undefined {
    return this.#stmt<[number], string>('SELECT id FROM records WHERE key = ?').pluck(true).get(key);
  }

  /** Keys of all puts, ascending. */
  putKeys(): number[] {
    return this.#stmt<[], number>('SELECT key FROM records WHERE kind = 0 ORDER BY key').pluck(true).all();
  }

  /** Every put's key and embedding, ascending by key, streamed. */
  iteratePutVectors(): IterableIterator<[number, Buffer | null]> {
    return this.#stmt<[], [number, Buffer | null]>(
      'SELECT key, embedding FROM records WHERE kind = 0 ORDER BY key',
    )
      .raw(true)
      .iterate();
  }

  /** Every row in id order (SQLite BINARY = UTF-8 byte order), streamed. */
  iterateOrdered(): IterableIterator<RawRow> {
    return this.#stmt<[], RawRow>(`SELECT ${ROW_COLUMNS} FROM records ORDER BY id`).raw(true).iterate();
  }

  /** Up to `limit` rows with id > after, in id order. */
  batchAfter(after: string, limit: number): RawRow[] {
    return this.#stmt<[string, number], RawRow>(
      `SELECT ${ROW_COLUMNS} FROM records WHERE id > ? ORDER BY id LIMIT ?`,
    )
      .raw(true)
      .all(after, limit);
  }

  dropMetadataIndex(): void {
    this.db.exec('DROP TABLE IF EXISTS metadata_index');
  }

  hasMetadataIndex(): boolean {
    return (
      this.#stmt<[], number>(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'metadata_index'",
      )
        .pluck(true)
        .get() === 1
    );
  }

  /** [rows in metadata_index, rows it should have]. */
  metadataIndexCounts(): [actual: number, expected: number] {
    const actual = this.db.prepare('SELECT count(*) FROM metadata_index').pluck(true).get() as number;
    const expected = this.db.prepare(METADATA_INDEX_EXPECTED_COUNT).pluck(true).get() as number;
    return [actual, expected];
  }

  /** PRAGMA integrity_check: [] when ok, else SQLite's messages. */
  integrityCheck(): string[] {
    const rows = this.db.prepare('PRAGMA integrity_check').pluck(true).all() as string[];
    return rows.length === 1 && rows[0] === 'ok' ? [] : rows;
  }

  schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }
}
