import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ErrorCodes, IntegrityError } from '../core/errors.js';
import { sha256Hex } from '../core/hash.js';
import { parseManifest, type SegmentManifest } from '../core/manifest.js';
import { type OpenOptions, SEGMENT_FILES, SegmentReader } from '../engine/index.js';
import type { ObjectStore } from '../store/object-store.js';
import { Keys } from './layout.js';

/** How steps refer to each other's outputs: keys and hashes only, never data. */
export interface SegmentRef {
  prefix: string;
  manifestSha256: string;
  contentHash: string;
  seqRange: [number, number] | null;
  counts: SegmentManifest['counts'];
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
  return {
    prefix,
    manifestSha256,
    contentHash: manifest.contentHash,
    seqRange: manifest.seqRange,
    counts: manifest.counts,
  };
}

/** Reads and checks a segment's manifest against the hash its referrer recorded. */
export async function fetchManifest(
  store: ObjectStore,
  prefix: string,
  expectedSha256?: string,
): Promise<{ manifest: SegmentManifest; sha256: string }> {
  const key = Keys.manifestOf(prefix);
  const bytes = await store.get(key);
  const sha256 = sha256Hex(bytes);
  if (expectedSha256 && sha256 !== expectedSha256) {
    throw new IntegrityError(
      ErrorCodes.STORE_INTEGRITY,
      'manifest does not match the hash its referrer recorded',
      {
        key,
        expected: expectedSha256,
        actual: sha256,
      },
    );
  }
  return { manifest: parseManifest(Buffer.from(bytes).toString('utf8'), { key }), sha256 };
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
  const { manifest } = await fetchManifest(store, prefix, expectedManifestSha256);
  const manifestKey = Keys.manifestOf(prefix);
  const local = store.localPath?.(manifestKey);
  const verify = opts.verify ?? 'checksums';
  if (local) {
    const reader = await SegmentReader.open(dirname(local), { ...opts, verify });
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
