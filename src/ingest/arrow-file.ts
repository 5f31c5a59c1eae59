/**
 * Arrow IPC framing: telling a file from a stream, framing a stream as a file, and opening either only
 * after its structure has been checked (ipc-verify.ts), so that damage surfaces as a coded
 * DeltaFormatError instead of a crash or a runaway allocation inside Arrow JS.
 */
import {
  type DataType,
  Message,
  MetadataVersion,
  RecordBatchFileReader,
  RecordBatchReader,
  type Schema,
} from 'apache-arrow';
import { FileBlock, Footer } from 'apache-arrow/ipc/metadata/file';
import { DeltaFormatError, type ErrorCode, ErrorCodes, type ErrorContext } from '../core/errors.js';
import {
  type IpcBlock,
  IpcStructureError,
  leadingSchemaMessage,
  verifyIpcFile,
  verifyIpcStream,
} from './ipc-verify.js';

const ARROW_MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // "ARROW1"
const FILE_MAGIC = [...ARROW_MAGIC, 0, 0]; // magic and padding to 8 bytes

export type ArrowKind = 'file' | 'stream';

/** A DeltaFormatError with `cause` set when there is one. */
export function deltaError(
  code: ErrorCode,
  message: string,
  ctx: ErrorContext,
  cause?: unknown,
): DeltaFormatError {
  return new DeltaFormatError(code, message, ctx, cause === undefined ? undefined : { cause });
}

function magicAt(bytes: Uint8Array, pos: number): boolean {
  return ARROW_MAGIC.every((b, i) => bytes[pos + i] === b);
}

/** An IPC file (leading "ARROW1"), an IPC stream (a leading continuation marker), or neither. */
export function arrowKind(bytes: Uint8Array): ArrowKind | null {
  if (bytes.byteLength >= 6 && magicAt(bytes, 0)) return 'file';
  if (
    bytes.byteLength >= 8 &&
    new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) === 0xffffffff
  ) {
    return 'stream';
  }
  return null;
}

/** An Arrow type as text, or its type id when Arrow cannot print it (a damaged schema). */
export function describeType(t: DataType): string {
  try {
    return String(t);
  } catch {
    return `type #${t.typeId}`;
  }
}

/** Field names, types and nullability plus the schema metadata: what two copies of a schema must share. */
function schemaSignature(s: Schema): string {
  return JSON.stringify([s.fields.map((f) => [f.name, describeType(f.type), f.nullable]), [...s.metadata]]);
}

/**
 * Frames an IPC stream of one schema message and one record batch as an IPC file, as the format
 * specifies: magic, the stream (schema message first, EOS last), footer, footer length, magic.
 * (Arrow JS's own file writer leaves the schema message out; readers that take a file as a stream
 * after its magic, such as older DuckDB Arrow extensions, then fail.)
 */
export function streamToFile(stream: Uint8Array, schema: Schema): Uint8Array {
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  const messageAt = (pos: number) => {
    if (view.getUint32(pos, true) !== 0xffffffff) throw new Error('unexpected IPC stream layout');
    return 8 + view.getInt32(pos + 4, true);
  };
  const schemaLength = messageAt(0);
  const batchMetaLength = messageAt(schemaLength);
  const bodyLength = stream.byteLength - 8 - schemaLength - batchMetaLength; // 8: end-of-stream marker
  const block = new FileBlock(batchMetaLength, bodyLength, 8 + schemaLength);
  const footer = Footer.encode(new Footer(schema, MetadataVersion.V5, [block], []));
  const out = new Uint8Array(8 + stream.byteLength + footer.byteLength + 10);
  out.set(FILE_MAGIC, 0);
  out.set(stream, 8);
  out.set(footer, 8 + stream.byteLength);
  new DataView(out.buffer).setInt32(out.byteLength - 10, footer.byteLength, true);
  out.set(ARROW_MAGIC, out.byteLength - 6);
  return out;
}

/**
 * Opens `bytes` as an Arrow IPC file after checking its framing (leading magic, trailing magic, a footer
 * that fits) and walking every flatbuffer Arrow JS would decode (see ipc-verify.ts). Returns the reader
 * and the number of record batches its footer lists.
 */
export function openArrowFile(
  bytes: Uint8Array,
  ctx: ErrorContext = {},
): { reader: RecordBatchFileReader; batches: number } {
  if (bytes.byteLength < 6 || !magicAt(bytes, 0)) {
    throw deltaError(ErrorCodes.DELTA_MAGIC, 'not an Arrow IPC file: missing leading "ARROW1" magic', ctx);
  }
  // smallest file: magic+pad (8) + footer length (4) + magic (6)
  if (bytes.byteLength < 18 || !magicAt(bytes, bytes.byteLength - 6)) {
    throw deltaError(
      ErrorCodes.DELTA_TRUNCATED,
      `file is truncated: no trailing "ARROW1" magic (${bytes.byteLength} bytes)`,
      ctx,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const footerLength = view.getInt32(bytes.byteLength - 10, true);
  const footerStart = bytes.byteLength - 10 - footerLength;
  if (footerLength <= 0 || footerStart < 8) {
    throw deltaError(
      ErrorCodes.DELTA_TRUNCATED,
      `file is truncated: its footer claims ${footerLength} bytes, the file has ${bytes.byteLength}`,
      ctx,
    );
  }
  let blocks: IpcBlock[];
  let reader: RecordBatchFileReader;
  try {
    blocks = verifyIpcFile(bytes, footerStart, footerLength);
  } catch (e) {
    const truncated = e instanceof IpcStructureError && e.truncated;
    const code = truncated ? ErrorCodes.DELTA_TRUNCATED : ErrorCodes.DELTA_CORRUPT;
    throw deltaError(
      code,
      `${truncated ? 'file is truncated' : 'file is corrupt'}: ${(e as Error).message}`,
      ctx,
      e,
    );
  }
  try {
    const r = RecordBatchFileReader.from(bytes);
    r.open();
    if (!r.isFile() || r.numRecordBatches !== blocks.filter((b) => !b.dictionary).length) {
      throw new Error('not read as an Arrow file');
    }
    reader = r;
  } catch (e) {
    throw deltaError(
      ErrorCodes.DELTA_CORRUPT,
      `Arrow cannot parse the file: ${(e as Error).message}`,
      ctx,
      e,
    );
  }
  // Readers that take the file as a stream after its magic see this copy of the schema: it must agree.
  let leading: Schema | null = null;
  try {
    const m = leadingSchemaMessage(bytes, footerStart);
    leading = m === null ? null : (Message.decode(m).header() as Schema);
  } catch (e) {
    throw deltaError(
      ErrorCodes.DELTA_CORRUPT,
      `the schema message is unreadable: ${(e as Error).message}`,
      ctx,
      e,
    );
  }
  if (leading === null && blocks.length > 0 && !blocks.some((b) => b.offset === 8)) {
    throw deltaError(
      ErrorCodes.DELTA_CORRUPT,
      'the file has neither a schema message nor a record batch after its magic',
      ctx,
    );
  }
  if (leading !== null && schemaSignature(leading) !== schemaSignature(reader.schema)) {
    throw deltaError(ErrorCodes.DELTA_CORRUPT, 'the schema message and the footer schema disagree', ctx);
  }
  return { reader, batches: reader.numRecordBatches };
}

/**
 * The schema metadata of an Arrow file or stream, after checking its structure (so that Arrow JS can
 * parse it without running away).
 */
export function arrowSchemaMetadata(
  bytes: Uint8Array,
  kind: ArrowKind,
  ctx: ErrorContext,
): ReadonlyMap<string, string> {
  if (kind === 'file') return openArrowFile(bytes, ctx).reader.schema.metadata;
  try {
    verifyIpcStream(bytes);
    const r = RecordBatchReader.from(bytes);
    if (!r.isSync()) throw new Error('not a synchronous reader');
    r.open();
    return r.schema.metadata;
  } catch (e) {
    const truncated = e instanceof IpcStructureError && e.truncated;
    throw deltaError(
      truncated ? ErrorCodes.DELTA_TRUNCATED : ErrorCodes.DELTA_CORRUPT,
      `${truncated ? 'stream is truncated' : 'Arrow cannot parse the stream'}: ${(e as Error).message}`,
      ctx,
      e,
    );
  }
}
