/**
 * The invariants checked after every round of a run (docs/architecture.md, "The invariants"), against
 * the reference model. Each returns problems (invariant name + detail); none throws on a violation.
 */
import { compareIds } from '../../src/engine/index.js';
import { openCurrentVersion } from '../../src/pipeline/current.js';
import { type GcReport, gcCollection } from '../../src/pipeline/gc.js';
import { type Ledger, readLedger } from '../../src/pipeline/ledger.js';
import { openVersion } from '../../src/pipeline/open-version.js';
import { baseRefOf, type Pointer, pointerTarget, readPointer } from '../../src/pipeline/pointer.js';
import { verifyCollection } from '../../src/pipeline/verify.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { describe } from './readers.js';
import type { TrackedCollection } from './tracked.js';

export interface Problem {
  invariant: string;
  detail: string;
}

export interface StateCheck {
  problems: Problem[];
  /** Every good delta promoted and every bad one quarantined. */
  complete: boolean;
  pending: number;
}

/** How far a collection got: does the ledger show nothing left to do? */
export async function isSettled(store: ObjectStore, t: TrackedCollection): Promise<boolean> {
  const l = await readLedger(store, t.name);
  return l.counts.pending === 0 && l.counts.compacting === 0;
}

/**
 * pointer → version → every segment and deletion vector verifies; every accepted delta is promoted exactly once, pending, or
 * quarantined with its coded error; the record set equals the model's operations of exactly the promoted
 * deltas, in sequence order; no deleted id is returned.
 */
export async function checkState(store: ObjectStore, t: TrackedCollection): Promise<StateCheck> {
  const problems: Problem[] = [];
  const add = (invariant: string, detail: string) => problems.push({ invariant, detail });
  const name = t.name;

  const v = await verifyCollection(store, name);
  if (!v.ok) add('snapshot-verifies', `${name} v${v.version}: ${v.problems.join('; ')}`);

  let ledger: Ledger;
  try {
    ledger = await readLedger(store, name);
  } catch (e) {
    add('ledger-readable', `${name}: ${describe(e)}`);
    return { problems, complete: false, pending: -1 };
  }

  // --- every accepted delta: exactly one state, the right one -------------------------------------
  const entries = new Map(ledger.entries.map((e) => [e.seqStart, e]));
  let complete = true;
  for (const d of t.deltas) {
    const e = entries.get(d.seqStart);
    if (!e) {
      add('accepted-delta-kept', `${name}: delta ${d.seqStart} (${d.kind}) is missing from the ledger`);
      complete = false;
      continue;
    }
    if (d.kind === 'good') {
      if (e.state === 'quarantined') {
        add(
          'good-delta-not-quarantined',
          `${name}: good delta ${d.seqStart} quarantined with ${e.error?.code}: ${e.error?.message}`,
        );
      }
      if (e.state !== 'promoted') complete = false;
    } else {
      if (e.state === 'promoted')
        add(
          'bad-delta-never-promoted',
          `${name}: bad delta ${d.seqStart} (${d.cls.name}) was promoted in v${e.version}`,
        );
      if (e.state === 'quarantined' && e.error?.code !== d.cls.code) {
        add(
          'quarantined-with-its-code',
          `${name}: delta ${d.seqStart} (${d.cls.name}) quarantined with ${e.error?.code}, expected ${d.cls.code}`,
        );
      }
      if (e.state !== 'quarantined') complete = false;
    }
  }
  for (const e of ledger.entries) {
    if (!t.byStart(e.seqStart))
      add('only-accepted-deltas', `${name}: the ledger lists delta ${e.seqStart} that was never accepted`);
  }

  // --- promoted exactly once: ranges disjoint, each promoted delta inside exactly one of them -------------
  const ranges = ledger.manifest?.promoted ?? [];
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i]![0] <= ranges[i - 1]![1]) {
      add(
        'promoted-exactly-once',
        `${name}: promoted ranges overlap: ${JSON.stringify(ranges[i - 1])} and ${JSON.stringify(ranges[i])}`,
      );
    }
  }
  // promotion follows sequence order: a later delta never lands in an earlier version than an earlier one
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i]![2] < ranges[i - 1]![2]) {
      add(
        'promoted-in-sequence-order',
        `${name}: deltas ${ranges[i]![0]}..${ranges[i]![1]} landed in v${ranges[i]![2]}, after deltas ${ranges[i - 1]![0]}..${ranges[i - 1]![1]} in v${ranges[i - 1]![2]}`,
      );
    }
  }
  const promoted = ledger.entries.filter((e) => e.state === 'promoted');
  for (const e of promoted) {
    const inside = ranges.filter((r) => r[0] <= e.seqStart && e.seqEnd <= r[1]);
    if (inside.length !== 1)
      add(
        'promoted-exactly-once',
        `${name}: delta ${e.seqStart}..${e.seqEnd} lies in ${inside.length} promoted ranges`,
      );
    if (e.version !== undefined && ledger.pointer && e.version > ledger.pointer.value.version) {
      add(
        'promoted-exactly-once',
        `${name}: delta ${e.seqStart} landed in v${e.version}, after the current v${ledger.pointer.value.version}`,
      );
    }
  }
  const claimed = ledger.manifest?.promotedDeltas ?? 0;
  if (claimed !== promoted.length) {
    add(
      'promoted-exactly-once',
      `${name}: the manifest counts ${claimed} promoted deltas, the ledger shows ${promoted.length}`,
    );
  }

  // --- the record set is the model of exactly the promoted deltas, in sequence order ---------------
  const model = t.modelOf(promoted.map((e) => e.seqStart));
  if (ledger.pointer) {
    const p = ledger.pointer.value;
    const want = model.contentHash();
    if (p.contentHash !== want || (v.contentHash !== null && v.contentHash !== want)) {
      add('records-equal-model', `${name} v${p.version}: ${await diffAgainstModel(store, name, model)}`);
    }
    // no deleted id is returned
    const absent = [...t.everUpserted].filter((id) => !model.records.has(id));
    if (absent.length > 0) {
      try {
        await using cur = await openCurrentVersion(store, name, { vectorBudgetBytes: 0 });
        const back = [...cur.get(absent).keys()];
        if (back.length > 0)
          add(
            'deleted-ids-gone',
            `${name} v${p.version}: deleted ids returned: ${back.slice(0, 5).join(', ')}`,
          );
      } catch (e) {
        add('snapshot-opens', `${name} v${p.version}: ${describe(e)}`);
      }
    }
  } else if (promoted.length > 0) {
    add('records-equal-model', `${name}: deltas are promoted but there is no pointer`);
  } else if (model.records.size > 0) {
    add('records-equal-model', `${name}: no snapshot, yet the model holds records`);
  }
  return { problems, complete, pending: ledger.counts.pending + ledger.counts.compacting };
}

async function diffAgainstModel(
  store: ObjectStore,
  collection: string,
  model: ReturnType<TrackedCollection['modelOf']>,
): Promise<string> {
  try {
    const p = await readPointer(store, collection);
    await using v = await openVersion(store, collection, baseRefOf(p)!);
    const have = new Map<string, string>();
    for (const r of v.liveRows()) have.set(r.id, JSON.stringify([r.document ?? null, r.metadata ?? null]));
    const missing = model.sortedIds().filter((id) => !have.has(id));
    const extra = [...have.keys()].filter((id) => !model.records.has(id)).sort(compareIds);
    const changed = model
      .sortedIds()
      .filter((id) => {
        const m = model.records.get(id)!;
        return have.has(id) && have.get(id) !== JSON.stringify([m.document, m.metadata]);
      })
      .slice(0, 5);
    return `record set differs from the model: ${missing.length} missing (${missing.slice(0, 5).join(', ')}), ${extra.length} extra (${extra.slice(0, 5).join(', ')}), document/metadata differ for ${changed.join(', ') || 'none'} (embeddings may differ too)`;
  } catch (e) {
    return `record set differs from the model; the version does not open: ${describe(e)}`;
  }
}

/**
 * Garbage collection with grace 0 (the harshest setting), then: the current and every retained snapshot
 * still opens with every checksum verified, and the pointer did not move.
 */
export async function gcAndCheckRetained(
  store: ObjectStore,
  t: TrackedCollection,
): Promise<{ problems: Problem[]; report: GcReport | undefined }> {
  const problems: Problem[] = [];
  const before = await readPointer(store, t.name);
  let report: GcReport | undefined;
  try {
    report = await gcCollection(store, t.name, { graceMs: 0 });
  } catch (e) {
    problems.push({ invariant: 'gc-succeeds', detail: `${t.name}: ${describe(e)}` });
  }
  const after = await readPointer(store, t.name);
  if (before?.etag !== after?.etag) {
    problems.push({ invariant: 'gc-leaves-pointer', detail: `${t.name}: the pointer changed during gc` });
  }
  if (after) {
    // every version the pointer keeps: its manifest, every segment it lists (checksums) and every deletion vector
    const keep: Array<Pick<Pointer, 'version' | 'manifest' | 'snapshot'> & { manifestSha256?: string }> = [
      after.value,
      ...after.value.retained,
    ];
    for (const k of keep) {
      try {
        await using _v = await openVersion(
          store,
          t.name,
          {
            version: k.version,
            manifest: k.manifest,
            snapshot: k.snapshot,
            manifestSha256: k.manifestSha256 ?? '',
          },
          { verify: 'checksums' },
        );
      } catch (e) {
        problems.push({
          invariant: 'retained-snapshots-kept',
          detail: `${t.name}: v${k.version} (${pointerTarget(k)}) no longer opens after gc: ${describe(e)}`,
        });
      }
    }
  }
  return { problems, report };
}
