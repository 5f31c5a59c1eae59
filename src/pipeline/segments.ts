import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ErrorCodes, IntegrityError, NotFoundError, StrataError } from '../core/errors.js';
import { sha256Hex } from '../core/hash.js';
import { parseManifest, type SegmentManifest } from '../core/manifest.js';
import type { CollectionConfig, SeqRange } from '../core/types.js';
import {
  indexMinRows,
  type OpenOptions,
  SEGMENT_FILES,
  SegmentReader,
  SegmentWriter,
} from '../engine/index.js';
import type { ObjectStore } from '../store/index.js';
import { Keys } from './layout.js';
import { cachedSegmentDir } from './segment-cache.js';

/** How steps refer to each other's outputs: keys and hashes only, never data. */
export interface SegmentRef {
  prefix: string;
  manifestSha256: string;
  contentHash: string;
  seqRange: SeqRange | null;
  counts: SegmentManifest['counts'];
  /** Data segments: what a version entry needs. */
  maxKey?: number;
  lthash?: string;
  indexed?: boolean;
  bytes?: number;
}

/** A directory for private temp work, on the store's filesystem when local (so uploads are renames). */
export function scratchRoot(store: ObjectStore): string {
  return store.scratchDir?.() ?? join(tmpdir(), 'strata-scratch');
}

export async function newScratchDir(store: ObjectStore, label: string): Promise<string> {
  const dir = join(scratchRoot(store), `${label}-${randomUUID()}`);
  await mkdir(dirname(dir), { recursive: true });
  return dir;
}

/**
 * A writer of a new data segment in `dir`, with its ANN index when it ends up holding at least the exact
 * search crossover for the collection's dimension (built in the step that writes it).
 */
export function dataSegmentWriter(
  env: { config: CollectionConfig; threads?: number; producer?: string },
  dir: string,
): Promise<SegmentWriter> {
  return SegmentWriter.create({
    dir,
    kind: 'data',
    config: env.config,
    buildIndex: { minRows: indexMinRows(env.config.dimension) },
    threads: env.threads,
    producer: env.producer,
  });
}

/**
 * Ships a sealed segment: every data file first, the manifest last (a segment without its manifest does
 * not exist for anyone). Local files are consumed (renamed) when the store can.
 */
export async function uploadSegment(
  store: ObjectStore,
  dir: string,
  prefix: string,
  manifest: SegmentManifest,
): Promise<SegmentRef> {
  for (const f of manifest.files) {
    await store.putFile(Keys.fileOf(prefix, f.name), join(dir, f.name), { sha256: f.sha256, consume: true });
  }
  const mbytes = await readFile(join(dir, SEGMENT_FILES.manifest));
  const manifestSha256 = sha256Hex(mbytes);
  await store.put(Keys.manifestOf(prefix), mbytes, {
    sha256: manifestSha256,
    contentType: 'application/json',
  });
  await rm(dir, { recursive: true, force: true });
  return refOf(prefix, manifestSha256, manifest);
}

export function refOf(prefix: string, manifestSha256: string, manifest: SegmentManifest): SegmentRef {
  return {
    prefix,
    manifestSha256,
    contentHash: manifest.contentHash,
    seqRange: manifest.seqRange,
    counts: manifest.counts,
    ...(manifest.kind === 'data'
      ? {
          maxKey: manifest.maxKey!,
          lthash: manifest.lthash!,
          indexed: manifest.index !== null,
          bytes: manifest.files.reduce((n, f) => n + f.size, 0),
        }
      : {}),
  };
}

/**
 * Ships a sealed data segment under its content address (the SHA-256 of its manifest): files first, the
 * manifest last. A segment already there (same address, so the same bytes) is not uploaded again.
 */
export async function uploadDataSegment(
  store: ObjectStore,
  collection: string,
  dir: string,
  manifest: SegmentManifest,
): Promise<SegmentRef> {
  const manifestSha256 = sha256Hex(await readFile(join(dir, SEGMENT_FILES.manifest)));
  const prefix = Keys.segment(collection, manifestSha256);
  if (await store.head(Keys.manifestOf(prefix))) {
    await rm(dir, { recursive: true, force: true });
    return refOf(prefix, manifestSha256, manifest);
  }
  return uploadSegment(store, dir, prefix, manifest);
}

/** Reads and checks a segment's manifest against the hash its referrer recorded. */
export async function fetchManifest(
  store: ObjectStore,
  prefix: string,
  expectedSha256?: string,
): Promise<{ manifest: SegmentManifest; sha256: string; bytes: Uint8Array }> {
  const key = Keys.manifestOf(prefix);
  let bytes: Uint8Array;
  try {
    bytes = await store.get(key);
  } catch (e) {
    if (e instanceof NotFoundError) {
      throw new StrataError(ErrorCodes.SEGMENT_MISSING, 'segment is missing (no manifest at its address)', {
        key,
        segment: prefix,
      });
    }
    throw e;
  }
  const sha256 = sha256Hex(bytes);
  if (expectedSha256 && sha256 !== expectedSha256) {
    throw new IntegrityError(
      ErrorCodes.SEGMENT_ADDRESS,
      'segment manifest does not match the hash its referrer recorded',
      {
        key,
        segment: prefix,
        expected: expectedSha256,
        actual: sha256,
      },
    );
  }
  return { manifest: parseManifest(Buffer.from(bytes).toString('utf8'), { key }), sha256, bytes };
}

/** An opened segment plus whatever local copy had to be made for it. */
export class OpenedSegment implements AsyncDisposable {
  constructor(
    readonly reader: SegmentReader,
    readonly prefix: string,
    private readonly downloadedDir: string | undefined,
  ) {}
  async close(): Promise<void> {
    await this.reader.close();
    if (this.downloadedDir) await rm(this.downloadedDir, { recursive: true, force: true });
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Opens a stored segment for reading: in place (memory-mapped) on a local store, downloaded into scratch
 * otherwise. Either way every file is checked against the manifest's SHA-256 before it is served.
 */
export async function openStoredSegment(
  store: ObjectStore,
  prefix: string,
  expectedManifestSha256?: string,
  opts: OpenOptions = {},
): Promise<OpenedSegment> {
  const { manifest, sha256, bytes } = await fetchManifest(store, prefix, expectedManifestSha256);
  const manifestKey = Keys.manifestOf(prefix);
  const local = store.localPath?.(manifestKey);
  const verify = opts.verify ?? 'checksums';
  if (local) {
    const reader = await SegmentReader.open(dirname(local), { ...opts, verify });
    return new OpenedSegment(reader, prefix, undefined);
  }
  if (manifest.kind === 'data' || manifest.kind === 'snapshot') {
    // immutable and shared between versions: kept in the local segment cache
    const dir = await cachedSegmentDir(store, prefix, sha256, manifest, bytes);
    const reader = await SegmentReader.open(dir, { ...opts, verify });
    return new OpenedSegment(reader, prefix, undefined);
  }
  const dir = await newScratchDir(store, 'read');
  await mkdir(dir, { recursive: true });
  try {
    for (const f of manifest.files) await store.getToFile(Keys.fileOf(prefix, f.name), join(dir, f.name));
    await store.getToFile(manifestKey, join(dir, SEGMENT_FILES.manifest));
    const reader = await SegmentReader.open(dir, { ...opts, verify });
    return new OpenedSegment(reader, prefix, dir);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
