/**
 * Chroma's persisted hnswlib segment (its fork of hnswlib, persistence version 1), parsed without hnswlib:
 *
 * - header.bin (100 bytes, little-endian): int32 version, size_t offsetLevel0, max_elements, cur_element_count,
 *   size_data_per_element, label_offset, offsetData, int32 maxlevel, uint32 enterpoint, size_t maxM, maxM0, M,
 *   double mult, size_t ef_construction.
 * - data_level0.bin: max_elements slots of size_data_per_element: uint32 link count (its byte 2 carries the
 *   DELETE mark), maxM0 uint32 links, the vector (dim float32; unit length in a cosine space), uint64 label.
 * - length.bin: one float32 per slot, the vector's original norm (cosine space: what was divided out).
 * - link_lists.bin: per element, uint32 byte size then that many bytes of upper-level links.
 * - index_metadata.pickle: label ↔ id maps (absent until the first persist).
 *
 * Every size is checked against the header before anything is read: a short file is E_CHROMA_INDEX_TRUNCATED.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, StrataError } from '../../core/errors.js';
import { type PickleValue, readPickle } from './pickle.js';

export const HNSW_FILES = {
  header: 'header.bin',
  data: 'data_level0.bin',
  length: 'length.bin',
  links: 'link_lists.bin',
  metadata: 'index_metadata.pickle',
} as const;

const HEADER_BYTES = 100;
const PERSISTENCE_VERSION = 1;
const DELETE_MARK = 0x01;

export interface HnswHeader {
  version: number;
  offsetLevel0: number;
  maxElements: number;
  count: number;
  sizeDataPerElement: number;
  labelOffset: number;
  offsetData: number;
  maxLevel: number;
  enterpoint: number;
  maxM: number;
  maxM0: number;
  M: number;
  mult: number;
  efConstruction: number;
}

/** One slot of the level-0 array that holds an element. */
export interface HnswElement {
  internalId: number;
  label: number;
  deleted: boolean;
}

function truncated(message: string, file: string, extra: Record<string, unknown> = {}): StrataError {
  return new StrataError(ErrorCodes.CHROMA_INDEX_TRUNCATED, message, { file, ...extra });
}

function sizeT(b: Buffer, at: number, file: string): number {
  const v = b.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new StrataError(ErrorCodes.CHROMA_FORMAT, `header field at byte ${at} is out of range`, { file });
  }
  return Number(v);
}

export function parseHeader(b: Buffer, file: string): HnswHeader {
  if (b.length < HEADER_BYTES) {
    throw truncated(`header is ${b.length} bytes, expected ${HEADER_BYTES}`, file);
  }
  const version = b.readInt32LE(0);
  if (version !== PERSISTENCE_VERSION) {
    throw new StrataError(
      ErrorCodes.CHROMA_FORMAT,
      `hnsw persistence version ${version} is not supported (reads ${PERSISTENCE_VERSION})`,
      {
        file,
      },
    );
  }
  return {
    version,
    offsetLevel0: sizeT(b, 4, file),
    maxElements: sizeT(b, 12, file),
    count: sizeT(b, 20, file),
    sizeDataPerElement: sizeT(b, 28, file),
    labelOffset: sizeT(b, 36, file),
    offsetData: sizeT(b, 44, file),
    maxLevel: b.readInt32LE(52),
    enterpoint: b.readUInt32LE(56),
    maxM: sizeT(b, 60, file),
    maxM0: sizeT(b, 68, file),
    M: sizeT(b, 76, file),
    mult: b.readDoubleLE(84),
    efConstruction: sizeT(b, 92, file),
  };
}

/**
 * The files of one vector segment, opened read-only. Owns two file descriptors (data, length); close()
 * releases them. Vectors are read on demand with positioned reads, never the whole file at once.
 */
export class HnswSegmentFiles {
  readonly dir: string;
  readonly header: HnswHeader;
  readonly dimension: number;
  /** label → Chroma id, from index_metadata.pickle (empty when the index was never persisted). */
  readonly labelToId: Map<number, string>;
  #dataFd: number | null;
  #lengthFd: number | null;
  readonly #slot: Buffer;

  private constructor(
    dir: string,
    header: HnswHeader,
    dimension: number,
    labelToId: Map<number, string>,
    dataFd: number,
    lengthFd: number,
  ) {
    this.dir = dir;
    this.header = header;
    this.dimension = dimension;
    this.labelToId = labelToId;
    this.#dataFd = dataFd;
    this.#lengthFd = lengthFd;
    this.#slot = Buffer.alloc(header.sizeDataPerElement);
  }

  /**
   * Opens and checks a segment directory. `dimension` is the collection's; a missing directory or header
   * means "never persisted" and returns null only if `mayBeEmpty` (no vector was ever persisted).
   */
  static open(dir: string, dimension: number): HnswSegmentFiles {
    const headerPath = join(dir, HNSW_FILES.header);
    const header = parseHeader(readFileSync(headerPath), headerPath);
    const linkBytes = 4 + header.maxM0 * 4;
    const expectSize = linkBytes + dimension * 4 + 8;
    if (
      header.offsetLevel0 !== 0 ||
      header.offsetData !== linkBytes ||
      header.labelOffset !== linkBytes + dimension * 4 ||
      header.sizeDataPerElement !== expectSize
    ) {
      throw new StrataError(
        ErrorCodes.CHROMA_FORMAT,
        `hnsw header does not describe ${dimension}-d float32 elements (element ${header.sizeDataPerElement} bytes, data at ${header.offsetData}, label at ${header.labelOffset})`,
        { file: headerPath },
      );
    }
    if (header.count > header.maxElements) {
      throw new StrataError(
        ErrorCodes.CHROMA_FORMAT,
        `hnsw header counts ${header.count} elements in room for ${header.maxElements}`,
        {
          file: headerPath,
        },
      );
    }
    const dataPath = join(dir, HNSW_FILES.data);
    const lengthPath = join(dir, HNSW_FILES.length);
    const linksPath = join(dir, HNSW_FILES.links);
    const dataFd = openSync(dataPath, 'r');
    let lengthFd: number | null = null;
    try {
      lengthFd = openSync(lengthPath, 'r');
      const dataSize = fstatSync(dataFd).size;
      if (dataSize < header.count * header.sizeDataPerElement) {
        throw truncated(
          `data_level0.bin is ${dataSize} bytes, ${header.count} elements need ${header.count * header.sizeDataPerElement}`,
          dataPath,
          {
            elements: header.count,
          },
        );
      }
      const lengthSize = fstatSync(lengthFd).size;
      if (lengthSize < header.count * 4) {
        throw truncated(
          `length.bin is ${lengthSize} bytes, ${header.count} elements need ${header.count * 4}`,
          lengthPath,
        );
      }
      checkLinkLists(readFileSync(linksPath), header, linksPath);
      const labelToId =
        header.count > 0 ? readLabels(join(dir, HNSW_FILES.metadata)) : new Map<number, string>();
      const files = new HnswSegmentFiles(dir, header, dimension, labelToId, dataFd, lengthFd);
      return files;
    } catch (e) {
      closeSync(dataFd);
      if (lengthFd !== null) closeSync(lengthFd);
      throw e;
    }
  }

  #fds(): { data: number; length: number } {
    if (this.#dataFd === null || this.#lengthFd === null) {
      throw new StrataError(ErrorCodes.CLOSED, 'hnsw segment files are closed', { file: this.dir });
    }
    return { data: this.#dataFd, length: this.#lengthFd };
  }

  #readSlot(internalId: number): Buffer {
    const { data } = this.#fds();
    const size = this.header.sizeDataPerElement;
    const n = readSync(data, this.#slot, 0, size, internalId * size);
    if (n !== size) throw truncated(`element ${internalId} is cut short`, join(this.dir, HNSW_FILES.data));
    return this.#slot;
  }

  /** Every element slot (deleted ones included), in internal-id order. */
  *elements(): Generator<HnswElement> {
    const { labelOffset } = this.header;
    for (let i = 0; i < this.header.count; i++) {
      const slot = this.#readSlot(i);
      const label = slot.readBigUInt64LE(labelOffset);
      yield { internalId: i, label: Number(label), deleted: (slot[2]! & DELETE_MARK) !== 0 };
    }
  }

  /**
   * The vector of an element as Chroma returns it: in a cosine space the stored unit vector times the stored
   * norm, each product rounded to float32 (what hnswlib's getDataByLabel computes), else the stored vector.
   */
  vector(internalId: number, denormalize: boolean): Float32Array {
    const slot = this.#readSlot(internalId);
    const d = this.dimension;
    const out = new Float32Array(d);
    const off = this.header.offsetData;
    for (let j = 0; j < d; j++) out[j] = slot.readFloatLE(off + 4 * j);
    if (denormalize) {
      const b = Buffer.alloc(4);
      const { length } = this.#fds();
      if (readSync(length, b, 0, 4, internalId * 4) !== 4) {
        throw truncated(`norm of element ${internalId} is missing`, join(this.dir, HNSW_FILES.length));
      }
      const norm = b.readFloatLE(0);
      for (let j = 0; j < d; j++) out[j] = out[j]! * norm;
    }
    return out;
  }

  close(): void {
    const fds = [this.#dataFd, this.#lengthFd];
    this.#dataFd = null;
    this.#lengthFd = null;
    for (const fd of fds) if (fd !== null) closeSync(fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function checkLinkLists(b: Buffer, h: HnswHeader, file: string): void {
  const per = 4 + h.maxM * 4;
  let pos = 0;
  for (let i = 0; i < h.count; i++) {
    if (pos + 4 > b.length)
      throw truncated(`link_lists.bin ends at element ${i} of ${h.count}`, file, { elements: h.count });
    const size = b.readUInt32LE(pos);
    pos += 4;
    if (size % per !== 0) {
      throw new StrataError(
        ErrorCodes.CHROMA_FORMAT,
        `link list of element ${i} has ${size} bytes, not a multiple of ${per}`,
        { file },
      );
    }
    if (pos + size > b.length)
      throw truncated(`link_lists.bin ends inside element ${i}'s links`, file, { elements: h.count });
    pos += size;
  }
}

function readLabels(path: string): Map<number, string> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw truncated('index_metadata.pickle is missing although the header counts elements', path);
    }
    throw e;
  }
  const root = readPickle(bytes, path);
  const map = root instanceof Map ? root.get('label_to_id') : undefined;
  const idToLabel = root instanceof Map ? root.get('id_to_label') : undefined;
  if (!(map instanceof Map) || !(idToLabel instanceof Map)) {
    throw new StrataError(
      ErrorCodes.CHROMA_FORMAT,
      'index_metadata.pickle has no label_to_id/id_to_label maps',
      { file: path },
    );
  }
  const out = new Map<number, string>();
  for (const [k, v] of map as Map<unknown, PickleValue>) {
    if (typeof k !== 'number' || typeof v !== 'string') {
      throw new StrataError(
        ErrorCodes.CHROMA_FORMAT,
        'index_metadata.pickle maps a non-integer label or a non-string id',
        { file: path },
      );
    }
    out.set(k, v);
  }
  if (idToLabel.size !== out.size) {
    throw new StrataError(
      ErrorCodes.CHROMA_COUNTS,
      `index_metadata.pickle maps ${idToLabel.size} ids to labels but ${out.size} labels to ids`,
      {
        file: path,
      },
    );
  }
  return out;
}
