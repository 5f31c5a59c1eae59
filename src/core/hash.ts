/**
 * Hashing, in one place: SHA-256 of bytes, of open files and of chunk streams (the stores, the engine
 * and the pipeline all take theirs from here), the length-prefixed field stream content hashes are built
 * on, and the content hash of a record set.
 */
import { createHash, type Hash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import type { Metadata, MetadataPatch, RowKind } from './types.js';

const READ_CHUNK = 4 << 20;

/** SHA-256 (hex) of bytes, or of a string's UTF-8. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** MD5 (base64) of bytes: the Content-MD5 an S3 request body carries as its transport check. */
export function md5Base64(data: Uint8Array): string {
  return createHash('md5').update(data).digest('base64');
}

/** An incremental SHA-256 for bytes that arrive in pieces: `update(…)`, then `digest('hex')`. */
export function sha256Hasher(): Hash {
  return createHash('sha256');
}

/**
 * The whole of an open file from position 0, read through one reused buffer: a chunk is only valid until
 * the next one is asked for.
 */
export async function* fileChunks(fh: FileHandle): AsyncGenerator<Uint8Array> {
  const buf = Buffer.allocUnsafe(READ_CHUNK);
  for (let pos = 0; ; ) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) return;
    yield buf.subarray(0, bytesRead);
    pos += bytesRead;
  }
}

/**
 * SHA-256 (hex) and byte count of everything `chunks` yields. `each` sees every chunk after it is hashed
 * and is awaited before the next is read: for copying the bytes, or a second digest, in the same pass.
 */
export async function sha256Chunks(
  chunks: AsyncIterable<Uint8Array>,
  each?: (chunk: Uint8Array) => void | Promise<void>,
): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of chunks) {
    h.update(chunk);
    size += chunk.byteLength;
    if (each) await each(chunk);
  }
  return { sha256: h.digest('hex'), size };
}

/** SHA-256 and size of the whole of an open file (read from position 0, whatever its current one). */
export function sha256Handle(fh: FileHandle): Promise<{ sha256: string; size: number }> {
  return sha256Chunks(fileChunks(fh));
}

/** SHA-256 and size of a file. */
export async function sha256File(path: string): Promise<{ sha256: string; size: number }> {
  const fh = await open(path, 'r');
  try {
    return await sha256Handle(fh);
  } finally {
    await fh.close();
  }
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

/**
 * A SHA-256 over a stream of fields: `field` is a u32 LE length and the bytes, or the u32 0xFFFFFFFF for
 * null, so no two different field sequences share a byte stream; `u8` and `i64` (LE) are fixed-width.
 * Small fields are batched through a scratch buffer so that many short fields do not cost one hash
 * update each.
 */
export class FieldHasher {
  #h: Hash = createHash('sha256');
  #buf: Buffer;
  #pos = 0;

  /** `scratch`: bytes batched per hash update (small for one-record hashers, large for streams). */
  constructor(scratch = 64 << 10) {
    this.#buf = Buffer.allocUnsafe(Math.max(64, scratch));
  }

  /** Raw bytes into the stream (a domain separator, say). */
  raw(b: Uint8Array): void {
    this.#flush();
    this.#h.update(b);
  }

  #room(n: number): void {
    if (this.#pos + n > this.#buf.length) this.#flush();
  }

  #flush(): void {
    if (this.#pos > 0) this.#h.update(this.#buf.subarray(0, this.#pos));
    this.#pos = 0;
  }

  field(b: Uint8Array | null): void {
    this.#room(4);
    if (b === null) {
      this.#buf.writeUInt32LE(0xffffffff, this.#pos);
      this.#pos += 4;
      return;
    }
    this.#buf.writeUInt32LE(b.byteLength, this.#pos);
    this.#pos += 4;
    if (b.byteLength > Math.min(4096, this.#buf.length >> 1)) {
      this.#flush();
      this.#h.update(b);
      return;
    }
    this.#room(b.byteLength);
    this.#buf.set(b, this.#pos);
    this.#pos += b.byteLength;
  }

  u8(v: number): void {
    this.#room(1);
    this.#buf[this.#pos++] = v;
  }

  i64(v: bigint): void {
    this.#room(8);
    this.#buf.writeBigInt64LE(v, this.#pos);
    this.#pos += 8;
  }

  digest(): string {
    this.#flush();
    return this.#h.digest('hex');
  }

  digestBytes(): Buffer {
    this.#flush();
    return this.#h.digest();
  }
}

/**
 * Hash of a logical record set, fed rows in ascending id order. Length-prefixed fields, so no two
 * different record sets share a byte stream. Independent of file layout, rowids, index, build path.
 */
export class ContentHasher {
  #f = new FieldHasher();
  #n = 0;

  #field(b: Uint8Array | string | null | undefined): void {
    this.#f.field(b === null || b === undefined ? null : typeof b === 'string' ? Buffer.from(b, 'utf8') : b);
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
    return this.#f.digest();
  }
}
