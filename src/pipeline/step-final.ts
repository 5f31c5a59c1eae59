/**
 * The final step of a compaction run: the group outputs (in sequence order) applied to the base version,
 * as a new version that lists the base's segments and the run's new segments, with deletion vectors for
 * every row a later operation superseded. Nothing already listed is rewritten: the work and the bytes are
 * those of the change, not of the collection.
 *
 *   put X        supersedes X's live row (in the base or an earlier group of this run)
 *   tombstone X  supersedes it and leaves X absent
 *   patch X      reads X's live row, applies the patch, writes the result into a small data segment of
 *                patched records, supersedes the old row (an update of an absent X is a no-op)
 *
 * A version holds at most one live row per id; `strata verify` checks it.
 */
import { DeletionVector } from '../core/deletion-vector.js';
import { failpoint } from '../core/failpoints.js';
import { LtHash } from '../core/lthash.js';
import type { PromotedRange } from '../core/manifest.js';
import type { Metadata, SeqRange } from '../core/types.js';
import {
  VERSION_FORMAT,
  VERSION_FORMAT_VERSION,
  type VersionManifest,
  type VersionSegment,
} from '../core/version-manifest.js';
import { compareIds, type SegmentReader, type SegmentRow } from '../engine/index.js';
import { applyToBase } from './fold.js';
import { openVersion } from './open-version.js';
import {
  dataSegmentWriter,
  newScratchDir,
  type OpenedSegment,
  type SegmentRef,
  uploadDataSegment,
} from './segments.js';
import { openAll } from './step-group.js';
import type { FinalTask, StepEnv, StepResult } from './steps.js';
import { writeDeletionVector, writeVersion } from './versions.js';

/** One segment the new version will list: from the base, or new in this run. */
interface Participant {
  reader: SegmentReader;
  /** The version entry as it will be written (deleted and dv filled in at the end). */
  entry: VersionSegment;
  dv: DeletionVector;
  newlyDeleted: Set<number>;
  fromBase: boolean;
}

type Location = { seg: number; key: number } | 'patched' | 'absent';

export function mergePromoted(base: PromotedRange[], add: SeqRange[], version: number): PromotedRange[] {
  const all: PromotedRange[] = [...base, ...add.map(([s, e]) => [s, e, version] as PromotedRange)].sort(
    (a, b) => a[0] - b[0],
  );
  const out: PromotedRange[] = [];
  for (const r of all) {
    const last = out[out.length - 1];
    if (last && last[2] === r[2] && last[1] + 1 === r[0]) last[1] = r[1];
    else out.push([...r] as PromotedRange);
  }
  return out;
}

const hashed = (r: SegmentRow) => ({
  id: r.id,
  embedding: r.embedding,
  document: r.document ?? null,
  metadata: (r.metadata as Metadata | null | undefined) ?? null,
});

export function newEntry(ref: SegmentRef): VersionSegment {
  return {
    prefix: ref.prefix,
    manifestSha256: ref.manifestSha256,
    rows: ref.counts.records,
    maxKey: ref.maxKey!,
    indexed: ref.indexed!,
    bytes: ref.bytes!,
    seqRange: ref.seqRange,
    lthash: ref.lthash!,
    deleted: 0,
    dv: null,
  };
}

export async function finalStep(env: StepEnv, task: FinalTask): Promise<Omit<StepResult, 'ms'>> {
  failpoint('step.final');
  const { store, config } = env;
  const collection = task.collection;
  const version = (task.base?.version ?? 0) + 1;
  await using base = task.base ? await openVersion(store, collection, task.base) : null;
  const dataRefs = task.groups.map((g) => g.segment).filter((s): s is SegmentRef => s !== null);
  const changeRefs = task.groups.map((g) => g.changes);
  let opened: OpenedSegment[] = [];
  let changesOpened: Array<OpenedSegment | null> = [];
  try {
    opened = await openAll(env, dataRefs);
    changesOpened = await Promise.all(
      changeRefs.map((r) => (r ? openAll(env, [r]).then((o) => o[0]!) : Promise.resolve(null))),
    );

    // --- who takes part: the base's segments (oldest first), then this run's -----------------------
    let lthash = new LtHash();
    const parts: Participant[] = [];
    for (const s of base?.segments ?? []) {
      const entry = { ...s.entry };
      if (base!.resolved.legacy) {
        // a format 1 snapshot: its key space and LtHash were never recorded; computed once, here
        entry.maxKey = s.segment.reader.maxKey;
        entry.lthash = s.segment.reader.recomputeContent(true).lthash!.encode();
      }
      parts.push({ reader: s.segment.reader, entry, dv: s.dv, newlyDeleted: new Set(), fromBase: true });
    }
    if (base) {
      lthash = base.resolved.legacy
        ? LtHash.decode(parts[0]!.entry.lthash)
        : LtHash.decode(base.resolved.manifest.lthash);
    }
    const firstNew = parts.length;
    for (let i = 0; i < dataRefs.length; i++) {
      const entry = newEntry(dataRefs[i]!);
      parts.push({
        reader: opened[i]!.reader,
        entry,
        dv: DeletionVector.empty(entry.maxKey),
        newlyDeleted: new Set(),
        fromBase: false,
      });
      lthash.combine(LtHash.decode(entry.lthash));
    }

    // --- apply the groups in sequence order -----------------------------------------------------------
    const loc = new Map<string, Location>();
    const patched = new Map<string, SegmentRow>();
    const isLive = (p: Participant, key: number) => !p.dv.has(key) && !p.newlyDeleted.has(key);
    const locateInBase = (ids: string[]) => {
      let remaining = ids.filter((id) => !loc.has(id));
      for (let i = firstNew - 1; i >= 0 && remaining.length > 0; i--) {
        const p = parts[i]!;
        const found = p.reader.keysOf(remaining);
        if (found.size === 0) continue;
        for (const [id, key] of found) if (isLive(p, key)) loc.set(id, { seg: i, key });
        remaining = remaining.filter((id) => !loc.has(id));
      }
      for (const id of remaining) loc.set(id, 'absent');
    };
    const supersede = (id: string) => {
      const l = loc.get(id);
      if (l === 'patched') patched.delete(id);
      else if (l !== undefined && l !== 'absent') parts[l.seg]!.newlyDeleted.add(l.key);
    };
    const liveRow = (id: string): SegmentRow | undefined => {
      const l = loc.get(id);
      if (l === undefined || l === 'absent') return undefined;
      if (l === 'patched') return patched.get(id);
      return parts[l.seg]!.reader.rowsByKey([l.key]).get(l.key);
    };

    let dataIdx = 0;
    for (let g = 0; g < task.groups.length; g++) {
      const group = task.groups[g]!;
      const segIdx = group.segment ? firstNew + dataIdx++ : -1;
      const puts = segIdx >= 0 ? [...parts[segIdx]!.reader.scanIds()] : [];
      const changeRows = changesOpened[g] ? [...changesOpened[g]!.reader.scan()] : [];
      locateInBase([...puts.map(([, id]) => id), ...changeRows.map((r) => r.id)]);
      for (const [key, id] of puts) {
        supersede(id);
        loc.set(id, { seg: segIdx, key });
      }
      for (const row of changeRows) {
        if (row.kind === 'tombstone') {
          supersede(row.id);
          loc.set(row.id, 'absent');
          continue;
        }
        const cur = liveRow(row.id);
        if (cur === undefined) continue; // an update of an absent id is a no-op
        const next = applyToBase(cur, row)!;
        supersede(row.id);
        patched.set(row.id, next);
        loc.set(row.id, 'patched');
      }
    }

    // --- patched records: one small data segment -------------------------------------------------------
    let patchRef: SegmentRef | null = null;
    if (patched.size > 0) {
      const dir = await newScratchDir(store, `${task.run}-final-patched`);
      await using w = await dataSegmentWriter(env, dir);
      const rows = [...patched.values()].sort((a, b) => compareIds(a.id, b.id));
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (const r of rows) {
        w.append(r);
        lo = Math.min(lo, r.seq);
        hi = Math.max(hi, r.seq);
      }
      const m = await w.seal({
        seqRange: [lo, hi],
        inputs: changeRefs.filter((r) => r !== null).map((r) => r!.prefix),
      });
      patchRef = await uploadDataSegment(store, collection, dir, m);
      lthash.combine(LtHash.decode(patchRef.lthash!));
    }

    // --- deletion vectors and the updated content hash ------------------------------------------------
    const segments: VersionSegment[] = [];
    let newBytes = 0;
    for (const p of parts) {
      if (p.newlyDeleted.size > 0) {
        const keys = [...p.newlyDeleted];
        for (const row of p.reader.rowsByKey(keys).values()) lthash.remove(hashed(row));
        p.dv = p.dv.with(keys, { collection, segment: p.entry.prefix });
        p.entry.deleted = p.dv.count;
        p.entry.dv = await writeDeletionVector(store, collection, p.dv);
      }
      if (p.entry.rows - p.entry.deleted === 0) continue; // nothing live: no longer listed
      if (!p.fromBase) newBytes += p.entry.bytes;
      segments.push(p.entry);
    }
    if (patchRef) {
      segments.push(newEntry(patchRef));
      newBytes += patchRef.bytes!;
    }
    const count = segments.reduce((n, s) => n + s.rows - s.deleted, 0);
    const prev = base?.resolved.manifest;
    const manifest: VersionManifest = {
      format: VERSION_FORMAT,
      formatVersion: VERSION_FORMAT_VERSION,
      collection,
      version,
      parentVersion: prev?.version ?? null,
      cause: 'publish',
      run: task.run,
      dimension: config.dimension,
      metric: config.metric,
      segments,
      count,
      lthash: lthash.encode(),
      contentHash: lthash.digest(),
      promoted: mergePromoted(prev?.promoted ?? [], task.promote, version),
      promotedDeltas: (prev?.promotedDeltas ?? 0) + task.promote.length,
      rolledBack: prev?.rolledBack ?? [],
      shard: { index: 0, count: 1 },
      createdAt: new Date().toISOString(),
      producer: env.producer ?? 'strata',
    };
    const written = await writeVersion(store, manifest);
    return {
      kind: 'final',
      index: 0,
      segment: patchRef,
      included: [],
      rejected: [],
      version: {
        version,
        key: written.key,
        sha256: written.sha256,
        count,
        contentHash: manifest.contentHash,
        segments: segments.length,
        newBytes,
      },
    };
  } finally {
    for (const o of opened) await o.close();
    for (const o of changesOpened) await o?.close();
  }
}
