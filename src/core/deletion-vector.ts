/**
 * A deletion vector: which rows of one segment are superseded (deleted, upserted or updated later) as of
 * one version. Rows are named by their segment key (1..keySpace). Immutable; stored content-addressed
 * (`deletions/<sha256>.dv`), shared by every version whose deletions of that segment are the same.
 *
 * Encoding (little-endian): "SDV1" · u32 keySpace · u32 count · count keys as LEB128 gaps (first key, then
 * key − previous key; every gap ≥ 1). Sparse deletions cost a byte or two each; a decoder checks that the
 * keys ascend, stay within 1..keySpace and fill the buffer exactly, so a truncated, padded or reordered
 * vector is refused rather than misread.
 */

import type { ErrorContext } from './errors.js';
import { ErrorCodes, StrataError } from './errors.js';

const MAGIC = 'SDV1';
const HEADER_BYTES = 12;

export class DeletionVector {
  /** The segment's largest key: every key of the vector is in 1..keySpace. */
  readonly keySpace: number;
  /** Deleted keys, strictly ascending. */
  readonly keys: Uint32Array;

  private constructor(keySpace: number, keys: Uint32Array) {
    this.keySpace = keySpace;
    this.keys = keys;
  }

  static empty(keySpace: number): DeletionVector {
    return new DeletionVector(checkKeySpace(keySpace), new Uint32Array(0));
  }

  /** From keys in any order, duplicates allowed. */
  static of(keySpace: number, keys: Iterable<number>, ctx: ErrorContext = {}): DeletionVector {
    checkKeySpace(keySpace);
    const sorted = Uint32Array.from(new Set(keys)).sort();
    for (const k of sorted) {
      if (k < 1 || k > keySpace) {
        throw new StrataError(
          ErrorCodes.INTERNAL,
          `key ${k} is outside the segment's keys 1..${keySpace}`,
          ctx,
        );
      }
    }
    return new DeletionVector(keySpace, sorted);
  }

  get count(): number {
    return this.keys.length;
  }

  has(key: number): boolean {
    const ks = this.keys;
    let lo = 0;
    let hi = ks.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = ks[mid]!;
      if (v === key) return true;
      if (v < key) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  /** This vector with more keys deleted (itself when none are new). */
  with(keys: Iterable<number>, ctx: ErrorContext = {}): DeletionVector {
    const extra = [...keys].filter((k) => !this.has(k));
    if (extra.length === 0) return this;
    return DeletionVector.of(this.keySpace, [...this.keys, ...extra], ctx);
  }

  /** Keys deleted here but not in `earlier` (the same segment's vector in an older version). */
  since(earlier: DeletionVector): number[] {
    const out: number[] = [];
    for (const k of this.keys) if (!earlier.has(k)) out.push(k);
    return out;
  }

  encode(): Buffer {
    const parts: number[] = [];
    let prev = 0;
    for (const k of this.keys) {
      let gap = k - prev;
      prev = k;
      while (gap >= 0x80) {
        parts.push((gap & 0x7f) | 0x80);
        gap >>>= 7;
      }
      parts.push(gap);
    }
    const out = Buffer.alloc(HEADER_BYTES + parts.length);
    out.write(MAGIC, 0, 'latin1');
    out.writeUInt32LE(this.keySpace, 4);
    out.writeUInt32LE(this.keys.length, 8);
    Buffer.from(parts).copy(out, HEADER_BYTES);
    return out;
  }

  static decode(buf: Uint8Array, ctx: ErrorContext = {}): DeletionVector {
    const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    const bad = (msg: string) =>
      new StrataError(ErrorCodes.DELETION_VECTOR_INVALID, `deletion vector ${msg}`, ctx);
    if (b.byteLength < HEADER_BYTES || b.toString('latin1', 0, 4) !== MAGIC) throw bad('has no SDV1 header');
    const keySpace = b.readUInt32LE(4);
    const count = b.readUInt32LE(8);
    if (count > keySpace) throw bad(`holds ${count} keys of a segment with ${keySpace}`);
    const keys = new Uint32Array(count);
    let pos = HEADER_BYTES;
    let prev = 0;
    for (let i = 0; i < count; i++) {
      let gap = 0;
      let shift = 0;
      for (;;) {
        if (pos >= b.byteLength) throw bad('is truncated');
        const byte = b[pos++]!;
        gap += (byte & 0x7f) * 2 ** shift;
        if ((byte & 0x80) === 0) break;
        shift += 7;
        if (shift > 35) throw bad('has an overlong gap');
      }
      if (gap < 1) throw bad('repeats a key');
      prev += gap;
      if (prev > keySpace) throw bad(`names key ${prev} beyond the segment's ${keySpace}`);
      keys[i] = prev;
    }
    if (pos !== b.byteLength) throw bad(`has ${b.byteLength - pos} trailing bytes`);
    return new DeletionVector(keySpace, keys);
  }
}

function checkKeySpace(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new StrataError(ErrorCodes.INTERNAL, `invalid key space ${n}`);
  }
  return n;
}
