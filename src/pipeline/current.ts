import { ErrorCodes, StrataError } from '../core/errors.js';
import type { OpenOptions, SegmentRow } from '../engine/index.js';
import {
  type SearchHit,
  type SearchOptions,
  type SearchPlan,
  SegmentView,
  searchVersion,
  segmentPart,
  VectorBudget,
  VersionView,
} from '../query/index.js';
import type { ObjectStore } from '../store/index.js';
import { type OpenedVersion, openVersion } from './open-version.js';
import { baseRefOf, type Pointer, readPointer } from './pointer.js';

export interface QueryableOptions extends OpenOptions {
  /** Bytes of f32 vectors to keep in memory across the version's segments (default 1 GiB). */
  vectorBudgetBytes?: number;
}

/**
 * The current version of a collection, opened for queries: pointer → version manifest → every segment
 * (all verified) with its deletion vector, and the in-memory views the query layer searches. Owns the
 * opened segments; close() releases them.
 */
export class QueryableVersion implements AsyncDisposable {
  readonly view: VersionView;
  readonly #segmentViews: SegmentView[];

  constructor(
    readonly pointer: Pointer,
    readonly opened: OpenedVersion,
    opts: QueryableOptions = {},
  ) {
    const budget = new VectorBudget(opts.vectorBudgetBytes ?? 1 << 30);
    this.#segmentViews = opened.segments.map((s) => SegmentView.build(s.segment.reader, { budget }));
    const m = opened.resolved.manifest;
    this.view = new VersionView(
      opened.segments.map((s, i) => segmentPart(this.#segmentViews[i]!, s.dv.keys)),
      m.metric,
      m.dimension,
    );
  }

  get version(): number {
    return this.opened.version;
  }

  /** Live records. */
  get count(): number {
    return this.view.count;
  }

  search(query: Float32Array, k: number, opts: SearchOptions = {}): { hits: SearchHit[]; plan: SearchPlan } {
    return searchVersion(this.view, query, k, opts);
  }

  /** The live rows of these ids (absent ids are absent from the map). */
  get(ids: readonly string[]): Map<string, SegmentRow> {
    const out = new Map<string, SegmentRow>();
    for (const id of ids) {
      const ref = this.view.rowOfId(id);
      if (!ref) continue;
      const seg = this.#segmentViews[ref.part]!;
      const row = seg.reader.rowsByKey([seg.keys[ref.row]!]).get(seg.keys[ref.row]!);
      if (row) out.set(id, row);
    }
    return out;
  }

  /** Every live id, segment by segment. */
  *ids(): Generator<string> {
    for (const ref of this.view.select({})) yield this.view.id(ref);
  }

  async close(): Promise<void> {
    for (const v of this.#segmentViews) v.release();
    await this.opened.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Resolves pointer → version → segments (all verified) and opens them for queries. */
export async function openCurrentVersion(
  store: ObjectStore,
  collection: string,
  opts: QueryableOptions = {},
): Promise<QueryableVersion> {
  const p = await readPointer(store, collection);
  if (!p) {
    throw new StrataError(
      ErrorCodes.NOT_FOUND,
      `collection ${collection} has no published version yet (run strata compact)`,
      {
        collection,
      },
    );
  }
  const opened = await openVersion(store, collection, baseRefOf(p)!, opts);
  try {
    return new QueryableVersion(p.value, opened, opts);
  } catch (e) {
    await opened.close();
    throw e;
  }
}
