/**
 * Where a merge put each live row of its inputs: per input segment, pairs (input key → merged key). A merge
 * that publishes after its base version moved uses it to carry the deletions made since onto the merged
 * segment without opening any segment ("re-applies the newer deletion vectors").
 *
 * Encoding (little-endian): "SKM1" · u32 inputs · per input: 32 bytes of its address (manifest SHA-256),
 * u32 pairs, then pairs × (u32 input key, u32 merged key), input keys ascending.
 */
import { ErrorCodes, StrataError } from '../core/errors.js';

export class KeyMap {
  readonly #maps = new Map<string, Map<number, number>>();

  set(input: string, inputKey: number, mergedKey: number): void {
    let m = this.#maps.get(input);
    if (!m) {
      m = new Map();
      this.#maps.set(input, m);
    }
    m.set(inputKey, mergedKey);
  }

  /** The merged keys of these input keys (keys the merge did not carry are skipped). */
  map(input: string, keys: Iterable<number>): number[] {
    const m = this.#maps.get(input);
    const out: number[] = [];
    if (!m) return out;
    for (const k of keys) {
      const v = m.get(k);
      if (v !== undefined) out.push(v);
    }
    return out;
  }

  get inputs(): string[] {
    return [...this.#maps.keys()];
  }

  encode(): Buffer {
    const inputs = [...this.#maps.entries()];
    let size = 8;
    for (const [, m] of inputs) size += 32 + 4 + m.size * 8;
    const out = Buffer.alloc(size);
    out.write('SKM1', 0, 'latin1');
    out.writeUInt32LE(inputs.length, 4);
    let pos = 8;
    for (const [input, m] of inputs) {
      Buffer.from(input, 'hex').copy(out, pos);
      pos += 32;
      out.writeUInt32LE(m.size, pos);
      pos += 4;
      for (const [k, v] of [...m.entries()].sort((a, b) => a[0] - b[0])) {
        out.writeUInt32LE(k, pos);
        out.writeUInt32LE(v, pos + 4);
        pos += 8;
      }
    }
    return out;
  }

  static decode(buf: Uint8Array, ctx: Record<string, unknown> = {}): KeyMap {
    const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    const bad = (msg: string) => new StrataError(ErrorCodes.MANIFEST_INVALID, `merge key map ${msg}`, ctx);
    if (b.byteLength < 8 || b.toString('latin1', 0, 4) !== 'SKM1') throw bad('has no SKM1 header');
    const km = new KeyMap();
    const n = b.readUInt32LE(4);
    let pos = 8;
    for (let i = 0; i < n; i++) {
      if (pos + 36 > b.byteLength) throw bad('is truncated');
      const input = b.toString('hex', pos, pos + 32);
      const pairs = b.readUInt32LE(pos + 32);
      pos += 36;
      if (pos + pairs * 8 > b.byteLength) throw bad('is truncated');
      for (let j = 0; j < pairs; j++) {
        km.set(input, b.readUInt32LE(pos), b.readUInt32LE(pos + 4));
        pos += 8;
      }
    }
    if (pos !== b.byteLength) throw bad('has trailing bytes');
    return km;
  }
}
