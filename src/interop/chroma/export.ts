/**
 * `strata export chroma`: writes the current snapshot of a collection as a Chroma persistent directory.
 *
 * Chroma's own server writes the files (nothing of its format is forged here): a private server process on
 * a fresh directory beside the target receives every record over HTTP at its max_batch_size, is stopped,
 * and only after the process has exited is the directory checked — no other process holds it, Strata's
 * reader reconciles it, and a second, fresh server opened on it reports the same count, returns sample
 * records bit-exact and finds sample vectors by query. Only then is it renamed to the target path: a
 * directory at that path is complete, closed and safe to copy.
 *
 * Cosine collections: Chroma stores x/|x| and |x| and serves their product, which is not x; every vector
 * is sent as a preimage whose served value is exactly the snapshot's (cosine.ts), so export → import is
 * bit-identical. Vectors without such a preimage are sent as they are and counted as `drifted`.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type ChromaIdentity, type ChromaSpace, SPACE_OF_METRIC } from '../../core/chroma.js';
import { ErrorCodes, InvalidInputError, StrataError, UsageError } from '../../core/errors.js';
import type { Metadata } from '../../core/types.js';
import { fsyncDir } from '../../engine/index.js';
import { getCollection } from '../../pipeline/collections.js';
import { openVersion } from '../../pipeline/open-version.js';
import { baseRefOf, readPointer } from '../../pipeline/pointer.js';
import type { ObjectStore } from '../../store/index.js';
import { chromaPreimage, chromaView } from './cosine.js';
import type { ChromaCollectionRef } from './http.js';
import { assertNotInUse } from './in-use.js';
import { ChromaDirectory } from './reader.js';
import { ChromaServer } from './server.js';

export interface ExportChromaOptions {
  /** Chroma collection name (default: the Chroma name recorded at import, else the Strata name). */
  name?: string;
  /** Records checked bit-exact and by query in the fresh server (default 32). */
  samples?: number;
  onProgress?: (e: { records: number; total: number }) => void;
}

export interface ExportChromaReport {
  dir: string;
  collection: string;
  chroma: { name: string; tenant: string; database: string; space: ChromaSpace; version: string };
  snapshot: { version: number; contentHash: string };
  records: number;
  /** Cosine vectors for which no exact preimage was found (Chroma will serve them ±1 ulp). */
  drifted: number;
  /** Records per request: the server's max_batch_size, or less where its request size limit (HTTP 413) required. */
  batchSize: number;
  maxBatchSize: number;
  verification: {
    count: number;
    sampled: number;
    exact: number;
    /** samples whose own vector, queried with the id restriction, came back at distance ~0 */
    foundByQuery: number;
    /** samples found among the unrestricted top 10 of their own vector (HNSW is approximate) */
    selfRecall: number;
    reconciled: boolean;
  };
  timingsMs: { load: number; verify: number; total: number };
}

/**
 * Whether `d`, the distance Chroma reports between a vector and itself, is what its space gives:
 * 0 for l2 and cosine, 1 - |v|² for ip (within float32 rounding of the sums).
 */
function isSelfDistance(space: ChromaSpace, v: Float32Array, d: number): boolean {
  let sq = 0;
  for (const x of v) sq += x * x;
  const expected = space === 'ip' ? 1 - sq : 0;
  return Math.abs(d - expected) <= 1e-4 * Math.max(1, sq);
}

export async function exportChroma(
  store: ObjectStore,
  collection: string,
  target: string,
  opts: ExportChromaOptions = {},
): Promise<ExportChromaReport> {
  const t0 = performance.now();
  const dir = resolve(target);
  if (existsSync(dir) && readdirSync(dir).length > 0)
    throw new UsageError(`${dir} exists and is not empty; export needs a new directory`, { file: dir });
  const config = await getCollection(store, collection);
  const recorded = (config.extra?.chroma ?? {}) as Partial<ChromaIdentity>;
  const name = opts.name ?? recorded.name ?? collection;
  const tenant = recorded.tenant ?? 'default_tenant';
  const database = recorded.database ?? 'default_database';
  const space = SPACE_OF_METRIC[config.metric];
  const metadata = Object.fromEntries(
    Object.entries(recorded.metadata ?? {}).filter(([k]) => !k.startsWith('hnsw:')),
  );
  const work = join(dirname(dir), `.${basename(dir)}.export-${randomUUID()}`);
  await mkdir(work, { recursive: true });
  try {
    const pointer = await readPointer(store, collection);
    if (!pointer) {
      throw new StrataError(ErrorCodes.NOT_FOUND, `collection ${collection} has no published version yet`, {
        collection,
      });
    }
    await using current = await openVersion(store, collection, baseRefOf(pointer)!);
    const total = current.count;
    const snapshot = {
      version: current.version,
      contentHash: current.resolved.manifest.contentHash,
    };
    let drifted = 0;
    let batchSize = 0;
    let maxBatchSize = 0;
    let version = '';
    const samples: Array<{
      id: string;
      embedding: Float32Array;
      document: string | null;
      metadata: Metadata | null;
    }> = [];
    const wanted = opts.samples ?? 32;
    const sampleEvery = Math.max(1, Math.floor(total / Math.max(1, wanted)));

    // 1. load through a private server, then stop it and wait for its exit
    const tLoad = performance.now();
    const server = await ChromaServer.start({ path: work });
    let ref: ChromaCollectionRef;
    try {
      version = await server.http.version();
      maxBatchSize = await server.http.maxBatchSize();
      batchSize = maxBatchSize;
      ref = await server.http.createCollection({ name, tenant, database, space, metadata });
      let n = 0;
      let ids: string[] = [];
      let embeddings: Float32Array[] = [];
      let documents: Array<string | null> = [];
      let metadatas: Array<Metadata | null> = [];
      const flush = async () => {
        if (ids.length === 0) return;
        batchSize = await server.http.addBatched(ref, { ids, embeddings, documents, metadatas }, batchSize);
        n += ids.length;
        opts.onProgress?.({ records: n, total });
        ids = [];
        embeddings = [];
        documents = [];
        metadatas = [];
      };
      let i = 0;
      for (const row of current.liveRows()) {
        if (row.kind !== 'put' || !row.embedding) continue;
        const md = chromaMetadata(row.metadata as Metadata | null, collection, row.id);
        let vec = row.embedding;
        // what Chroma will serve for this record: the snapshot's vector, unless no exact preimage exists
        let served = row.embedding;
        if (space === 'cosine') {
          const pre = chromaPreimage(vec);
          if (pre) vec = pre;
          else {
            drifted++;
            served = chromaView(vec);
          }
        }
        if (i++ % sampleEvery === 0 && samples.length < wanted)
          samples.push({
            id: row.id,
            embedding: served,
            document: row.document ?? null,
            metadata: md,
          });
        ids.push(row.id);
        embeddings.push(vec);
        documents.push(row.document ?? null);
        metadatas.push(md);
        if (ids.length >= batchSize) await flush();
      }
      await flush();
      const count = await server.http.count(ref);
      if (count !== total) {
        throw new StrataError(
          ErrorCodes.CHROMA_EXPORT_VERIFY,
          `Chroma counts ${count} records after loading ${total}`,
          { collection, file: work },
        );
      }
    } finally {
      await server.stop();
    }
    const load = performance.now() - tLoad;

    // 2. closed means closed: nobody holds the directory; Strata's reader reconciles it
    const tVerify = performance.now();
    assertNotInUse(work);
    {
      using chroma = ChromaDirectory.open(work);
      const info = chroma.collections().find((c) => c.name === name);
      if (!info)
        throw new StrataError(
          ErrorCodes.CHROMA_EXPORT_VERIFY,
          `the exported directory has no collection ${name}`,
          { collection, file: work },
        );
      const plan = chroma.plan(info);
      if (plan.count !== total) {
        throw new StrataError(
          ErrorCodes.CHROMA_EXPORT_VERIFY,
          `the exported directory holds ${plan.count} records, the snapshot ${total}`,
          { collection, file: work },
        );
      }
    }

    // 3. a fresh server opens it: count, sample records bit-exact, sample vectors found by query
    const verification = {
      count: 0,
      sampled: samples.length,
      exact: 0,
      foundByQuery: 0,
      selfRecall: 0,
      reconciled: true,
    };
    const fresh = await ChromaServer.start({ path: work });
    try {
      const c = await fresh.http.getCollection(name, tenant, database);
      verification.count = await fresh.http.count(c);
      if (samples.length > 0) {
        const got = await fresh.http.get(c, { ids: samples.map((s) => s.id) });
        const byId = new Map(got.ids.map((id, j) => [id, j]));
        for (const s of samples) {
          const j = byId.get(s.id);
          if (j === undefined) continue;
          const e = got.embeddings?.[j];
          const sameVector =
            !!e && e.length === s.embedding.length && e.every((x, k) => Math.fround(x) === s.embedding[k]);
          const sameDoc = (got.documents?.[j] ?? null) === s.document;
          const sameMeta =
            JSON.stringify(sortKeys(got.metadatas?.[j] ?? null)) === JSON.stringify(sortKeys(s.metadata));
          if (sameVector && sameDoc && sameMeta) verification.exact++;
        }
        // Each sample's own vector, restricted to its id, must come back at distance ~0: the vector
        // is reachable through the fresh server's search path. Unrestricted, Chroma's HNSW is
        // approximate (an outlier can be unreachable from the entry point), so self-recall is reported,
        // not required.
        for (const s of samples) {
          const q = await fresh.http.query(c, [s.embedding], 1, { ids: [s.id] });
          const d = q.distances?.[0]?.[0];
          if (q.ids[0]?.[0] === s.id && d !== undefined && isSelfDistance(space, s.embedding, d))
            verification.foundByQuery++;
        }
        const q = await fresh.http.query(
          c,
          samples.map((s) => s.embedding),
          10,
        );
        samples.forEach((s, j) => {
          if (q.ids[j]?.includes(s.id)) verification.selfRecall++;
        });
      }
    } finally {
      await fresh.stop();
    }
    assertNotInUse(work);
    if (
      verification.count !== total ||
      verification.exact !== samples.length ||
      verification.foundByQuery < samples.length
    ) {
      throw new StrataError(
        ErrorCodes.CHROMA_EXPORT_VERIFY,
        `the exported directory did not verify: count ${verification.count}/${total}, exact samples ${verification.exact}/${samples.length}, found by query ${verification.foundByQuery}/${samples.length}`,
        { collection, file: work, ...verification },
      );
    }
    const verify = performance.now() - tVerify;

    // 4. publish the directory under its name
    await mkdir(dirname(dir), { recursive: true });
    if (existsSync(dir)) await rm(dir, { recursive: true });
    await rename(work, dir);
    await fsyncDir(dirname(dir));
    return {
      dir,
      collection,
      chroma: { name, tenant, database, space, version },
      snapshot,
      records: total,
      drifted,
      batchSize,
      maxBatchSize,
      verification,
      timingsMs: {
        load: Math.round(load),
        verify: Math.round(verify),
        total: Math.round(performance.now() - t0),
      },
    };
  } catch (e) {
    await rm(work, { recursive: true, force: true });
    throw e;
  }
}

/** Chroma 1.0 metadata holds scalars only; an empty object is sent as null. */
function chromaMetadata(m: Metadata | null, collection: string, id: string): Metadata | null {
  if (!m) return null;
  const keys = Object.keys(m);
  if (keys.length === 0) return null;
  for (const k of keys) {
    if (Array.isArray(m[k])) {
      throw new InvalidInputError(
        ErrorCodes.METADATA_TYPE,
        `metadata "${k}" is an array, which Chroma 1.0 cannot store`,
        { collection, id },
      );
    }
  }
  return m;
}

function sortKeys(m: Metadata | null): Array<[string, unknown]> | null {
  return m ? Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) : null;
}
