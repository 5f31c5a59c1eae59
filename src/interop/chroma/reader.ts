/**
 * Reads a Chroma persistent directory (Chroma 0.5–1.0 local layout) without starting Chroma:
 *
 * - records, documents and metadata from the metadata segment in chroma.sqlite3 (`embeddings`,
 *   `embedding_metadata`; the document is the `chroma:document` key) — Chroma applies every write to it
 *   synchronously, so it is current up to its `max_seq_id`;
 * - vectors from the hnswlib files of the vector segment, which Chroma persists only every `sync_threshold`
 *   (1,000) additions, up to that segment's `max_seq_id`, then replays the write-ahead log
 *   (`embeddings_queue`) after it: ADD (0) inserts if absent, UPDATE (1) replaces the vector of a present
 *   id, UPSERT (2) inserts or replaces, DELETE (3) removes.
 *
 * Before anything is read the directory must not be in use by another process (in-use.ts). Then the two
 * sides are reconciled and every disagreement is refused with a code: a record whose last write is after
 * the index's persisted seq but absent from the log (E_CHROMA_LOG_MISSING), a record without a vector or
 * a vector without a record (E_CHROMA_COUNTS), a short index file (E_CHROMA_INDEX_TRUNCATED). Vectors are
 * returned exactly as Chroma serves them (cosine spaces: see cosine.ts). A fingerprint of every file
 * (size, mtime, inode) taken at open is compared again by assertUnchanged() (E_CHROMA_CHANGED).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ChromaSpace } from '../../core/chroma.js';
import { ErrorCodes, StrataError } from '../../core/errors.js';
import type { Metadata, MetadataValue, UpsertOp } from '../../core/types.js';
import { validateDocument, validateEmbedding, validateId, validateMetadata } from '../../core/validate.js';
import { chromaView } from './cosine.js';
import { HNSW_FILES, HnswSegmentFiles } from './hnsw-files.js';
import { assertNotInUse } from './in-use.js';
import { type ChromaDb, openChromaSqlite } from './sqlite.js';

export const CHROMA_DB_FILE = 'chroma.sqlite3';

export interface ChromaCollectionInfo {
  id: string;
  name: string;
  tenant: string;
  database: string;
  /** null when nothing was ever added. */
  dimension: number | null;
  space: ChromaSpace;
  metadata: Record<string, MetadataValue>;
  configuration: unknown;
  vectorSegment: string;
  metadataSegment: string;
}

type VectorSource = { kind: 'index'; internalId: number } | { kind: 'log'; seq: number };

/** Everything needed to produce a collection's records, checked for consistency. */
export interface ChromaCollectionPlan {
  info: ChromaCollectionInfo;
  count: number;
  /** Seq of the last operation in the persisted index, and of the last one applied to the metadata. */
  indexSeq: number;
  metadataSeq: number;
  /** How many vectors come from the index files and how many from the log. */
  fromIndex: number;
  fromLog: number;
  ids: string[];
  sources: Map<string, VectorSource>;
}

const OP = { add: 0, update: 1, upsert: 2, delete: 3 } as const;

interface FileStamp {
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

/** Does this directory look like a Chroma persistent directory? */
export function isChromaDirectory(dir: string): boolean {
  return existsSync(join(dir, CHROMA_DB_FILE));
}

export class ChromaDirectory implements Disposable {
  readonly dir: string;
  #db: ChromaDb | null;
  readonly #stamps: FileStamp[];

  private constructor(dir: string, db: ChromaDb, stamps: FileStamp[]) {
    this.dir = dir;
    this.#db = db;
    this.#stamps = stamps;
  }

  /** Refuses a directory another process may be writing (E_CHROMA_IN_USE), then opens it read-only. */
  static open(dir: string): ChromaDirectory {
    const root = resolve(dir);
    const dbPath = join(root, CHROMA_DB_FILE);
    if (!existsSync(dbPath)) {
      throw new StrataError(
        ErrorCodes.CHROMA_FORMAT,
        `${root} is not a Chroma persistent directory (no ${CHROMA_DB_FILE})`,
        { file: root },
      );
    }
    assertNotInUse(root);
    const stamps = fingerprint(root);
    return new ChromaDirectory(root, openChromaSqlite(dbPath), stamps);
  }

  #live(): ChromaDb {
    if (this.#db === null)
      throw new StrataError(ErrorCodes.CLOSED, 'chroma directory is closed', { file: this.dir });
    return this.#db;
  }

  collections(): ChromaCollectionInfo[] {
    const db = this.#live();
    const rows = db
      .prepare(
        `SELECT c.id, c.name, c.dimension, c.config_json_str AS config, d.name AS database, d.tenant_id AS tenant
         FROM collections c JOIN databases d ON d.id = c.database_id ORDER BY d.tenant_id, d.name, c.name`,
      )
      .all() as Array<{
      id: string;
      name: string;
      dimension: number | null;
      config: string | null;
      database: string;
      tenant: string;
    }>;
    const segStmt = db.prepare('SELECT id, scope FROM segments WHERE collection = ?');
    const metaStmt = db.prepare(
      'SELECT key, str_value, int_value, float_value, bool_value FROM collection_metadata WHERE collection_id = ?',
    );
    return rows.map((r) => {
      const segs = segStmt.all(r.id) as Array<{ id: string; scope: string }>;
      const vector = segs.find((s) => s.scope === 'VECTOR');
      const meta = segs.find((s) => s.scope === 'METADATA');
      if (!vector || !meta) {
        throw new StrataError(
          ErrorCodes.CHROMA_FORMAT,
          `collection ${r.name} lacks a ${vector ? 'metadata' : 'vector'} segment`,
          {
            collection: r.name,
            file: join(this.dir, CHROMA_DB_FILE),
          },
        );
      }
      const metadata: Record<string, MetadataValue> = {};
      for (const m of metaStmt.all(r.id) as MetaRow[])
        metadata[m.key] = scalarOf(m.str_value, m.int_value, m.float_value, m.bool_value);
      let configuration: unknown = null;
      try {
        configuration = r.config ? JSON.parse(r.config) : null;
      } catch {
        configuration = null;
      }
      return {
        id: r.id,
        name: r.name,
        tenant: r.tenant,
        database: r.database,
        dimension: r.dimension,
        space: spaceOf(configuration, metadata),
        metadata,
        configuration,
        vectorSegment: vector.id,
        metadataSegment: meta.id,
      };
    });
  }

  #maxSeq(segment: string): number {
    const v = this.#live()
      .prepare('SELECT seq_id FROM max_seq_id WHERE segment_id = ?')
      .pluck()
      .get(segment) as unknown;
    return v === undefined || v === null ? 0 : seqOf(v);
  }

  /** Reconciles index files, log and metadata segment; throws a coded error on any disagreement. */
  plan(info: ChromaCollectionInfo): ChromaCollectionPlan {
    const db = this.#live();
    const ctx = { collection: info.name, file: this.dir };
    const indexSeq = this.#maxSeq(info.vectorSegment);
    const metadataSeq = this.#maxSeq(info.metadataSegment);
    const sources = new Map<string, VectorSource>();
    if (info.dimension !== null) {
      using files = this.#openIndex(info, indexSeq);
      if (files) {
        for (const el of files.elements()) {
          if (el.deleted) continue;
          const id = files.labelToId.get(el.label);
          if (id === undefined) {
            throw new StrataError(
              ErrorCodes.CHROMA_COUNTS,
              `index element ${el.internalId} has label ${el.label}, which index_metadata.pickle does not name`,
              {
                ...ctx,
                file: files.dir,
              },
            );
          }
          if (sources.has(id))
            throw new StrataError(ErrorCodes.CHROMA_COUNTS, `id ${id} is live twice in the index`, {
              ...ctx,
              id,
              file: files.dir,
            });
          sources.set(id, { kind: 'index', internalId: el.internalId });
        }
      }
    }
    // replay the log after the index's persisted seq
    const log = db
      .prepare(
        'SELECT seq_id AS seq, operation AS op, id, vector IS NOT NULL AS hasVector FROM embeddings_queue WHERE topic LIKE ? AND seq_id > ? ORDER BY seq_id',
      )
      .all(`%/${info.id}`, indexSeq) as Array<{ seq: number; op: number; id: string; hasVector: number }>;
    const logged = new Map<number, string>();
    let lastLogSeq = indexSeq;
    for (const e of log) {
      logged.set(e.seq, e.id);
      lastLogSeq = Math.max(lastLogSeq, e.seq);
      if ((e.op === OP.add || e.op === OP.upsert) && !e.hasVector) {
        throw new StrataError(ErrorCodes.CHROMA_FORMAT, `log entry ${e.seq} adds ${e.id} without a vector`, {
          ...ctx,
          id: e.id,
          seq: e.seq,
        });
      }
      switch (e.op) {
        case OP.add:
          if (!sources.has(e.id)) sources.set(e.id, { kind: 'log', seq: e.seq });
          break;
        case OP.upsert:
          sources.set(e.id, { kind: 'log', seq: e.seq });
          break;
        case OP.update:
          if (e.hasVector && sources.has(e.id)) sources.set(e.id, { kind: 'log', seq: e.seq });
          break;
        case OP.delete:
          sources.delete(e.id);
          break;
        default:
          throw new StrataError(
            ErrorCodes.CHROMA_FORMAT,
            `log entry ${e.seq} has unknown operation ${e.op}`,
            { ...ctx, seq: e.seq },
          );
      }
    }
    if (lastLogSeq > metadataSeq) {
      throw new StrataError(
        ErrorCodes.CHROMA_COUNTS,
        `the log holds operations up to seq ${lastLogSeq} but the metadata segment has applied only up to ${metadataSeq} (not cleanly closed; open it once with Chroma)`,
        { ...ctx, seq: lastLogSeq },
      );
    }
    if (metadataSeq > indexSeq && !logged.has(metadataSeq)) {
      throw new StrataError(
        ErrorCodes.CHROMA_LOG_MISSING,
        `log entries missing: the metadata segment has applied seq ${metadataSeq}, the index is persisted up to ${indexSeq}, and the log has no entry ${metadataSeq}`,
        { ...ctx, seq: metadataSeq, indexSeq },
      );
    }
    // every record of the metadata segment must have exactly one vector, and vice versa
    const records = db
      .prepare(
        'SELECT embedding_id AS id, seq_id AS seq FROM embeddings WHERE segment_id = ? ORDER BY embedding_id',
      )
      .all(info.metadataSegment) as Array<{
      id: string;
      seq: unknown;
    }>;
    const missingLog: string[] = [];
    const noVector: string[] = [];
    for (const r of records) {
      const seq = seqOf(r.seq);
      if (seq > indexSeq && logged.get(seq) !== r.id) missingLog.push(r.id);
      else if (!sources.has(r.id)) noVector.push(r.id);
    }
    if (missingLog.length > 0) {
      throw new StrataError(
        ErrorCodes.CHROMA_LOG_MISSING,
        `log entries missing: ${missingLog.length} record(s) were last written after the index's persisted seq ${indexSeq} but the log does not hold those writes (first: ${missingLog[0]})`,
        { ...ctx, ids: missingLog.slice(0, 10), count: missingLog.length },
      );
    }
    if (noVector.length > 0 || sources.size !== records.length) {
      const known = new Set(records.map((r) => r.id));
      const extra = [...sources.keys()].filter((id) => !known.has(id));
      throw new StrataError(
        ErrorCodes.CHROMA_COUNTS,
        `counts disagree: the metadata segment has ${records.length} records, index + log give ${sources.size} vectors (${noVector.length} record(s) without a vector, ${extra.length} vector(s) without a record)`,
        {
          ...ctx,
          records: records.length,
          vectors: sources.size,
          withoutVector: noVector.slice(0, 10),
          withoutRecord: extra.slice(0, 10),
        },
      );
    }
    let fromIndex = 0;
    for (const s of sources.values()) if (s.kind === 'index') fromIndex++;
    return {
      info,
      count: records.length,
      indexSeq,
      metadataSeq,
      fromIndex,
      fromLog: sources.size - fromIndex,
      ids: records.map((r) => r.id),
      sources,
    };
  }

  #openIndex(info: ChromaCollectionInfo, indexSeq: number): HnswSegmentFiles | null {
    const dir = join(this.dir, info.vectorSegment);
    if (!existsSync(join(dir, HNSW_FILES.header))) {
      if (indexSeq > 0) {
        throw new StrataError(
          ErrorCodes.CHROMA_INDEX_TRUNCATED,
          `the index is persisted up to seq ${indexSeq} but ${dir}/header.bin is missing`,
          {
            collection: info.name,
            file: dir,
          },
        );
      }
      return null;
    }
    return HnswSegmentFiles.open(dir, info.dimension!);
  }

  /**
   * The collection's records as validated upserts, `batchSize` at a time, in id order. Documents and
   * metadata are validated like any producer's (coded errors name the collection and id).
   */
  *records(plan: ChromaCollectionPlan, batchSize = 10_000): Generator<UpsertOp[]> {
    const db = this.#live();
    const { info } = plan;
    const dim = info.dimension;
    if (dim === null || plan.count === 0) return;
    const cosine = info.space === 'cosine';
    using files = this.#openIndex(info, plan.indexSeq);
    const logStmt = db.prepare('SELECT vector, encoding FROM embeddings_queue WHERE seq_id = ?');
    const metaStmt = db.prepare(
      `SELECT m.key, m.string_value AS str_value, m.int_value, m.float_value, m.bool_value
       FROM embeddings e JOIN embedding_metadata m ON m.id = e.id WHERE e.segment_id = ? AND e.embedding_id = ?`,
    );
    metaStmt.safeIntegers(true);
    for (let start = 0; start < plan.ids.length; start += batchSize) {
      const batch: UpsertOp[] = [];
      for (const id of plan.ids.slice(start, start + batchSize)) {
        const ctx = { collection: info.name, id };
        const src = plan.sources.get(id)!;
        let embedding: Float32Array;
        if (src.kind === 'index') embedding = files!.vector(src.internalId, cosine);
        else {
          const row = logStmt.get(src.seq) as { vector: Buffer | null; encoding: string | null } | undefined;
          if (!row?.vector)
            throw new StrataError(ErrorCodes.CHROMA_LOG_MISSING, `log entry ${src.seq} disappeared`, {
              ...ctx,
              seq: src.seq,
            });
          if (row.encoding !== null && row.encoding.toUpperCase() !== 'FLOAT32') {
            throw new StrataError(
              ErrorCodes.CHROMA_FORMAT,
              `log entry ${src.seq} has unsupported vector encoding ${row.encoding}`,
              ctx,
            );
          }
          if (row.vector.byteLength !== dim * 4) {
            throw new StrataError(
              ErrorCodes.DIMENSION_MISMATCH,
              `log entry ${src.seq} holds ${row.vector.byteLength / 4} dimensions, the collection ${dim}`,
              ctx,
            );
          }
          const raw = new Float32Array(dim);
          for (let j = 0; j < dim; j++) raw[j] = row.vector.readFloatLE(4 * j);
          embedding = cosine ? chromaView(raw) : raw;
        }
        let document: string | null = null;
        const metadata: Metadata = {};
        let keys = 0;
        for (const m of metaStmt.all(info.metadataSegment, id) as MetaRow[]) {
          if (m.key === 'chroma:document') {
            document = m.str_value;
            continue;
          }
          if (m.key.startsWith('chroma:')) continue;
          metadata[m.key] = scalarOf(m.str_value, m.int_value, m.float_value, m.bool_value, ctx);
          keys++;
        }
        batch.push({
          op: 'upsert',
          id: validateId(id, ctx),
          embedding: validateEmbedding(embedding, dim, ctx),
          document: validateDocument(document, ctx),
          metadata: validateMetadata(keys > 0 ? metadata : null, ctx),
        });
      }
      yield batch;
    }
  }

  /** Throws E_CHROMA_CHANGED if any file changed since open (someone wrote the directory meanwhile). */
  assertUnchanged(): void {
    const now = new Map(fingerprint(this.dir).map((s) => [s.path, s]));
    const changed: string[] = [];
    for (const s of this.#stamps) {
      const n = now.get(s.path);
      if (!n || n.size !== s.size || n.mtimeMs !== s.mtimeMs || n.ino !== s.ino) changed.push(s.path);
      now.delete(s.path);
    }
    changed.push(...now.keys());
    if (changed.length > 0) {
      throw new StrataError(
        ErrorCodes.CHROMA_CHANGED,
        `${this.dir} changed while it was read (${changed.length} file(s), first ${changed[0]}); nothing was kept`,
        {
          file: this.dir,
          changed: changed.slice(0, 10),
        },
      );
    }
  }

  close(): void {
    this.#db?.close();
    this.#db = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

interface MetaRow {
  key: string;
  str_value: string | null;
  int_value: number | bigint | null;
  float_value: number | null;
  bool_value: number | bigint | null;
}

function scalarOf(
  s: string | null,
  i: number | bigint | null,
  f: number | null,
  b: number | bigint | null,
  ctx: Record<string, unknown> = {},
): MetadataValue {
  if (s !== null) return s;
  if (i !== null) {
    if (typeof i === 'bigint') {
      if (i > BigInt(Number.MAX_SAFE_INTEGER) || i < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new StrataError(
          ErrorCodes.METADATA_TYPE,
          `metadata integer ${i} is beyond ±2^53 and cannot be kept exactly`,
          ctx,
        );
      }
      return Number(i);
    }
    return i;
  }
  if (f !== null) return f;
  if (b !== null) return Number(b) !== 0;
  throw new StrataError(ErrorCodes.METADATA_TYPE, 'metadata value is null', ctx);
}

/** Seq ids are integers (Chroma ≥ 0.5) or 8-byte big-endian blobs (older releases). */
function seqOf(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (Buffer.isBuffer(v) && v.length <= 8) {
    let n = 0;
    for (const byte of v) n = n * 256 + byte;
    return n;
  }
  throw new StrataError(ErrorCodes.CHROMA_FORMAT, `unreadable seq id ${String(v)}`);
}

function spaceOf(configuration: unknown, metadata: Record<string, MetadataValue>): ChromaSpace {
  const c = configuration as {
    vector_index?: { hnsw?: { space?: unknown } };
    hnsw?: { space?: unknown };
  } | null;
  const s = c?.vector_index?.hnsw?.space ?? c?.hnsw?.space ?? metadata['hnsw:space'] ?? 'l2';
  if (s === 'cosine' || s === 'l2' || s === 'ip') return s;
  throw new StrataError(ErrorCodes.CHROMA_FORMAT, `unsupported distance space ${String(s)}`);
}

function fingerprint(root: string): FileStamp[] {
  const out: FileStamp[] = [];
  const add = (path: string) => {
    const st = statSync(path);
    out.push({ path, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
  };
  for (const e of readdirSync(root, { withFileTypes: true })) {
    const p = join(root, e.name);
    if (e.isFile()) add(p);
    else if (e.isDirectory())
      for (const f of readdirSync(p, { withFileTypes: true })) if (f.isFile()) add(join(p, f.name));
  }
  return out;
}

/**
 * For `strata ingest`: null if `path` is not a directory; [path] if it is a Chroma directory; else the Chroma
 * directories directly inside it, in name order (the seed system's deltas were such directories).
 */
export function chromaDirectoriesIn(path: string): string[] | null {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    return null;
  }
  if (!isDir) return null;
  if (isChromaDirectory(path)) return [path];
  const dirs = readdirSync(path, { withFileTypes: true })
    .filter((e) => e.isDirectory() && isChromaDirectory(join(path, e.name)))
    .map((e) => join(path, e.name))
    .sort();
  if (dirs.length === 0)
    throw new StrataError(
      ErrorCodes.USAGE,
      `${path} is a directory without Chroma persistent directories (no ${CHROMA_DB_FILE})`,
      { file: path },
    );
  return dirs;
}
