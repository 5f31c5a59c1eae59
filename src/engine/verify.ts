import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { ContentHasher, sha256File } from '../core/hash.js';
import { LtHash } from '../core/lthash.js';
import type { SegmentKind, SegmentManifest } from '../core/manifest.js';
import type { Metadata, MetadataPatch, Metric, Quantization, SeqRange } from '../core/types.js';
import { AnnIndex, readIndexHeader } from './ann-index.js';
import { distance } from './distance.js';
import { compareIds } from './ids.js';
import {
  blobToF32,
  type KindCounts,
  kindName,
  type RawRow,
  RECORDS_SCHEMA_VERSION,
  RecordStore,
  ROW_COLUMNS,
  type SqliteDatabase,
} from './record-store.js';
import type { SegmentRow } from './rows.js';
import { SEGMENT_FILES } from './segment-files.js';

export interface VerifyReport {
  ok: boolean;
  /** One line per disagreement, each starting with the file it concerns. */
  problems: string[];
  /**
   * Recomputed from the files when the check was full; otherwise as the manifest records them
   * (index: null when the segment has no index or it was not opened).
   */
  counts: KindCounts & { index: number | null };
  /** Recomputed when the check was full; otherwise the manifest's value. */
  contentHash: string;
}

export interface SegmentContent {
  contentHash: string;
  counts: KindCounts;
  seqRange: SeqRange | null;
}

/**
 * Feeds one row into a ContentHasher, normalized exactly as the record store stores it (a put's or
 * tombstone's absent document is null; a tombstone carries nothing but its id). Anything that hashes
 * rows for comparison with a manifest's contentHash should go through here.
 */
export function hashSegmentRow(h: ContentHasher, row: SegmentRow): void {
  switch (row.kind) {
    case 'put':
      h.add({
        kind: 'put',
        id: row.id,
        embedding: row.embedding,
        document: row.document ?? null,
        documentSet: true,
        metadata: row.metadata ?? null,
      });
      return;
    case 'tombstone':
      h.add({
        kind: 'tombstone',
        id: row.id,
        embedding: null,
        document: null,
        documentSet: true,
        metadata: null,
      });
      return;
    case 'patch':
      h.add({
        kind: 'patch',
        id: row.id,
        embedding: null,
        document: row.document ?? null,
        documentSet: row.document !== undefined,
        metadata: row.metadata ?? null,
        metadataSet: row.metadata !== undefined,
      });
      return;
  }
}

/**
 * The logical content of a record store: every row in id order through ContentHasher, or (`lthash`: data
 * segments) every put through the LtHash, whose digest is then the content hash.
 */
export function computeSegmentContent(
  db: SqliteDatabase,
  lthash = false,
): SegmentContent & { lthash?: LtHash } {
  const { problems: _ignored, ...content } = scanContent(db, null, lthash);
  return content;
}

const MAX_PROBLEMS_PER_CHECK = 10;

/** One pass over the rows in id order: hash, counts, seq range and (with a dimension) row checks. */
function scanContent(
  db: SqliteDatabase,
  dimension: number | null,
  useLtHash: boolean,
): SegmentContent & { problems: string[]; lthash?: LtHash } {
  const h = useLtHash ? null : new ContentHasher();
  const lt = useLtHash ? new LtHash() : null;
  const counts: KindCounts = { records: 0, tombstones: 0, patches: 0 };
  const problems: string[] = [];
  const problem = (msg: string) => {
    if (problems.length < MAX_PROBLEMS_PER_CHECK) problems.push(`${SEGMENT_FILES.records}: ${msg}`);
  };
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  let prev: string | null = null;
  const stmt = db.prepare<[], RawRow>(`SELECT ${ROW_COLUMNS} FROM records ORDER BY id`).raw(true);
  for (const r of stmt.iterate()) {
    const [, id, kindCode, seq, blob, document, docSet, metadata, metaSet] = r;
    const kind = kindName(kindCode);
    if (kind === 'put') counts.records++;
    else if (kind === 'tombstone') counts.tombstones++;
    else counts.patches++;
    if (seq < lo) lo = seq;
    if (seq > hi) hi = seq;
    const embedding = blob === null ? null : blobToF32(blob);
    if (dimension !== null) {
      if (prev !== null && compareIds(prev, id) >= 0)
        problem(`ids out of order: ${JSON.stringify(prev)} before ${id}`);
      if (kind === 'put') {
        if (embedding === null) problem(`put ${JSON.stringify(id)} has no embedding`);
        else if (embedding.length !== dimension) {
          problem(`put ${JSON.stringify(id)} has ${embedding.length} dimensions, expected ${dimension}`);
        } else if (!allFinite(embedding)) problem(`put ${JSON.stringify(id)} has a non-finite component`);
        if (docSet !== 1 || metaSet !== 1)
          problem(`put ${JSON.stringify(id)} has an unset document/metadata`);
      } else {
        if (embedding !== null) problem(`${kind} ${JSON.stringify(id)} carries an embedding`);
        if (kind === 'tombstone' && (document !== null || metadata !== null)) {
          problem(`tombstone ${JSON.stringify(id)} carries a document or metadata`);
        }
      }
    }
    prev = id;
    let meta: Metadata | MetadataPatch | null = null;
    if (metaSet && metadata !== null) {
      try {
        meta = JSON.parse(metadata) as Metadata | MetadataPatch;
      } catch {
        problem(`row ${JSON.stringify(id)} has metadata that is not JSON`);
      }
    }
    if (lt) lt.add({ id, embedding, document: docSet ? document : null, metadata: meta as Metadata | null });
    else
      h!.add({
        kind,
        id,
        embedding,
        document: docSet ? document : null,
        documentSet: docSet === 1,
        metadata: meta,
        metadataSet: kind === 'patch' ? metaSet === 1 : true,
      });
  }
  return {
    contentHash: lt ? lt.digest() : h!.digest(),
    counts,
    seqRange: Number.isFinite(lo) ? [lo, hi] : null,
    problems,
    ...(lt ? { lthash: lt } : {}),
  };
}

function allFinite(v: Float32Array): boolean {
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    // x - x is NaN for NaN and ±Infinity, 0 otherwise
    if (x - x !== 0) return false;
  }
  return true;
}

/** What a segment's files must agree with (from the writer's own tallies, or from a manifest). */
export interface SegmentExpectation {
  kind: SegmentKind;
  formatVersion: number;
  dimension: number;
  metric: Metric;
  quantization: Quantization;
  index: SegmentManifest['index'];
  counts?: KindCounts;
  contentHash?: string;
  /** Data segments: the LtHash state (base64) and largest key the files must agree with. */
  lthash?: string;
  maxKey?: number;
}

export interface ContentCheck {
  report: VerifyReport;
  seqRange: SeqRange | null;
  /** Data segments: the LtHash recomputed from the files. */
  lthash?: LtHash;
}

const SELF_QUERY_SAMPLE = 16;
const SELF_QUERY_K = 10;

/**
 * Opens a segment's files read-only and checks them: SQLite integrity, schema, every row (order,
 * dimension, finiteness, kind rules), counts and content hash against the expectation, the metadata
 * index, and (if any) the ANN index: header parameters, size == puts, every put key present, and
 * self-queries of up to 16 evenly spaced puts. Every handle is closed before this resolves.
 */
export async function checkSegmentContent(dir: string, expected: SegmentExpectation): Promise<ContentCheck> {
  const problems: string[] = [];
  const counts: VerifyReport['counts'] = { records: 0, tombstones: 0, patches: 0, index: null };
  let contentHash = '';
  let seqRange: SeqRange | null = null;
  let lthash: LtHash | undefined;
  const isData = expected.kind === 'data';
  const recordsPath = join(dir, SEGMENT_FILES.records);
  const indexPath = join(dir, SEGMENT_FILES.index);
  const rp = (msg: string) => problems.push(`${SEGMENT_FILES.records}: ${msg}`);
  const ip = (msg: string) => problems.push(`${SEGMENT_FILES.index}: ${msg}`);

  let store: RecordStore | null = null;
  let ann: AnnIndex | null = null;
  try {
    try {
      store = RecordStore.openReadOnly(recordsPath);
      const integrity = store.integrityCheck();
      if (integrity.length > 0) rp(`integrity_check: ${integrity.slice(0, 5).join('; ')}`);
      const version = store.schemaVersion();
      if (version !== RECORDS_SCHEMA_VERSION)
        rp(`schema version ${version}, expected ${RECORDS_SCHEMA_VERSION}`);
      const content = scanContent(store.db, expected.dimension, isData);
      problems.push(...content.problems);
      Object.assign(counts, content.counts);
      contentHash = content.contentHash;
      seqRange = content.seqRange;
      lthash = content.lthash;
      if (isData && expected.maxKey !== undefined && store.maxKey() > expected.maxKey) {
        rp(`holds key ${store.maxKey()}, beyond the segment's largest key ${expected.maxKey}`);
      }
    } catch (e) {
      rp(`cannot be read: ${(e as Error).message}`);
    }
    if (store?.isOpen && contentHash) {
      const want = expected.counts;
      if (want) {
        for (const k of ['records', 'tombstones', 'patches'] as const) {
          if (want[k] !== counts[k]) rp(`holds ${counts[k]} ${k}, expected ${want[k]}`);
        }
      }
      if ((expected.kind === 'snapshot' || isData) && (counts.tombstones > 0 || counts.patches > 0)) {
        rp(`a ${expected.kind} segment holds ${counts.tombstones} tombstones and ${counts.patches} patches`);
      }
      if (expected.kind === 'changes' && counts.records > 0)
        rp(`a changes segment holds ${counts.records} puts`);
      if (expected.contentHash !== undefined && expected.contentHash !== contentHash) {
        rp(`content hash ${contentHash} differs from the expected ${expected.contentHash}`);
      }
      if (expected.lthash !== undefined && lthash !== undefined && lthash.encode() !== expected.lthash) {
        rp(`LtHash ${lthash.digest()} differs from the expected ${LtHash.decode(expected.lthash).digest()}`);
      }
      try {
        if (expected.formatVersion === 1 && expected.index !== null) {
          if (!store.hasMetadataIndex()) rp('has no metadata_index');
          else {
            const [actual, want2] = store.metadataIndexCounts();
            if (actual !== want2) rp(`metadata_index has ${actual} rows, the metadata gives ${want2}`);
          }
        } else if (store.hasMetadataIndex())
          rp('has a metadata_index (only format 1 snapshots with an index carry one)');
      } catch (e) {
        rp(`metadata_index cannot be read: ${(e as Error).message}`);
      }
    }

    if (expected.index !== null) {
      const params = {
        dimension: expected.dimension,
        metric: expected.metric,
        quantization: expected.quantization,
        connectivity: expected.index.connectivity,
        expansionAdd: expected.index.expansionAdd,
        expansionSearch: expected.index.expansionSearch,
      };
      try {
        const head = await readIndexHeader(indexPath);
        if (head.metric !== expected.metric)
          ip(`metric code ${head.metricCode}, expected ${expected.metric}`);
        if (head.quantization !== expected.quantization) {
          ip(`scalar code ${head.scalarCode}, expected ${expected.quantization}`);
        }
        if (head.dimension !== expected.dimension)
          ip(`dimension ${head.dimension}, expected ${expected.dimension}`);
        if (head.multi) ip('is a multi-vector index');
        ann = AnnIndex.view(indexPath, params);
        counts.index = ann.size;
      } catch (e) {
        ip((e as Error).message);
      }
      if (ann !== null && store?.isOpen && contentHash) {
        if (ann.size !== counts.records)
          ip(`holds ${ann.size} vectors, the record store ${counts.records} puts`);
        const keys = store.putKeys();
        const missing = ann.missing(keys);
        if (missing.length > 0) {
          ip(`lacks ${missing.length} put keys (e.g. ${missing.slice(0, 5).join(', ')})`);
        }
        selfQueries(store, ann, keys, expected.metric, expected.quantization, ip);
      }
    }
  } finally {
    ann?.close();
    store?.close();
  }
  return {
    report: { ok: problems.length === 0, problems, counts, contentHash },
    seqRange,
    ...(lthash ? { lthash } : {}),
  };
}

/**
 * Self-queries of up to 16 evenly spaced puts. Two checks:
 * - every hit's distance as the index reports it agrees with the exact distance from the stored f32
 *   vector (within quantization error): the index maps keys to the right vectors. Deterministic.
 * - each sampled key is found among its top 10, or at least 10 vectors are as close to the query as the
 *   key itself is (exact duplicates; or ip, where a vector is not its own nearest neighbour); a miss is
 *   retried with ef 100. HNSW leaves a few nodes unreachable (a handful for cos/l2sq, more for ip even at
 *   ef 100), so a miss alone is not corruption: more than a quarter of the sample missing is.
 */
function selfQueries(
  store: RecordStore,
  ann: AnnIndex,
  keys: number[],
  metric: Metric,
  quantization: Quantization,
  problem: (msg: string) => void,
): void {
  const m = Math.min(SELF_QUERY_SAMPLE, keys.length);
  const tolerance = quantization === 'f16' ? 1e-2 : 1e-4;
  const stored = new Map<number, Float32Array | null>();
  const vector = (key: number): Float32Array | null => {
    let v = stored.get(key);
    if (v === undefined) {
      const blob = store.embeddingBlob(key);
      v = blob ? blobToF32(blob) : null;
      stored.set(key, v);
    }
    return v;
  };
  const scale = (a: Float32Array, b: Float32Array) =>
    metric === 'cos' ? 1 : Math.max(1, 2 * normSq(a), 2 * normSq(b));
  const missed: number[] = [];
  let mismatches = 0;
  for (let i = 0; i < m; i++) {
    const key = keys[m === 1 ? 0 : Math.round((i * (keys.length - 1)) / (m - 1))]!;
    const v = vector(key);
    if (!v) continue; // reported by the row scan
    const res = ann.search(v, SELF_QUERY_K);
    for (let j = 0; j < res.keys.length; j++) {
      const hv = vector(res.keys[j]!);
      if (hv === null) {
        if (mismatches++ < 3)
          problem(`self-query for key ${key} returned key ${res.keys[j]}, which is not a put`);
        continue;
      }
      const exact = distance(metric, v, hv);
      if (Math.abs(res.distances[j]! - exact) > tolerance * scale(v, hv)) {
        if (mismatches++ < 3) {
          problem(
            `key ${res.keys[j]} is at distance ${res.distances[j]} in the index but ${exact} by its stored vector`,
          );
        }
      }
    }
    if (foundOrOutranked(res, key, metric, v, ann.size, tolerance)) continue;
    if (foundOrOutranked(ann.search(v, 100), key, metric, v, ann.size, tolerance)) continue;
    missed.push(key);
  }
  if (missed.length > Math.floor(m / 4)) {
    problem(
      `${missed.length} of ${m} self-queries did not find their key among the top ${SELF_QUERY_K} (keys ${missed
        .slice(0, 5)
        .join(', ')}, e.g. id ${JSON.stringify(store.idOfKey(missed[0]!))})`,
    );
  }
}

function foundOrOutranked(
  res: { keys: number[]; distances: number[] },
  key: number,
  metric: Metric,
  v: Float32Array,
  size: number,
  tolerance: number,
): boolean {
  const top = res.keys.slice(0, SELF_QUERY_K);
  if (top.includes(key)) return true;
  const self = distance(metric, v, v);
  const last = res.distances[top.length - 1];
  return (
    top.length >= Math.min(SELF_QUERY_K, size) &&
    last !== undefined &&
    last <= self + tolerance * Math.max(1, Math.abs(self))
  );
}

function normSq(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return s;
}

/**
 * Checks a segment directory against its manifest: size and SHA-256 of every file (always), and with
 * `full` also everything checkSegmentContent checks, with counts and content hash from the manifest.
 */
export async function verifySegment(
  dir: string,
  manifest: SegmentManifest,
  opts: {
    full?: boolean /** the caller already checked every file's SHA-256 (e.g. at open) */;
    checksumsVerified?: boolean;
  } = {},
): Promise<VerifyReport> {
  const problems: string[] = [];
  const records = manifest.files.filter((f) => f.role === 'records');
  const indexes = manifest.files.filter((f) => f.role === 'index');
  if (records.length !== 1 || records[0]!.name !== SEGMENT_FILES.records) {
    problems.push(`manifest: expected one records file named ${SEGMENT_FILES.records}`);
  }
  if (
    manifest.index === null
      ? indexes.length !== 0
      : indexes.length !== 1 || indexes[0]!.name !== SEGMENT_FILES.index
  ) {
    problems.push(
      `manifest: index ${manifest.index === null ? 'absent' : 'present'} but files list ${indexes.length}`,
    );
  }
  for (const f of manifest.files) {
    if (f.name.includes('/') || f.name.includes('\\') || f.name === '..') {
      problems.push(`manifest: file name ${JSON.stringify(f.name)} is not a plain name`);
      continue;
    }
    const path = join(dir, f.name);
    try {
      await access(path);
    } catch {
      problems.push(`${f.name}: missing`);
      continue;
    }
    if (opts.checksumsVerified) continue;
    const { sha256, size } = await sha256File(path);
    if (size !== f.size) problems.push(`${f.name}: size ${size}, manifest says ${f.size}`);
    if (sha256 !== f.sha256) problems.push(`${f.name}: sha256 ${sha256}, manifest says ${f.sha256}`);
  }
  // Never open (memory-map) files that already failed their checksums: a damaged index is not parsed.
  if (!opts.full || problems.length > 0) {
    return {
      ok: problems.length === 0,
      problems,
      counts: { ...manifest.counts, index: manifest.index === null ? null : manifest.counts.records },
      contentHash: manifest.contentHash,
    };
  }
  const { report } = await checkSegmentContent(dir, {
    kind: manifest.kind,
    formatVersion: manifest.formatVersion,
    ...(manifest.lthash !== undefined ? { lthash: manifest.lthash } : {}),
    ...(manifest.maxKey !== undefined ? { maxKey: manifest.maxKey } : {}),
    dimension: manifest.dimension,
    metric: manifest.metric,
    quantization: manifest.quantization,
    index: manifest.index,
    counts: manifest.counts,
    contentHash: manifest.contentHash,
  });
  problems.push(...report.problems);
  return { ...report, ok: problems.length === 0, problems };
}
