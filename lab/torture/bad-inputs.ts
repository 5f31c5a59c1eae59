/**
 * The classes of bad input Strata must refuse, each with its own error code (docs/architecture.md, "Bad
 * input is refused loudly, and alone").
 *
 * - `delta` classes are written raw into the store as if a broken or malicious producer had bypassed
 *   validation (the bytes, and a descriptor that accepts them): the compaction pipeline must quarantine
 *   each one alone, with its code, and promote everything around it.
 * - `producer` classes never become deltas: the producer-file readers refuse them at ingestion.
 *
 * Used by the torture campaign (random bad deltas among good ones) and by test/torture/bad-inputs.test.ts
 * (one test per class).
 */
import { type ErrorCode, ErrorCodes } from '../../src/core/errors.js';
import { sha256Hex } from '../../src/core/hash.js';
import type { Rng } from '../../src/core/random.js';
import type { CollectionConfig, Metric, Operation } from '../../src/core/types.js';
import {
  DELTA_FORMAT,
  DELTA_FORMAT_VERSION,
  DeltaKeys,
  parseNdjson,
  parseOpenAIBatch,
  type RawDeltaRow,
  writeRawDelta,
} from '../../src/ingest/index.js';
import type { DeltaDescriptor } from '../../src/pipeline/deltas.js';
import { writeJson } from '../../src/pipeline/json-object.js';
import { Keys } from '../../src/pipeline/layout.js';
import { allocateSequence } from '../../src/pipeline/sequence.js';
import type { ObjectStore } from '../../src/store/object-store.js';

/** What a raw bad delta consists of. */
export interface BadDeltaBytes {
  /** The stored data object; null: the descriptor names a data object that does not exist. */
  bytes: Uint8Array | null;
  /** The operation count the descriptor claims. */
  count: number;
  /** The SHA-256 the descriptor records (default: of `bytes`). */
  descriptorSha256?: string;
}

export interface BadDeltaContext {
  config: CollectionConfig;
  seqStart: number;
  rng: Rng;
}

interface BadInputBase {
  /** Stable kebab-case name (the campaign's fault counters and the README table use it). */
  name: string;
  code: ErrorCode;
  description: string;
}

export interface BadDeltaClass extends BadInputBase {
  stage: 'delta';
  /** How many sequence numbers to reserve for it. */
  rows: number;
  make(ctx: BadDeltaContext): BadDeltaBytes;
}

export interface BadProducerClass extends BadInputBase {
  stage: 'producer';
  /** Runs the producer-file reader on the bad input; must throw the class's code. */
  refuse(dimension: number): Operation[];
}

export type BadInputClass = BadDeltaClass | BadProducerClass;

// ---------------------------------------------------------------------------------------------

const UTF8 = new TextEncoder();

function randomVector(rng: Rng, dimension: number): Float32Array {
  const v = new Float32Array(dimension);
  for (let i = 0; i < dimension; i++) v[i] = rng.normal();
  return v;
}

/** A valid upsert row (ids are prefixed so they can never be confused with the workload's ids). */
function goodRow(ctx: BadDeltaContext, i: number): RawDeltaRow {
  return {
    op: 'upsert',
    id: `bad-${ctx.seqStart}-${i}`,
    seq: ctx.seqStart + i,
    embedding: randomVector(ctx.rng, ctx.config.dimension),
    document: `row ${i}`,
    documentSet: true,
    metadata: JSON.stringify({ i }),
    metadataSet: true,
  };
}

interface HeaderOverrides {
  collection?: string;
  dimension?: number;
  metric?: Metric | string;
  count?: number;
  formatVersion?: string;
  drop?: string;
  set?: Record<string, string>;
}

function header(ctx: BadDeltaContext, rows: number, o: HeaderOverrides = {}): Map<string, string> {
  const m = new Map<string, string>([
    [DeltaKeys.format, DELTA_FORMAT],
    [DeltaKeys.formatVersion, o.formatVersion ?? String(DELTA_FORMAT_VERSION)],
    [DeltaKeys.collection, o.collection ?? ctx.config.name],
    [DeltaKeys.dimension, String(o.dimension ?? ctx.config.dimension)],
    [DeltaKeys.metric, o.metric ?? ctx.config.metric],
    [DeltaKeys.producer, 'torture-bad-input'],
    [DeltaKeys.seqStart, String(ctx.seqStart)],
    [DeltaKeys.seqEnd, String(ctx.seqStart + Math.max(rows, 1) - 1)],
    [DeltaKeys.count, String(o.count ?? rows)],
    [DeltaKeys.createdAt, '2026-01-01T00:00:00.000Z'],
  ]);
  if (o.drop) m.delete(o.drop);
  for (const [k, v] of Object.entries(o.set ?? {})) m.set(k, v);
  return m;
}

/** A delta of `rows` good rows, with `mutate` applied to row `at` (default: the last one). */
function rowsDelta(
  ctx: BadDeltaContext,
  rows: number,
  mutate: (r: RawDeltaRow) => RawDeltaRow,
  o: HeaderOverrides & { dimension?: number } = {},
): BadDeltaBytes {
  const dim = o.dimension ?? ctx.config.dimension;
  const list = Array.from({ length: rows }, (_, i) => {
    const r = goodRow(ctx, i);
    if (dim !== ctx.config.dimension) r.embedding = randomVector(ctx.rng, dim);
    return i === rows - 1 ? mutate(r) : r;
  });
  const { bytes } = writeRawDelta(header(ctx, rows, o), list, dim);
  return { bytes, count: rows };
}

const same = (r: RawDeltaRow) => r;

/** The bytes of a well-formed delta of `rows` rows (for the byte-level damage classes). */
function wellFormed(ctx: BadDeltaContext, rows: number): Uint8Array {
  return rowsDelta(ctx, rows, same).bytes!;
}

// ---------------------------------------------------------------------------------------------

export const BAD_DELTA_CLASSES: readonly BadDeltaClass[] = [
  {
    stage: 'delta',
    name: 'wrong-dimension',
    code: ErrorCodes.DIMENSION_MISMATCH,
    description: 'vectors of another dimension than the collection’s',
    rows: 3,
    make: (ctx) => rowsDelta(ctx, 3, same, { dimension: ctx.config.dimension + 1 }),
  },
  {
    stage: 'delta',
    name: 'nan-in-vector',
    code: ErrorCodes.NON_FINITE,
    description: 'a NaN (or ±Infinity) component in an embedding',
    rows: 3,
    make: (ctx) =>
      rowsDelta(ctx, 3, (r) => {
        r.embedding![ctx.rng.int(ctx.config.dimension)] = ctx.rng.chance(0.5)
          ? Number.NaN
          : Number.POSITIVE_INFINITY;
        return r;
      }),
  },
  {
    stage: 'delta',
    name: 'empty-id',
    code: ErrorCodes.ID_EMPTY,
    description: 'an empty id',
    rows: 2,
    make: (ctx) => rowsDelta(ctx, 2, (r) => ({ ...r, id: '' })),
  },
  {
    stage: 'delta',
    name: 'id-too-long',
    code: ErrorCodes.ID_TOO_LONG,
    description: 'an id longer than 512 bytes of UTF-8',
    rows: 2,
    make: (ctx) => rowsDelta(ctx, 2, (r) => ({ ...r, id: 'x'.repeat(513) })),
  },
  {
    stage: 'delta',
    name: 'id-control-character',
    code: ErrorCodes.ID_CHARSET,
    description: 'an id holding a control character (or not in NFC)',
    rows: 2,
    make: (ctx) => rowsDelta(ctx, 2, (r) => ({ ...r, id: `ctl\u0001${ctx.seqStart}` })),
  },
  {
    stage: 'delta',
    name: 'id-not-utf8',
    code: ErrorCodes.ID_NOT_UTF8,
    description: 'an id whose bytes are not valid UTF-8',
    rows: 2,
    make: (ctx) => rowsDelta(ctx, 2, (r) => ({ ...r, id: new Uint8Array([0x69, 0x64, 0xff, 0xfe]) })),
  },
  {
    stage: 'delta',
    name: 'id-nfc-collision',
    code: ErrorCodes.ID_COLLISION,
    description: 'two ids that are equal after Unicode NFC normalisation (é vs e + U+0301)',
    rows: 2,
    make: (ctx) => {
      const a = goodRow(ctx, 0);
      const b = goodRow(ctx, 1);
      a.id = `caf\u00e9-${ctx.seqStart}`;
      b.id = `cafe\u0301-${ctx.seqStart}`;
      return { bytes: writeRawDelta(header(ctx, 2), [a, b], ctx.config.dimension).bytes, count: 2 };
    },
  },
  {
    stage: 'delta',
    name: 'metadata-nested-object',
    code: ErrorCodes.METADATA_TYPE,
    description: 'a metadata value that is an object (or null, or a non-finite number)',
    rows: 2,
    make: (ctx) => rowsDelta(ctx, 2, (r) => ({ ...r, metadata: '{"nested":{"a":1}}' })),
  },
  {
    stage: 'delta',
    name: 'huge-metadata-value',
    code: ErrorCodes.METADATA_TOO_LARGE,
    description: 'metadata larger than 64 KiB (one huge string value)',
    rows: 2,
    make: (ctx) =>
      rowsDelta(ctx, 2, (r) => ({ ...r, metadata: JSON.stringify({ blob: 'm'.repeat(70_000) }) })),
  },
  {
    stage: 'delta',
    name: 'huge-document',
    code: ErrorCodes.DOCUMENT_TOO_LARGE,
    description: 'a document larger than 1 MiB',
    rows: 2,
    make: (ctx) => rowsDelta(ctx, 2, (r) => ({ ...r, document: 'd'.repeat((1 << 20) + 1) })),
  },
  {
    stage: 'delta',
    name: 'upsert-without-vector',
    code: ErrorCodes.MISSING_EMBEDDING,
    description: 'an upsert with a null embedding',
    rows: 2,
    make: (ctx) => rowsDelta(ctx, 2, (r) => ({ ...r, embedding: null })),
  },
  {
    stage: 'delta',
    name: 'unknown-operation',
    code: ErrorCodes.BAD_OPERATION,
    description: 'an operation other than upsert / delete / update (or a delete that carries data)',
    rows: 2,
    make: (ctx) => rowsDelta(ctx, 2, (r) => ({ ...r, op: 'merge' })),
  },
  {
    stage: 'delta',
    name: 'document-not-utf8',
    code: ErrorCodes.BAD_RECORD,
    description: 'a document whose bytes are not valid UTF-8',
    rows: 2,
    // The raw writer stores any bytes it is given; the row type only declares strings.
    make: (ctx) =>
      rowsDelta(ctx, 2, (r) => ({ ...r, document: new Uint8Array([0x64, 0xc3, 0x28]) as unknown as string })),
  },
  {
    stage: 'delta',
    name: 'metadata-not-json',
    code: ErrorCodes.BAD_JSON,
    description: 'metadata that is not valid JSON',
    rows: 2,
    make: (ctx) => rowsDelta(ctx, 2, (r) => ({ ...r, metadata: '{"a": 1,' })),
  },
  {
    stage: 'delta',
    name: 'truncated-file',
    code: ErrorCodes.DELTA_TRUNCATED,
    description: 'an Arrow file cut short (upload interrupted, no trailing magic)',
    rows: 3,
    make: (ctx) => {
      const full = wellFormed(ctx, 3);
      const cut = 8 + ctx.rng.int(full.byteLength - 16);
      return { bytes: full.slice(0, cut), count: 3 };
    },
  },
  {
    stage: 'delta',
    name: 'bit-rot',
    code: ErrorCodes.DELTA_CHECKSUM,
    description: 'a flipped bit after acceptance (stored bytes ≠ the SHA-256 recorded when it was accepted)',
    rows: 3,
    make: (ctx) => {
      const bytes = wellFormed(ctx, 3);
      const descriptorSha256 = sha256Hex(bytes);
      const at = 8 + ctx.rng.int(bytes.byteLength - 16);
      bytes[at]! ^= 1 << ctx.rng.int(8);
      return { bytes, count: 3, descriptorSha256 };
    },
  },
  {
    stage: 'delta',
    name: 'foreign-collection',
    code: ErrorCodes.DELTA_COLLECTION,
    description: 'a delta written for another collection',
    rows: 2,
    make: (ctx) => rowsDelta(ctx, 2, same, { collection: `${ctx.config.name}-other` }),
  },
  {
    stage: 'delta',
    name: 'wrong-metric',
    code: ErrorCodes.DELTA_METRIC,
    description: 'a delta declaring another distance metric',
    rows: 2,
    make: (ctx) => rowsDelta(ctx, 2, same, { metric: ctx.config.metric === 'cos' ? 'l2sq' : 'cos' }),
  },
  {
    stage: 'delta',
    name: 'no-rows',
    code: ErrorCodes.DELTA_EMPTY,
    description: 'a well-formed delta with zero operations',
    rows: 1,
    make: (ctx) => ({ bytes: writeRawDelta(header(ctx, 0), [], ctx.config.dimension).bytes, count: 0 }),
  },
  {
    stage: 'delta',
    name: 'wrong-magic',
    code: ErrorCodes.DELTA_MAGIC,
    description: 'not an Arrow file at all (a Parquet file, JSON, random bytes)',
    rows: 1,
    make: (ctx) => {
      const body = ctx.rng.pick([
        UTF8.encode('PAR1\u0015\u0004\u0015\u0010not really parquetPAR1'),
        UTF8.encode('{"id":"a","embedding":[1,2,3]}\n'),
        Uint8Array.from({ length: 64 }, () => ctx.rng.int(256)),
      ]);
      return { bytes: body, count: 1 };
    },
  },
  {
    stage: 'delta',
    name: 'future-format-version',
    code: ErrorCodes.DELTA_VERSION,
    description: 'a delta format version newer than this build reads',
    rows: 2,
    make: (ctx) => rowsDelta(ctx, 2, same, { formatVersion: String(DELTA_FORMAT_VERSION + 1) }),
  },
  {
    stage: 'delta',
    name: 'corrupt-arrow',
    code: ErrorCodes.DELTA_CORRUPT,
    description: 'correct framing and magic around an Arrow footer that does not parse',
    rows: 2,
    make: (ctx) => {
      const bytes = wellFormed(ctx, 2);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const footerLength = view.getInt32(bytes.byteLength - 10, true);
      const footerStart = bytes.byteLength - 10 - footerLength;
      for (let i = footerStart; i < bytes.byteLength - 10; i++) bytes[i] = 0xff;
      return { bytes, count: 2 };
    },
  },
  {
    stage: 'delta',
    name: 'row-count-lies',
    code: ErrorCodes.DELTA_COUNT_MISMATCH,
    description: 'a header whose operation count differs from the rows it holds (mismatched vector count)',
    rows: 4,
    make: (ctx) => {
      const list = Array.from({ length: 3 }, (_, i) => goodRow(ctx, i));
      return { bytes: writeRawDelta(header(ctx, 4), list, ctx.config.dimension).bytes, count: 4 };
    },
  },
  {
    stage: 'delta',
    name: 'malformed-header',
    code: ErrorCodes.DELTA_HEADER,
    description: 'a header field missing or malformed (sequence range, schema, producer…)',
    rows: 2,
    make: (ctx) => rowsDelta(ctx, 2, same, { drop: DeltaKeys.producer }),
  },
  {
    stage: 'delta',
    name: 'data-object-missing',
    code: ErrorCodes.NOT_FOUND,
    description: 'a descriptor whose data object does not exist',
    rows: 1,
    make: () => ({ bytes: null, count: 1, descriptorSha256: sha256Hex('missing') }),
  },
];

export const BAD_PRODUCER_CLASSES: readonly BadProducerClass[] = [
  {
    stage: 'producer',
    name: 'conflicting-duplicate-id',
    code: ErrorCodes.DUPLICATE_ID,
    description:
      'the same id twice with the same producer sequence number (NDJSON), or twice in a batch output',
    refuse: (dimension) => {
      const v = JSON.stringify(Array.from({ length: dimension }, () => 0.5));
      return parseNdjson(
        `{"id":"a","seq":1,"embedding":${v}}\n{"id":"a","seq":1,"embedding":${v}}\n`,
        dimension,
      );
    },
  },
  {
    stage: 'producer',
    name: 'openai-failed-request',
    code: ErrorCodes.OPENAI_FAILED_REQUEST,
    description: 'an OpenAI batch output line for a request that failed',
    refuse: (dimension) =>
      parseOpenAIBatch(
        `${JSON.stringify({ custom_id: 'a', response: { status_code: 500, body: {} }, error: { message: 'boom' } })}\n`,
        null,
        dimension,
      ),
  },
  {
    stage: 'producer',
    name: 'document-without-embedding',
    code: ErrorCodes.JOIN_MISSING,
    description: 'a documents line with no embedding in the OpenAI batch output it is joined to',
    refuse: (dimension) => {
      const embedding = Array.from({ length: dimension }, () => 0.5);
      const out = {
        custom_id: 'a',
        response: { status_code: 200, body: { data: [{ index: 0, embedding }] } },
      };
      return parseOpenAIBatch(
        `${JSON.stringify(out)}\n`,
        `${JSON.stringify({ custom_id: 'b', document: 'orphan' })}\n`,
        dimension,
      );
    },
  },
];

export const BAD_INPUT_CLASSES: readonly BadInputClass[] = [...BAD_DELTA_CLASSES, ...BAD_PRODUCER_CLASSES];

export function badDeltaClass(name: string): BadDeltaClass {
  const c = BAD_DELTA_CLASSES.find((x) => x.name === name);
  if (!c) throw new RangeError(`unknown bad delta class ${name}`);
  return c;
}

/**
 * Writes a bad delta straight into the store, bypassing every check `acceptDelta` makes: a sequence
 * range by the collection's counter, the bytes, then the descriptor (the acceptance point). Returns
 * the descriptor.
 */
export async function writeBadDelta(
  store: ObjectStore,
  config: CollectionConfig,
  cls: BadDeltaClass,
  rng: Rng,
): Promise<DeltaDescriptor> {
  const seqStart = await allocateSequence(store, config.name, cls.rows);
  const made = cls.make({ config, seqStart, rng });
  const key = Keys.deltaData(config.name, seqStart);
  if (made.bytes) await store.put(key, made.bytes, { ifNoneMatch: '*' });
  const d: DeltaDescriptor = {
    collection: config.name,
    seqStart,
    seqEnd: seqStart + cls.rows - 1,
    count: made.count,
    key,
    sha256: made.descriptorSha256 ?? sha256Hex(made.bytes!),
    size: made.bytes?.byteLength ?? 0,
    producer: `torture-bad-input/${cls.name}`,
    source: cls.name,
    acceptedAt: new Date().toISOString(),
  };
  await writeJson(store, Keys.deltaDescriptor(config.name, seqStart), d, { ifNoneMatch: '*' });
  return d;
}
