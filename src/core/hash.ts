import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Metadata, MetadataPatch } from './types.js';

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function sha256File(path: string): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

/** JSON with sorted keys: the canonical form of metadata for hashing and storage. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(v as object).sort();
  return `{${keys
    .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
    .join(',')}}`;
}

export type RowKind = 'put' | 'tombstone' | 'patch';

/**
 * Hash of a logical record set, fed rows in ascending id order. Length-prefixed fields, so no two
 * different record sets share a byte stream. Independent of file layout, rowids, index, build path.
 */
export class ContentHasher {
  #h: Hash = createHash('sha256');
  #n = 0;
  #lenBuf = Buffer.alloc(4);

  #field(b: Uint8Array | string | null | undefined): void {
    if (b === null || b === undefined) {
      this.#lenBuf.writeUInt32LE(0xffffffff);
      this.#h.update(this.#lenBuf);
      return;
    }
    const buf = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
    this.#lenBuf.writeUInt32LE(buf.byteLength);
    this.#h.update(this.#lenBuf);
    this.#h.update(buf);
  }

  add(row: {
    id: string;
    kind?: RowKind;
    embedding?: Float32Array | null;
    document?: string | null;
    /** Absent document on a patch is different from a null one; callers pass `undefined` for absent. */
    documentSet?: boolean;
    metadata?: Metadata | MetadataPatch | null;
    /** Likewise for a patch's metadata: absent (unchanged) differs from null. */
    metadataSet?: boolean;
  }): void {
    this.#n++;
    this.#field(row.kind ?? 'put');
    this.#field(row.id);
    this.#field(
      row.embedding
        ? new Uint8Array(row.embedding.buffer, row.embedding.byteOffset, row.embedding.byteLength)
        : null,
    );
    this.#field(row.documentSet === false ? '\u0000unset' : (row.document ?? null));
    this.#field(
      row.metadataSet === false ? '\u0000unset' : row.metadata ? canonicalJson(row.metadata) : null,
    );
  }

  get count(): number {
    return this.#n;
  }

  digest(): string {
    return this.#h.digest('hex');
  }
}
