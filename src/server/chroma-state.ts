/**
 * The records a Chroma write is translated against (chroma-writes.ts): today, the collection's served
 * snapshot — so a write sees the writes before it only once a compaction has published them.
 *
 * This is the one function to re-point when the server keeps its acknowledged writes in memory
 * ("version + tail"): openRecordState must then answer from the served version with the tail applied.
 * Callers translate and enqueue synchronously between openRecordState and release (chroma-api.ts,
 * writeWith), so the state a request is translated against already includes every request queued before
 * it — as soon as the state includes queued writes.
 */
import type { Metadata } from '../core/types.js';
import type { CatalogEntry } from './catalog.js';
import type { RecordState, StoredRecord } from './chroma-writes.js';
import { acquireCurrent, type ServerContext } from './context.js';
import { selectRows } from './read-ops.js';

export interface OpenRecordState extends RecordState {
  release(): void;
}

const EMPTY: OpenRecordState = {
  lookup: () => new Map(),
  select: () => [],
  release: () => {},
};

export async function openRecordState(ctx: ServerContext, e: CatalogEntry): Promise<OpenRecordState> {
  const snap = e.config ? await acquireCurrent(ctx, e.strata) : undefined;
  if (!snap) return EMPTY;
  const view = snap.view;
  return {
    lookup(ids) {
      const out = new Map<string, StoredRecord>();
      const rows: number[] = [];
      const found: string[] = [];
      for (const id of ids) {
        const r = view.rowOfId(id);
        if (r >= 0) {
          rows.push(r);
          found.push(id);
        }
      }
      if (rows.length === 0) return out;
      const vectors = view.gather(rows);
      const docs = view.documents();
      const d = view.dimension;
      rows.forEach((r, i) => {
        out.set(found[i]!, {
          embedding: vectors.slice(i * d, i * d + d),
          document: docs[r] ?? null,
          metadata: (view.metadata[r] ?? null) as Metadata | null,
        });
      });
      return out;
    },
    select(filter) {
      return selectRows(snap, filter).map((r) => view.ids[r]!);
    },
    release: () => snap.release(),
  };
}
