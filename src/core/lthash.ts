/**
 * An updatable content hash of a set of records: LtHash (Bellare–Micciancio's lattice-based homomorphic
 * hash, in the parameters Lewi et al. deployed for database replication, "Securing Update Propagation
 * with Homomorphic Hashing", 2019): each record maps to a vector of 1,024 lanes of 16 bits, and a set
 * hashes to the lane-wise sum of its records' vectors mod 2^16. So
 *
 *   H(A ∪ {r}) = H(A) + h(r)      H(A \ {r}) = H(A) − h(r)      H(A ∪ B) = H(A) + H(B)  (disjoint)
 *
 * and a version's hash follows from its segments' hashes minus its superseded rows' hashes, without
 * rescanning what did not change.
 *
 * Why it is sound: finding two different multisets with the same sum is an instance of the short
 * integer solution (SIS) problem in dimension 1,024 mod 2^16, estimated above 200 bits of security for
 * these parameters, provided the per-record vectors behave like random oracle outputs. A plain sum of
 * 256-bit digests would not do: Wagner's generalized birthday attack finds colliding sums of 2^16
 * digests in about 2^16 work. The per-record vector is the AES-256-CTR keystream (zero IV, 2,048 bytes)
 * under the key SHA-256(domain ‖ record): SHA-256 as the random oracle, AES-CTR as the expansion (a
 * standard PRG keyed by a uniform key), cheaper here than a SHAKE256 XOF of the same length.
 *
 * The record's encoding is the length-prefixed field stream of core/hash.ts (FieldHasher), as every content
 * hash uses: id, embedding bytes (f32 LE), document, canonical metadata.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { ErrorCodes, StrataError } from './errors.js';
import { canonicalJson, FieldHasher } from './hash.js';
import type { Metadata } from './types.js';

export const LTHASH_LANES = 1024;
export const LTHASH_BYTES = LTHASH_LANES * 2;
const DOMAIN = Buffer.from('strata.lthash.v1\n', 'utf8');
const ZERO_IV = Buffer.alloc(16);
const ZEROS = Buffer.alloc(LTHASH_BYTES);

/** The fields of a record that its hash covers (not its sequence number, key or segment). */
export interface HashedRecord {
  id: string;
  embedding: Float32Array | null;
  document?: string | null;
  metadata?: Metadata | null;
}

/** SHA-256 of the record's canonical encoding: the key of its lattice vector. */
export function recordDigest(r: HashedRecord): Buffer {
  const h = new FieldHasher(1024);
  h.raw(DOMAIN);
  const utf8 = (x: string | null | undefined) =>
    x === null || x === undefined ? null : Buffer.from(x, 'utf8');
  h.field(utf8(r.id));
  const e = r.embedding;
  h.field(e ? new Uint8Array(e.buffer, e.byteOffset, e.byteLength) : null);
  h.field(utf8(r.document));
  h.field(r.metadata ? Buffer.from(canonicalJson(r.metadata), 'utf8') : null);
  return h.digestBytes();
}

/** The record's lattice vector: 1,024 little-endian 16-bit lanes. */
export function recordVector(r: HashedRecord): Uint16Array {
  const c = createCipheriv('aes-256-ctr', recordDigest(r), ZERO_IV);
  const out = c.update(ZEROS);
  return new Uint16Array(out.buffer, out.byteOffset, LTHASH_LANES);
}

/** A multiset hash accumulator. Mutable; `clone()` before sharing. */
export class LtHash {
  readonly lanes: Uint16Array;
  #count: number;

  constructor(lanes?: Uint16Array, count = 0) {
    this.lanes = lanes ? new Uint16Array(lanes) : new Uint16Array(LTHASH_LANES);
    if (this.lanes.length !== LTHASH_LANES) {
      throw new StrataError(ErrorCodes.INTERNAL, `an LtHash has ${LTHASH_LANES} lanes, got ${lanes?.length}`);
    }
    this.#count = count;
  }

  /** Records added minus records removed (informational; not part of the digest). */
  get count(): number {
    return this.#count;
  }

  add(r: HashedRecord): this {
    const v = recordVector(r);
    const l = this.lanes;
    for (let i = 0; i < LTHASH_LANES; i++) l[i] = l[i]! + v[i]!;
    this.#count++;
    return this;
  }

  remove(r: HashedRecord): this {
    const v = recordVector(r);
    const l = this.lanes;
    for (let i = 0; i < LTHASH_LANES; i++) l[i] = l[i]! - v[i]!;
    this.#count--;
    return this;
  }

  /** Adds (sign 1) or subtracts (sign -1) another set's hash. */
  combine(other: LtHash, sign: 1 | -1 = 1): this {
    const l = this.lanes;
    const o = other.lanes;
    if (sign === 1) for (let i = 0; i < LTHASH_LANES; i++) l[i] = l[i]! + o[i]!;
    else for (let i = 0; i < LTHASH_LANES; i++) l[i] = l[i]! - o[i]!;
    this.#count += sign * other.#count;
    return this;
  }

  clone(): LtHash {
    return new LtHash(this.lanes, this.#count);
  }

  equals(other: LtHash): boolean {
    const a = this.lanes;
    const b = other.lanes;
    for (let i = 0; i < LTHASH_LANES; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  /** The state as base64 (2,048 bytes, lanes little-endian), as manifests store it. */
  encode(): string {
    return Buffer.from(this.lanes.buffer, this.lanes.byteOffset, LTHASH_BYTES).toString('base64');
  }

  static decode(text: string, count = 0): LtHash {
    const b = Buffer.from(text, 'base64');
    if (b.byteLength !== LTHASH_BYTES || b.toString('base64') !== text) {
      throw new StrataError(ErrorCodes.MANIFEST_INVALID, 'LtHash state is not 2,048 bytes of base64');
    }
    const lanes = new Uint16Array(LTHASH_LANES);
    new Uint8Array(lanes.buffer).set(b);
    return new LtHash(lanes, count);
  }

  /** A short, comparable name of the state: hex SHA-256 of its bytes. */
  digest(): string {
    return createHash('sha256')
      .update(new Uint8Array(this.lanes.buffer, this.lanes.byteOffset, LTHASH_BYTES))
      .digest('hex');
  }
}
