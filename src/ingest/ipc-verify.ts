/**
 * A bounds-checking walk over the flatbuffers of an Arrow IPC file or stream, run before Arrow JS
 * parses them. Arrow JS trusts every length it reads: a single flipped bit in a vector length makes it
 * allocate arrays of billions of entries (out-of-memory) and a footer block that points at a schema
 * message makes its batch iterator loop forever. Everything Arrow JS decodes eagerly — footer, schema
 * fields (recursively), key/value metadata, record batch nodes and buffers, dictionary batches — is
 * checked here to lie inside its buffer, so that damage surfaces as a coded error instead of a crash.
 */

export class IpcStructureError extends Error {
  /** The structure points past the end of the bytes (a cut-off file) rather than at nonsense. */
  readonly truncated: boolean;
  constructor(message: string, truncated = false) {
    super(message);
    this.truncated = truncated;
  }
}

const MAX_FIELD_DEPTH = 32;

enum Header {
  Schema = 1,
  DictionaryBatch = 2,
  RecordBatch = 3,
}

/** Strict reader of one flatbuffer: every read is bounds-checked. */
class Flatbuffer {
  readonly #view: DataView;
  readonly #cap: number;

  constructor(bytes: Uint8Array) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#cap = bytes.byteLength;
  }

  #need(pos: number, size: number, what: string): void {
    if (!Number.isSafeInteger(pos) || pos < 0 || pos + size > this.#cap) {
      throw new IpcStructureError(`${what} lies outside its flatbuffer (${pos}+${size} > ${this.#cap})`);
    }
  }

  u8(pos: number): number {
    this.#need(pos, 1, 'a byte');
    return this.#view.getUint8(pos);
  }

  u32(pos: number): number {
    this.#need(pos, 4, 'an offset');
    return this.#view.getUint32(pos, true);
  }

  i64(pos: number): number {
    this.#need(pos, 8, 'a long');
    const v = this.#view.getBigInt64(pos, true);
    if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new IpcStructureError(`a length is ${v}`);
    return Number(v);
  }

  /** Checks the table at `pos` and its vtable; returns `pos`. */
  table(pos: number, what: string): number {
    this.#need(pos, 4, what);
    const vt = pos - this.#view.getInt32(pos, true);
    this.#need(vt, 4, `${what} vtable`);
    const vtSize = this.#view.getUint16(vt, true);
    const tableSize = this.#view.getUint16(vt + 2, true);
    if (vtSize < 4 || vtSize % 2 !== 0) throw new IpcStructureError(`${what} has a malformed vtable`);
    this.#need(vt, vtSize, `${what} vtable`);
    this.#need(pos, Math.max(tableSize, 4), what);
    return pos;
  }

  root(what: string): number {
    return this.table(this.u32(0), what);
  }

  /** Position of field `idx` inside table `t`, or null when absent. */
  field(t: number, idx: number, size: number): number | null {
    const vt = t - this.#view.getInt32(t, true);
    const vtSize = this.#view.getUint16(vt, true);
    if (4 + 2 * idx >= vtSize) return null;
    const off = this.#view.getUint16(vt + 4 + 2 * idx, true);
    if (off === 0) return null;
    const tableSize = this.#view.getUint16(vt + 2, true);
    if (off + size > tableSize) throw new IpcStructureError(`field ${idx} lies outside its table`);
    return t + off;
  }

  /** Target of the reference (table, vector or string) in field `idx`, or null. */
  ref(t: number, idx: number): number | null {
    const p = this.field(t, idx, 4);
    if (p === null) return null;
    const target = p + this.u32(p);
    this.#need(target, 4, `field ${idx}'s target`);
    return target;
  }

  /** A vector of `elemSize`-byte elements in field `idx`: its first element and length, bounds-checked. */
  vector(t: number, idx: number, elemSize: number, what: string): { start: number; length: number } {
    const v = this.ref(t, idx);
    if (v === null) return { start: 0, length: 0 };
    const length = this.u32(v);
    this.#need(v + 4, length * elemSize, `${what} (${length} entries)`);
    return { start: v + 4, length };
  }

  /** The tables of a vector of tables in field `idx`. */
  tables(t: number, idx: number, what: string): number[] {
    const { start, length } = this.vector(t, idx, 4, what);
    const out: number[] = [];
    for (let i = 0; i < length; i++) {
      const p = start + 4 * i;
      out.push(this.table(p + this.u32(p), what));
    }
    return out;
  }

  optTable(t: number, idx: number, what: string): number | null {
    const p = this.ref(t, idx);
    return p === null ? null : this.table(p, what);
  }

  string(t: number, idx: number, what: string): void {
    this.vector(t, idx, 1, what);
  }
}

function verifyKeyValues(fb: Flatbuffer, t: number, idx: number): void {
  for (const kv of fb.tables(t, idx, 'custom metadata')) {
    fb.string(kv, 0, 'a metadata key');
    fb.string(kv, 1, 'a metadata value');
  }
}

function verifyField(fb: Flatbuffer, f: number, depth: number): void {
  if (depth > MAX_FIELD_DEPTH) throw new IpcStructureError('schema fields are nested too deeply');
  fb.string(f, 0, 'a field name');
  fb.optTable(f, 3, 'a field type');
  const dict = fb.optTable(f, 4, 'a dictionary encoding');
  if (dict !== null) fb.optTable(dict, 1, 'a dictionary index type');
  for (const child of fb.tables(f, 5, 'field children')) verifyField(fb, child, depth + 1);
  verifyKeyValues(fb, f, 6);
}

function verifySchema(fb: Flatbuffer, s: number): void {
  for (const f of fb.tables(s, 1, 'schema fields')) verifyField(fb, f, 0);
  verifyKeyValues(fb, s, 2);
  fb.vector(s, 3, 8, 'schema features');
}

function verifyRecordBatch(fb: Flatbuffer, rb: number, bodyLength: number): void {
  // Every value takes at least one bit of the body; a larger count is a damaged length.
  const maxLength = bodyLength * 8 + 64;
  const lengthPos = fb.field(rb, 0, 8);
  const length = lengthPos === null ? 0 : fb.i64(lengthPos);
  if (length > maxLength)
    throw new IpcStructureError(`a record batch claims ${length} rows in ${bodyLength} bytes`);
  const nodes = fb.vector(rb, 1, 16, 'field nodes');
  for (let i = 0; i < nodes.length; i++) {
    const n = fb.i64(nodes.start + 16 * i);
    const nulls = fb.i64(nodes.start + 16 * i + 8);
    if (n > maxLength || nulls > n)
      throw new IpcStructureError(`field node ${i} claims ${n} values, ${nulls} null`);
  }
  const buffers = fb.vector(rb, 2, 16, 'buffers');
  for (let i = 0; i < buffers.length; i++) {
    const offset = fb.i64(buffers.start + 16 * i);
    const len = fb.i64(buffers.start + 16 * i + 8);
    if (offset + len > bodyLength) {
      throw new IpcStructureError(`buffer ${i} (${offset}+${len}) lies outside the ${bodyLength}-byte body`);
    }
  }
  fb.optTable(rb, 3, 'body compression');
  fb.vector(rb, 4, 8, 'variadic buffer counts');
}

/** Verifies one Message flatbuffer; returns its header type and body length. */
function verifyMessage(metadata: Uint8Array): { header: number; bodyLength: number } {
  const fb = new Flatbuffer(metadata);
  const m = fb.root('a message');
  const typePos = fb.field(m, 1, 1);
  const header = typePos === null ? 0 : fb.u8(typePos);
  const bodyPos = fb.field(m, 3, 8);
  const bodyLength = bodyPos === null ? 0 : fb.i64(bodyPos);
  const h = fb.optTable(m, 2, 'a message header');
  if (h === null) throw new IpcStructureError('a message has no header');
  switch (header) {
    case Header.Schema:
      verifySchema(fb, h);
      break;
    case Header.RecordBatch:
      verifyRecordBatch(fb, h, bodyLength);
      break;
    case Header.DictionaryBatch: {
      const data = fb.optTable(h, 1, 'dictionary data');
      if (data !== null) verifyRecordBatch(fb, data, bodyLength);
      break;
    }
    default:
      throw new IpcStructureError(`unsupported message type ${header}`);
  }
  verifyKeyValues(fb, m, 4);
  return { header, bodyLength };
}

/** Reads the message framing at `pos`: continuation marker (or legacy length), metadata length. */
function messageFrame(view: DataView, pos: number, end: number): { prefix: number; length: number } {
  if (pos + 4 > end) throw new IpcStructureError(`a message at byte ${pos} is cut off`, true);
  if (view.getUint32(pos, true) === 0xffffffff) {
    if (pos + 8 > end) throw new IpcStructureError(`a message at byte ${pos} is cut off`, true);
    return { prefix: 8, length: view.getInt32(pos + 4, true) };
  }
  return { prefix: 4, length: view.getInt32(pos, true) };
}

export interface IpcBlock {
  offset: number;
  metaDataLength: number;
  bodyLength: number;
  dictionary: boolean;
}

/**
 * Verifies an Arrow IPC file whose footer starts at `footerStart` (leading and trailing magic already
 * checked): the footer, and every dictionary and record batch message its blocks point at. Returns
 * the blocks, dictionaries first.
 */
export function verifyIpcFile(bytes: Uint8Array, footerStart: number, footerLength: number): IpcBlock[] {
  const fb = new Flatbuffer(bytes.subarray(footerStart, footerStart + footerLength));
  const footer = fb.root('the footer');
  const schema = fb.optTable(footer, 1, 'the footer schema');
  if (schema === null) throw new IpcStructureError('the footer has no schema');
  verifySchema(fb, schema);
  verifyKeyValues(fb, footer, 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const blocks: IpcBlock[] = [];
  for (const [idx, kind] of [
    [2, Header.DictionaryBatch],
    [3, Header.RecordBatch],
  ] as const) {
    const v = fb.vector(footer, idx, 24, 'footer blocks');
    for (let i = 0; i < v.length; i++) {
      const p = v.start + 24 * i;
      const block: IpcBlock = {
        offset: fb.i64(p),
        metaDataLength: fb.u32(p + 8),
        bodyLength: fb.i64(p + 16),
        dictionary: kind === Header.DictionaryBatch,
      };
      const end = block.offset + block.metaDataLength + block.bodyLength;
      if (end > footerStart) {
        throw new IpcStructureError(
          `block ${i} ends at byte ${end}, the footer starts at ${footerStart}`,
          true,
        );
      }
      if (block.offset < 8 || block.offset % 8 !== 0) {
        throw new IpcStructureError(`block ${i} starts at byte ${block.offset}`);
      }
      const frame = messageFrame(view, block.offset, footerStart);
      if (frame.length <= 0 || frame.prefix + frame.length !== block.metaDataLength) {
        throw new IpcStructureError(`block ${i} does not point at a message of its length`);
      }
      const start = block.offset + frame.prefix;
      const msg = verifyMessage(bytes.subarray(start, start + frame.length));
      if (msg.header !== kind || msg.bodyLength !== block.bodyLength) {
        throw new IpcStructureError(`block ${i} does not point at the message its footer entry describes`);
      }
      blocks.push(block);
    }
  }
  return blocks;
}

/**
 * The metadata bytes of the schema message an IPC file carries after its magic (verified), or null when
 * the file has none there (Arrow JS's file writer leaves it out; readers take the footer's schema).
 */
export function leadingSchemaMessage(bytes: Uint8Array, end: number): Uint8Array | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frame = messageFrame(view, 8, end);
  if (frame.prefix !== 8 || frame.length <= 0 || 16 + frame.length > end) return null;
  const metadata = bytes.subarray(16, 16 + frame.length);
  const fb = new Flatbuffer(metadata);
  const typePos = fb.field(fb.root('a message'), 1, 1);
  if (typePos === null || fb.u8(typePos) !== Header.Schema) return null;
  verifyMessage(metadata);
  return metadata;
}

/** Verifies an Arrow IPC stream starting at `start`: every message up to the end-of-stream marker. */
export function verifyIpcStream(bytes: Uint8Array, start = 0): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = start;
  let first = true;
  while (pos < bytes.byteLength) {
    const frame = messageFrame(view, pos, bytes.byteLength);
    if (frame.length === 0) return; // end of stream
    if (frame.length < 0) throw new IpcStructureError(`a message at byte ${pos} has length ${frame.length}`);
    const metaStart = pos + frame.prefix;
    if (metaStart + frame.length > bytes.byteLength) {
      throw new IpcStructureError(`a message at byte ${pos} is cut off`, true);
    }
    const msg = verifyMessage(bytes.subarray(metaStart, metaStart + frame.length));
    if (first && msg.header !== Header.Schema)
      throw new IpcStructureError('the stream does not start with a schema');
    first = false;
    pos = metaStart + frame.length + msg.bodyLength;
    if (pos > bytes.byteLength) throw new IpcStructureError('a message body is cut off', true);
  }
}
