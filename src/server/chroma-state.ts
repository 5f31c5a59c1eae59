/**
 * The records a Chroma write is translated against (chroma-writes.ts): what a read of the collection sees
 * right now — the served version with the tail of acknowledged writes on top (read-your-writes), or the
 * version alone when the server runs without a tail.
 *
 * Callers translate, admit the operations to the tail and queue them synchronously between
 * openRecordState and release (chroma-api.ts, writeWith), so the state a request is translated against
 * already includes every request queued before it.
 */
import type { Metadata } from '../core/types.js';
import type { VersionView } from '../query/index.js';
import type { CatalogEntry } from './catalog.js';
import type { RecordState, StoredRecord } from './chroma-writes.js';
import type { ServerContext } from './context.js';
import { selectRows } from './read-ops.js';

export interface OpenRecordState extends RecordState {
  /** The view translated against (undefined: nothing written yet). */
  readonly view: VersionView | undefined;
  release(): void;
}

const EMPTY: OpenRecordState = {
  view: undefined,
  lookup: () => new Map(),
  select: () => [],
  release: () => {},
};

export async function openRecordState(ctx: ServerContext, e: CatalogEntry): Promise<OpenRecordState> {
  if (!e.config) return EMPTY;
  const r = await ctx.snapshots.acquireView(e.strata);
  const view = r.view;
  if (!view) {
    r.release();
    return EMPTY;
  }
  return {
    view,
    lookup(ids) {
      const out = new Map<string, StoredRecord>();
      for (const id of ids) {
        const ref = view.rowOfId(id);
        if (!ref || out.has(id)) continue;
        const src = view.parts[ref.part]!.source;
        const d = src.dimension;
        const v = src.vectors;
        out.set(id, {
          embedding: v ? v.slice(ref.row * d, ref.row * d + d) : src.gather([ref.row]),
          document: src.documents()[ref.row] ?? null,
          metadata: (src.metadata[ref.row] ?? null) as Metadata | null,
        });
      }
      return out;
    },
    select(filter) {
      return selectRows(view, filter).map((ref) => view.id(ref));
    },
    release: r.release,
  };
}
