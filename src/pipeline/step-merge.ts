/**
 * The merge step: some segments of a version → one data segment holding their live rows. It starts from
 * the largest input's graph (its records copied, its HNSW index loaded, superseded rows removed, the other
 * inputs' rows added), as Lucene 9.6 and Qdrant 1.14 do; when that input has more than `rebuildAbove` of its
 * rows deleted (or no index, or a format 1 file), the index is built from scratch instead (a graph with
 * many removals loses recall and keeps dead slots). Deterministic in its inputs: the merged segment holds
 * exactly the inputs' live rows as of the base version, whatever the path.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCodes, StrataError } from '../core/errors.js';
import { failpoint } from '../core/failpoints.js';
import { sha256Hex } from '../core/hash.js';
import {
  compareIds,
  indexMinRows,
  SegmentMerger,
  type SegmentRow,
  type SegmentWriter,
} from '../engine/index.js';
import { KeyMap } from './keymap.js';
import { Keys, stepName } from './layout.js';
import { type OpenedVersionSegment, openVersion } from './open-version.js';
import { dataSegmentWriter, newScratchDir, uploadDataSegment } from './segments.js';
import { seqSpan } from './step-group.js';
import type { MergeTask, StepEnv, StepResult } from './steps.js';

/** Measured (`npm run bench -- --only merge`): past this fraction of removed rows a reused graph loses recall. */
export const DEFAULT_REBUILD_ABOVE = 0.2;

export async function mergeStep(env: StepEnv, task: MergeTask): Promise<Omit<StepResult, 'ms'>> {
  failpoint('step.merge');
  const { store, config } = env;
  const collection = task.collection;
  await using version = await openVersion(store, collection, task.base);
  const inputs: OpenedVersionSegment[] = [];
  for (const sha of task.inputs) {
    const s = version.segments.find((x) => x.entry.manifestSha256 === sha);
    if (!s) {
      throw new StrataError(
        ErrorCodes.MERGE_OBSOLETE,
        `segment ${sha} is not listed by version ${version.version}`,
        {
          collection,
          snapshot: version.version,
        },
      );
    }
    inputs.push(s);
  }
  const live = (s: OpenedVersionSegment) => s.entry.rows - s.entry.deleted;
  const candidates = inputs.filter(
    (s) =>
      s.entry.indexed &&
      s.segment.reader.manifest.kind === 'data' &&
      s.segment.reader.manifest.lthash !== undefined,
  );
  const largest = candidates.sort((a, b) => live(b) - live(a))[0];
  const rebuildAbove = task.rebuildAbove ?? DEFAULT_REBUILD_ABOVE;
  const reuse =
    largest !== undefined &&
    largest.entry.deleted / Math.max(1, largest.entry.rows) <= rebuildAbove &&
    live(largest) >= indexMinRows(config.dimension);

  const keymap = new KeyMap();
  const dir = await newScratchDir(store, `${task.run}-${stepName('merge', task.index)}`);
  const span = seqSpan(inputs.map((s) => s.entry));
  const sealInfo = { seqRange: span, inputs: inputs.map((s) => s.entry.prefix) };
  let manifest: Awaited<ReturnType<SegmentWriter['seal']>>;
  if (reuse) {
    await using w = await SegmentMerger.create({
      dir,
      config,
      base: { dir: largest.segment.reader.dir, manifest: largest.segment.reader.manifest },
      buildIndex: true,
      threads: env.threads,
      producer: env.producer,
    });
    for (const key of largest.dv.keys) w.remove(key);
    for (const [key] of largest.segment.reader.scanIds()) {
      if (!largest.dv.has(key)) keymap.set(largest.entry.manifestSha256, key, key);
    }
    for (const s of inputs) {
      if (s === largest) continue;
      for (const { key, row } of s.segment.reader.scanWithKeys()) {
        if (s.dv.has(key)) continue;
        keymap.set(s.entry.manifestSha256, key, w.add(row));
      }
    }
    manifest = await w.seal(sealInfo);
  } else {
    await using w = await dataSegmentWriter(env, dir);
    let next = 0;
    for (const { input, key, row } of mergeLive(inputs)) {
      w.append(row);
      keymap.set(input, key, ++next);
    }
    manifest = await w.seal(sealInfo);
  }
  const segment = await uploadDataSegment(store, collection, dir, manifest);
  const km = keymap.encode();
  const kmSha = sha256Hex(km);
  const kmKey = `${Keys.stepPrefix(collection, task.run, stepName('merge', task.index), randomUUID().slice(0, 8))}keymap.bin`;
  await store.put(kmKey, km, { sha256: kmSha, contentType: 'application/octet-stream' });
  return {
    kind: 'merge',
    index: task.index,
    segment,
    included: [],
    rejected: [],
    keymap: { key: kmKey, sha256: kmSha },
    build: reuse ? 'reuse' : 'rebuild',
  };
}

/** The inputs' live rows in id order (a version holds at most one live row per id). */
function* mergeLive(
  inputs: OpenedVersionSegment[],
): Generator<{ input: string; key: number; row: SegmentRow }> {
  const its = inputs.map((s) => ({ s, it: s.segment.reader.scanWithKeys() }));
  const heads = its.map(({ it }) => it.next());
  for (;;) {
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i]!;
      if (h.done) continue;
      if (best < 0 || compareIds(h.value.row.id, (heads[best]!.value as { row: SegmentRow }).row.id) < 0)
        best = i;
    }
    if (best < 0) return;
    const { s, it } = its[best]!;
    const { key, row } = heads[best]!.value as { key: number; row: SegmentRow };
    heads[best] = it.next();
    if (s.dv.has(key)) continue;
    yield { input: s.entry.manifestSha256, key, row };
  }
}
