/**
 * A local, content-addressed cache of segments read from a remote store (S3): a segment is downloaded once
 * into `<root>/<manifest sha256>/`, verified, then renamed into place, and every later open on this machine
 * (query server, workers, CLI) uses that copy. Content addressing makes sharing safe: the same address is
 * the same bytes, whoever downloaded them. Entries are immutable; the least recently opened ones are
 * evicted once the cache passes its size budget (an evicted entry stays valid for whoever has it open:
 * its files are unlinked, not truncated).
 *
 * Root: STRATA_CACHE_DIR, else <tmpdir>/strata-segment-cache. Budget: STRATA_CACHE_MAX_GB (default 20).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileDurable } from '../core/durable.js';
import type { SegmentManifest } from '../core/manifest.js';
import { SEGMENT_FILES } from '../engine/index.js';
import type { ObjectStore } from '../store/index.js';
import { Keys } from './layout.js';

export function segmentCacheRoot(): string {
  return process.env.STRATA_CACHE_DIR ?? join(tmpdir(), 'strata-segment-cache');
}

function budgetBytes(): number {
  const gb = Number(process.env.STRATA_CACHE_MAX_GB ?? 20);
  return (Number.isFinite(gb) && gb > 0 ? gb : 20) * 2 ** 30;
}

const exists = async (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/**
 * The cached directory of a segment, downloading it first if needed. `verify` checks a fresh download
 * before it becomes visible to anyone (the caller's open checks checksums again, as for any segment).
 */
export async function cachedSegmentDir(
  store: ObjectStore,
  prefix: string,
  manifestSha256: string,
  manifest: SegmentManifest,
  manifestBytes: Uint8Array,
): Promise<string> {
  const root = segmentCacheRoot();
  const dir = join(root, manifestSha256);
  if (await exists(join(dir, SEGMENT_FILES.manifest))) {
    const now = new Date();
    await utimes(dir, now, now).catch(() => undefined); // recency for eviction
    return dir;
  }
  await mkdir(root, { recursive: true });
  const tmp = join(root, `.tmp-${randomUUID()}`);
  await mkdir(tmp);
  try {
    for (const f of manifest.files) await store.getToFile(Keys.fileOf(prefix, f.name), join(tmp, f.name));
    // the manifest as its referrer hashed it (the caller checked those bytes against the address)
    await writeFileDurable(join(tmp, SEGMENT_FILES.manifest), manifestBytes);
    try {
      await rename(tmp, dir);
    } catch (e) {
      // another process put the same address in place first: the same bytes, use theirs
      if (!(await exists(join(dir, SEGMENT_FILES.manifest)))) throw e;
      await rm(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  await evict(root, dir).catch(() => undefined);
  return dir;
}

/** Drops the least recently opened entries (never `keep`) until the cache fits its budget. */
async function evict(root: string, keep: string): Promise<void> {
  const entries: Array<{ dir: string; bytes: number; at: number }> = [];
  let total = 0;
  for (const name of await readdir(root)) {
    if (!/^[0-9a-f]{64}$/.test(name)) continue;
    const dir = join(root, name);
    let bytes = 0;
    for (const f of await readdir(dir)) bytes += (await stat(join(dir, f))).size;
    entries.push({ dir, bytes, at: (await stat(dir)).mtimeMs });
    total += bytes;
  }
  const budget = budgetBytes();
  if (total <= budget) return;
  entries.sort((a, b) => a.at - b.at);
  for (const e of entries) {
    if (total <= budget) break;
    if (e.dir === keep) continue;
    // renamed away first, so no opener finds a half-deleted entry
    const gone = join(root, `.evicted-${randomUUID()}`);
    await rename(e.dir, gone);
    await rm(gone, { recursive: true, force: true });
    total -= e.bytes;
  }
}
