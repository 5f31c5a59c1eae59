import { compareIds, type SegmentRow } from '../engine/index.js';
import { foldRows } from './fold.js';

/**
 * K-way merge of id-sorted row streams. Sources are given in sequence order (earliest first), so rows for
 * the same id are folded earliest → latest. Yields one folded row per id, ascending.
 */
export function* foldSorted(sources: Iterable<SegmentRow>[]): Generator<SegmentRow> {
  const its = sources.map((s) => s[Symbol.iterator]());
  const heads: (SegmentRow | undefined)[] = its.map((it) => it.next().value as SegmentRow | undefined);
  for (;;) {
    let min: string | undefined;
    for (const h of heads) if (h && (min === undefined || compareIds(h.id, min) < 0)) min = h.id;
    if (min === undefined) return;
    let acc: SegmentRow | undefined;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i];
      if (h && h.id === min) {
        acc = foldRows(acc, h);
        const n = its[i]!.next();
        heads[i] = n.done ? undefined : n.value;
      }
    }
    yield acc!;
  }
}

/** Pairs a base stream (snapshot puts) with a change stream, both id-sorted. */
export function* zipSorted(
  base: Iterable<SegmentRow>,
  changes: Iterable<SegmentRow>,
): Generator<[SegmentRow | undefined, SegmentRow | undefined]> {
  const bi = base[Symbol.iterator]();
  const ci = changes[Symbol.iterator]();
  let b = bi.next();
  let c = ci.next();
  while (!b.done || !c.done) {
    if (c.done || (!b.done && compareIds(b.value.id, c.value.id) < 0)) {
      yield [b.value as SegmentRow, undefined];
      b = bi.next();
    } else if (b.done || compareIds(c.value.id, b.value.id) < 0) {
      yield [undefined, c.value];
      c = ci.next();
    } else {
      yield [b.value, c.value];
      b = bi.next();
      c = ci.next();
    }
  }
}
