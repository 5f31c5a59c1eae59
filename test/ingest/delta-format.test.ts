import { readFileSync } from 'node:fs';
import {
  RecordBatchFileReader,
  RecordBatchStreamWriter,
  tableFromArrays,
  tableFromIPC,
  tableToIPC,
} from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { DeltaFormatError, ErrorCodes, InvalidInputError, StrataError } from '../../src/core/errors.js';
import type { Operation } from '../../src/core/types.js';
import { validateOperation } from '../../src/core/validate.js';
import {
  DELTA_FORMAT,
  DELTA_FORMAT_VERSION,
  DeltaKeys,
  decodeDelta,
  encodeDelta,
  readDeltaHeader,
} from '../../src/ingest/index.js';
import { DIM, deltaMeta, expectCode, forge, goodRows, plain, upsertRow, vec } from './helpers.js';

const H = {
  collection: 'c1',
  dimension: DIM,
  metric: 'cos' as const,
  producer: 'test-producer',
  seqStart: 100,
  createdAt: '2026-01-01T00:00:00.000Z',
};
const EXPECT = { collection: 'c1', dimension: DIM, metric: 'cos' as const };
const CTX = { file: 'deltas/c1/000100.arrow', delta: 'd-100' };

const OPS: Operation[] = [
  {
    op: 'upsert',
    id: 'plain',
    embedding: vec(1, 2, 3, 4),
    document: 'a document',
    metadata: { k: 'v', n: 1.5 },
  },
  {
    op: 'upsert',
    id: 'ünïcödé-日本語-🙂',
    embedding: vec(-0, 1e-30, 3.4e38, -1),
    document: null,
    metadata: null,
  },
  {
    op: 'upsert',
    id: 'arrays',
    embedding: vec(0, 0, 0, 1),
    metadata: { tags: ['x', 'y'], nums: [1, 2, 3], ok: true },
  },
  { op: 'update', id: 'plain', document: 'new text' },
  { op: 'update', id: 'plain', metadata: { k: null, added: [true, false] } },
  { op: 'update', id: 'plain', document: null, metadata: null },
  { op: 'update', id: 'ünïcödé-日本語-🙂' },
  { op: 'delete', id: 'arrays' },
  { op: 'upsert', id: 'arrays', embedding: vec(5, 6, 7, 8), document: '', metadata: {} },
];

function encoded(ops: Operation[] = OPS) {
  return encodeDelta(H, ops);
}

/** Where `pattern` first occurs in `bytes`. */
function indexOf(bytes: Uint8Array, pattern: Uint8Array): number {
  return Buffer.from(bytes).indexOf(Buffer.from(pattern));
}

describe('encodeDelta → decodeDelta', () => {
  it('round-trips every kind of operation, in order, with seq = seqStart + i', () => {
    const { bytes, header } = encoded();
    const out = decodeDelta(bytes, EXPECT, CTX);
    expect(out.header).toEqual(header);
    expect(header).toMatchObject({
      collection: 'c1',
      dimension: DIM,
      metric: 'cos',
      producer: 'test-producer',
      seqStart: 100,
      seqEnd: 100 + OPS.length - 1,
      count: OPS.length,
      createdAt: H.createdAt,
      formatVersion: 1,
    });
    expect(header.contentSha256).toMatch(/^[0-9a-f]{64}$/);
    const want = OPS.map((o, i) => ({ ...validateOperation(o, DIM), seq: 100 + i }));
    expect(plain(out.ops)).toEqual(plain(want));
  });

  it('keeps "unchanged" apart from "cleared" in updates', () => {
    const { ops } = decodeDelta(encoded().bytes);
    expect(ops[3]).toEqual({ op: 'update', id: 'plain', document: 'new text', seq: 103 });
    expect('metadata' in ops[3]!).toBe(false);
    expect(ops[4]).toEqual({
      op: 'update',
      id: 'plain',
      metadata: { k: null, added: [true, false] },
      seq: 104,
    });
    expect('document' in ops[4]!).toBe(false);
    expect(ops[5]).toEqual({ op: 'update', id: 'plain', document: null, metadata: null, seq: 105 });
    expect(ops[6]).toEqual({ op: 'update', id: 'ünïcödé-日本語-🙂', seq: 106 });
    expect(ops[7]).toEqual({ op: 'delete', id: 'arrays', seq: 107 });
  });

  it('is deterministic: same input, same bytes', () => {
    expect(Buffer.from(encoded().bytes).equals(Buffer.from(encoded().bytes))).toBe(true);
  });

  it('decoded embeddings do not alias the file bytes', () => {
    const { bytes } = encoded();
    const { ops } = decodeDelta(bytes);
    const first = ops[0] as { embedding: Float32Array };
    bytes.fill(0);
    expect(Array.from(first.embedding)).toEqual([1, 2, 3, 4]);
  });

  it('readDeltaHeader reads only the header', () => {
    const { bytes, header } = encoded();
    expect(readDeltaHeader(bytes)).toEqual(header);
  });
});

describe('the bytes are a plain Arrow IPC file', () => {
  it('apache-arrow reads it, schema metadata included', () => {
    const { bytes, header } = encoded();
    const t = tableFromIPC(bytes);
    expect(t.numRows).toBe(OPS.length);
    expect(t.schema.fields.map((f) => f.name)).toEqual([
      'op',
      'id',
      'seq',
      'embedding',
      'document',
      'document_set',
      'metadata',
      'metadata_set',
    ]);
    expect(String(t.schema.fields[3]!.type)).toBe(`FixedSizeList[${DIM}]<Float32>`);
    const m = t.schema.metadata;
    expect(m.get(DeltaKeys.format)).toBe(DELTA_FORMAT);
    expect(m.get(DeltaKeys.formatVersion)).toBe(String(DELTA_FORMAT_VERSION));
    expect(m.get(DeltaKeys.collection)).toBe('c1');
    expect(m.get(DeltaKeys.dimension)).toBe(String(DIM));
    expect(m.get(DeltaKeys.metric)).toBe('cos');
    expect(m.get(DeltaKeys.producer)).toBe('test-producer');
    expect(m.get(DeltaKeys.seqStart)).toBe('100');
    expect(m.get(DeltaKeys.seqEnd)).toBe(String(header.seqEnd));
    expect(m.get(DeltaKeys.count)).toBe(String(OPS.length));
    expect(m.get(DeltaKeys.createdAt)).toBe(H.createdAt);
    expect(m.get(DeltaKeys.contentSha256)).toBe(header.contentSha256);
    expect(t.getChild('id')!.get(1)).toBe('ünïcödé-日本語-🙂');
    expect(t.getChild('seq')!.get(2)).toBe(102n);
    expect(t.getChild('embedding')!.get(3)).toBeNull();
    expect(t.getChild('metadata')!.get(2)).toBe('{"nums":[1,2,3],"ok":true,"tags":["x","y"]}');
    expect(t.getChild('document_set')!.get(4)).toBe(false);
  });

  it('starts with the schema message, as the file format specifies (readers that stream it need that)', () => {
    const { bytes } = encoded();
    const asStream = tableFromIPC(bytes.subarray(8));
    expect(asStream.numRows).toBe(OPS.length);
    expect(asStream.schema.metadata.get(DeltaKeys.format)).toBe(DELTA_FORMAT);
  });

  it('reads a delta written by pyarrow from the format description alone (fixture)', () => {
    const bytes = readFileSync(new URL('./fixtures/pyarrow-delta.arrow', import.meta.url));
    const { header, ops } = decodeDelta(bytes, { collection: 'py-coll', dimension: 3, metric: 'l2sq' });
    expect(header).toMatchObject({ producer: 'pyarrow-fixture', seqStart: 100, seqEnd: 102, count: 3 });
    expect(plain(ops)).toEqual(
      plain([
        {
          op: 'upsert',
          id: 'p1',
          embedding: vec(0.25, -1, 2),
          document: 'hello',
          metadata: { a: 1 },
          seq: 100,
        },
        { op: 'update', id: 'p1', metadata: { a: null }, seq: 101 },
        { op: 'delete', id: 'p2', seq: 102 },
      ]),
    );
  });
});

describe('decodeDelta refuses bad deltas with their own code and context', () => {
  it('E_DELTA_MAGIC: the leading magic is overwritten', () => {
    const b = encoded().bytes.slice();
    b.set([0x50, 0x4b, 0x03, 0x04], 0); // a zip header
    const e = expectCode(() => decodeDelta(b, EXPECT, CTX), ErrorCodes.DELTA_MAGIC, CTX);
    expect(e).toBeInstanceOf(DeltaFormatError);
  });

  it('E_DELTA_MAGIC: an Arrow stream, or nothing at all, is not a delta file', () => {
    const stream = RecordBatchStreamWriter.writeAll(tableFromIPC(encoded().bytes)).toUint8Array(true);
    expectCode(() => decodeDelta(stream, EXPECT, CTX), ErrorCodes.DELTA_MAGIC, CTX);
    expectCode(() => decodeDelta(new Uint8Array(0), EXPECT, CTX), ErrorCodes.DELTA_MAGIC, CTX);
  });

  it('E_DELTA_TRUNCATED: cut anywhere, including inside the trailing magic', () => {
    const b = encoded().bytes;
    for (const keep of [8, 100, Math.floor(b.length / 2), b.length - 11, b.length - 1]) {
      expectCode(() => decodeDelta(b.subarray(0, keep), EXPECT, CTX), ErrorCodes.DELTA_TRUNCATED, CTX);
    }
  });

  it('E_DELTA_TRUNCATED: the middle is missing but the footer is intact (shorter than the footer says)', () => {
    const b = encoded().bytes;
    const footerLength = new DataView(b.buffer, b.byteOffset).getInt32(b.length - 10, true);
    const tail = b.subarray(b.length - 10 - footerLength);
    const cut = new Uint8Array(200 + tail.length);
    cut.set(b.subarray(0, 200), 0);
    cut.set(tail, 200);
    expectCode(() => decodeDelta(cut, EXPECT, CTX), ErrorCodes.DELTA_TRUNCATED, CTX);
    const lying = b.slice();
    new DataView(lying.buffer).setInt32(lying.length - 10, lying.length, true); // footer longer than the file
    expectCode(() => decodeDelta(lying, EXPECT, CTX), ErrorCodes.DELTA_TRUNCATED, CTX);
  });

  it('E_DELTA_CORRUPT: the footer is garbage', () => {
    const b = encoded().bytes.slice();
    const footerLength = new DataView(b.buffer).getInt32(b.length - 10, true);
    b.fill(0xee, b.length - 10 - footerLength, b.length - 10);
    expectCode(() => decodeDelta(b, EXPECT, CTX), ErrorCodes.DELTA_CORRUPT, CTX);
  });

  it('E_DELTA_CORRUPT: a record batch flatbuffer claims a vector of billions of entries', () => {
    const b = encoded().bytes.slice();
    // The footer's record batch block points at the batch message; its metadata starts 8 bytes later.
    const r = RecordBatchFileReader.from(b);
    r.open();
    const block = [...r.footer!.recordBatches()][0]!;
    const meta = Number(block.offset) + 8;
    const end = Number(block.offset) + block.metaDataLength;
    let hit = false;
    // Find the first u32 that holds the node count (OPS has 8 columns + 1 child = 9 field nodes).
    const view = new DataView(b.buffer);
    for (let p = meta; p < end - 4 && !hit; p += 4) {
      if (view.getUint32(p, true) === 9) {
        view.setUint32(p, 0x7fffffff, true);
        hit = true;
      }
    }
    expect(hit).toBe(true);
    expectCode(() => decodeDelta(b, EXPECT, CTX), ErrorCodes.DELTA_CORRUPT, CTX);
  });

  it('E_DELTA_CHECKSUM: one flipped bit in an embedding, which Arrow still parses', () => {
    const ops: Operation[] = [{ op: 'upsert', id: 'x', embedding: vec(1234.5, 2, 3, 4) }];
    const b = encodeDelta(H, ops).bytes.slice();
    const at = indexOf(b, new Uint8Array(vec(1234.5).buffer));
    expect(at).toBeGreaterThan(0);
    b[at]! ^= 0x01;
    expect(tableFromIPC(b).numRows).toBe(1); // Arrow has no complaint
    const e = expectCode(() => decodeDelta(b, EXPECT, CTX), ErrorCodes.DELTA_CHECKSUM, CTX);
    expect(e.context.expected).not.toBe(e.context.actual);
  });

  it('E_DELTA_CHECKSUM: one flipped bit in a document, an id, a metadata value', () => {
    const ops: Operation[] = [
      {
        op: 'upsert',
        id: 'id-QQQQ',
        embedding: vec(1, 2, 3, 4),
        document: 'doc-WWWW',
        metadata: { k: 'ZZZZ' },
      },
    ];
    for (const needle of ['QQQQ', 'WWWW', 'ZZZZ']) {
      const b = encodeDelta(H, ops).bytes.slice();
      const at = Buffer.from(b).lastIndexOf(Buffer.from(needle));
      b[at]! ^= 0x02;
      expectCode(() => decodeDelta(b, EXPECT, CTX), ErrorCodes.DELTA_CHECKSUM, CTX);
    }
  });

  it('E_DELTA_CHECKSUM: the stored hash does not match', () => {
    const b = forge({ [DeltaKeys.contentSha256]: '0'.repeat(64) });
    expectCode(() => decodeDelta(b, EXPECT, CTX), ErrorCodes.DELTA_CHECKSUM, CTX);
  });

  it('every single-bit flip anywhere in the file is refused with a code, or changes nothing decoded', () => {
    // an upsert with document and metadata, two updates, a delete: every column and flag in use
    const { bytes } = encodeDelta(H, [OPS[0]!, OPS[4]!, OPS[5]!, OPS[7]!]);
    const ref = JSON.stringify(plain(decodeDelta(bytes, EXPECT).ops));
    const codes = new Set<string>();
    for (let pos = 0; pos < bytes.length; pos++) {
      const bit = pos % 8; // one bit per byte, a different one at each position
      const b = bytes.slice();
      b[pos]! ^= 1 << bit;
      try {
        const out = decodeDelta(b, EXPECT, CTX);
        expect(JSON.stringify(plain(out.ops)), `flip at ${pos}:${bit} changed the operations`).toBe(ref);
      } catch (e) {
        if (!(e instanceof StrataError)) throw new Error(`flip at ${pos}:${bit} threw ${e}`);
        expect(e.code).not.toBe(ErrorCodes.INTERNAL);
        expect(e.context.file).toBe(CTX.file);
        codes.add(e.code);
      }
    }
    expect(codes).toContain(ErrorCodes.DELTA_CHECKSUM);
    expect(codes).toContain(ErrorCodes.DELTA_CORRUPT);
  });

  it('E_DELTA_HEADER: an Arrow file that is not a Strata delta', () => {
    const plainTable = tableToIPC(tableFromArrays({ id: ['a'], x: Float32Array.of(1) }), 'file');
    const e = expectCode(() => decodeDelta(plainTable, EXPECT, CTX), ErrorCodes.DELTA_HEADER, CTX);
    expect(e.message).toMatch(/not a Strata delta/);
    expectCode(
      () => decodeDelta(forge({ [DeltaKeys.format]: undefined }), EXPECT, CTX),
      ErrorCodes.DELTA_HEADER,
    );
    expectCode(
      () => decodeDelta(forge({ [DeltaKeys.format]: 'strata.segment' }), EXPECT, CTX),
      ErrorCodes.DELTA_HEADER,
    );
  });

  it('E_DELTA_HEADER: bad or missing header fields', () => {
    const bad: Record<string, string | undefined>[] = [
      { [DeltaKeys.formatVersion]: 'one' },
      { [DeltaKeys.formatVersion]: '0' },
      { [DeltaKeys.collection]: '../escape' },
      { [DeltaKeys.collection]: undefined },
      { [DeltaKeys.dimension]: 'four' },
      { [DeltaKeys.dimension]: '0' },
      { [DeltaKeys.metric]: 'hamming' },
      { [DeltaKeys.producer]: undefined },
      { [DeltaKeys.seqStart]: '-1' },
      { [DeltaKeys.seqEnd]: '9' },
      { [DeltaKeys.count]: '3.0' },
      { [DeltaKeys.createdAt]: 'yesterday' },
      { [DeltaKeys.contentSha256]: 'abc' },
    ];
    for (const over of bad) {
      expectCode(() => decodeDelta(forge(over), EXPECT, CTX), ErrorCodes.DELTA_HEADER, CTX);
    }
  });

  it('E_DELTA_HEADER: the embedding column disagrees with strata.dimension', () => {
    const b = forge({ [DeltaKeys.dimension]: '3' });
    expectCode(() => decodeDelta(b, EXPECT, CTX), ErrorCodes.DELTA_HEADER, CTX);
  });

  it('E_DELTA_HEADER: seq not strictly increasing, or outside [seq_start, seq_end]', () => {
    const dup = [upsertRow('a', 10), upsertRow('b', 11), upsertRow('c', 11)];
    expectCode(() => decodeDelta(forge({}, dup), EXPECT, CTX), ErrorCodes.DELTA_HEADER, { ...CTX, row: 2 });
    const back = [upsertRow('a', 11), upsertRow('b', 10), upsertRow('c', 12)];
    expectCode(() => decodeDelta(forge({}, back), EXPECT, CTX), ErrorCodes.DELTA_HEADER, { ...CTX, row: 1 });
    const below = [upsertRow('a', 9), upsertRow('b', 11), upsertRow('c', 12)];
    expectCode(() => decodeDelta(forge({}, below), EXPECT, CTX), ErrorCodes.DELTA_HEADER, { ...CTX, row: 0 });
    const above = [upsertRow('a', 10), upsertRow('b', 11), upsertRow('c', 13)];
    expectCode(() => decodeDelta(forge({}, above), EXPECT, CTX), ErrorCodes.DELTA_HEADER, { ...CTX, row: 2 });
  });

  it('E_DELTA_VERSION: a newer format version', () => {
    const b = forge({ [DeltaKeys.formatVersion]: '2' });
    const e = expectCode(() => decodeDelta(b, EXPECT, CTX), ErrorCodes.DELTA_VERSION, CTX);
    expect(e.message).toMatch(/version 2/);
  });

  it('E_DELTA_COLLECTION / E_DELTA_METRIC / E_DIMENSION_MISMATCH: not the expected collection', () => {
    const { bytes } = encoded();
    expectCode(
      () => decodeDelta(bytes, { ...EXPECT, collection: 'other' }, CTX),
      ErrorCodes.DELTA_COLLECTION,
      CTX,
    );
    expectCode(() => decodeDelta(bytes, { ...EXPECT, metric: 'l2sq' }, CTX), ErrorCodes.DELTA_METRIC, CTX);
    expectCode(
      () => decodeDelta(bytes, { ...EXPECT, dimension: 8 }, CTX),
      ErrorCodes.DIMENSION_MISMATCH,
      CTX,
    );
    expect(decodeDelta(bytes).ops).toHaveLength(OPS.length); // without an expectation, it reads
  });

  it('E_DELTA_EMPTY: zero rows (and encodeDelta refuses to write one)', () => {
    const b = forge({ [DeltaKeys.count]: '0', [DeltaKeys.seqEnd]: '10' }, []);
    expectCode(() => decodeDelta(b, EXPECT, CTX), ErrorCodes.DELTA_EMPTY, CTX);
    expectCode(() => encodeDelta(H, []), ErrorCodes.DELTA_EMPTY);
  });

  it('E_DELTA_COUNT_MISMATCH: strata.count disagrees with the rows', () => {
    const b = forge({ [DeltaKeys.count]: '4' });
    const e = expectCode(() => decodeDelta(b, EXPECT, CTX), ErrorCodes.DELTA_COUNT_MISMATCH, CTX);
    expect(e.message).toMatch(/3 rows.*says 4/);
  });

  it('E_NON_FINITE: NaN or Infinity in an embedding, naming the row and id', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const rows = goodRows();
      rows[1] = upsertRow('b', 11, { embedding: vec(1, bad, 3, 4) });
      const e = expectCode(() => decodeDelta(forge({}, rows), EXPECT, CTX), ErrorCodes.NON_FINITE, {
        ...CTX,
        row: 1,
        id: 'b',
      });
      expect(e).toBeInstanceOf(InvalidInputError);
    }
  });

  it('E_ID_EMPTY / E_ID_TOO_LONG / E_ID_CHARSET / E_ID_NOT_UTF8', () => {
    const cases: [string | Uint8Array, string][] = [
      ['', ErrorCodes.ID_EMPTY],
      ['x'.repeat(513), ErrorCodes.ID_TOO_LONG],
      ['tab\there', ErrorCodes.ID_CHARSET],
      ['e\u0301', ErrorCodes.ID_CHARSET], // not NFC
      [Uint8Array.of(0x61, 0xff, 0x62), ErrorCodes.ID_NOT_UTF8],
      [Uint8Array.of(0xed, 0xa0, 0x80), ErrorCodes.ID_NOT_UTF8], // an encoded lone surrogate
    ];
    for (const [id, code] of cases) {
      const rows = goodRows();
      rows[2] = upsertRow(id, 12);
      expectCode(() => decodeDelta(forge({}, rows), EXPECT, CTX), code as never, { ...CTX, row: 2 });
    }
  });

  it('E_ID_COLLISION: two ids equal after NFC normalisation but different bytes', () => {
    const rows = [upsertRow('caf\u00e9', 10), upsertRow('b', 11), upsertRow('cafe\u0301', 12)];
    const e = expectCode(() => decodeDelta(forge({}, rows), EXPECT, CTX), ErrorCodes.ID_COLLISION, {
      ...CTX,
      row: 2,
      otherRow: 0,
    });
    expect(e.message).toMatch(/NFC/);
  });

  it('the same id twice (same bytes) is an ordinary sequence of operations', () => {
    const rows = [upsertRow('a', 10), upsertRow('a', 11, { embedding: vec(4, 3, 2, 1) }), upsertRow('a', 12)];
    expect(decodeDelta(forge({}, rows), EXPECT).ops.map((o) => o.id)).toEqual(['a', 'a', 'a']);
  });

  it('E_METADATA_TYPE / E_METADATA_TOO_LARGE / E_BAD_JSON in metadata', () => {
    const many = JSON.stringify(Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i])));
    const cases: [string, string][] = [
      ['{"nested":{"no":1}}', ErrorCodes.METADATA_TYPE],
      ['[1,2]', ErrorCodes.METADATA_TYPE],
      ['{"n":null}', ErrorCodes.METADATA_TYPE], // null only removes keys in an update
      [many, ErrorCodes.METADATA_TOO_LARGE],
      ['{"k": tru', ErrorCodes.BAD_JSON],
    ];
    for (const [metadata, code] of cases) {
      const rows = goodRows();
      rows[1] = upsertRow('b', 11, { metadata });
      expectCode(() => decodeDelta(forge({}, rows), EXPECT, CTX), code as never, { ...CTX, row: 1, id: 'b' });
    }
  });

  it('E_BAD_OPERATION / E_MISSING_EMBEDDING: rows that are not a well-formed operation', () => {
    const cases: [Partial<Parameters<typeof upsertRow>[2]>, string][] = [
      [{ op: 'merge' }, ErrorCodes.BAD_OPERATION],
      [{ embedding: null }, ErrorCodes.MISSING_EMBEDDING],
      [{ op: 'delete' }, ErrorCodes.BAD_OPERATION], // a delete with an embedding
      [{ op: 'update' }, ErrorCodes.BAD_OPERATION], // an update with an embedding
      [{ documentSet: false }, ErrorCodes.BAD_OPERATION], // an upsert must set the document
      [{ op: 'update', embedding: null, document: 'x', documentSet: false }, ErrorCodes.BAD_OPERATION],
    ];
    for (const [over, code] of cases) {
      const rows = goodRows();
      rows[0] = upsertRow('a', 10, over);
      expectCode(() => decodeDelta(forge({}, rows), EXPECT, CTX), code as never, { ...CTX, row: 0 });
    }
  });
});

describe('encodeDelta refuses what decodeDelta would refuse', () => {
  it('validates every operation, naming its row', () => {
    const bad: Operation[] = [OPS[0]!, { op: 'upsert', id: 'nan', embedding: vec(1, Number.NaN, 3, 4) }];
    expectCode(() => encodeDelta(H, bad), ErrorCodes.NON_FINITE, { collection: 'c1', row: 1, id: 'nan' });
    expectCode(
      () => encodeDelta(H, [{ op: 'upsert', id: 'short', embedding: vec(1, 2) }]),
      ErrorCodes.DIMENSION_MISMATCH,
    );
  });

  it('refuses a document that UTF-8 cannot hold unchanged (lone surrogate)', () => {
    const ops: Operation[] = [{ op: 'upsert', id: 'x', embedding: vec(1, 2, 3, 4), document: 'bad \ud800' }];
    expectCode(() => encodeDelta(H, ops), ErrorCodes.BAD_RECORD, { row: 0, id: 'x' });
  });

  it('refuses a bad header', () => {
    expectCode(() => encodeDelta({ ...H, collection: 'no/slash' }, OPS), ErrorCodes.DELTA_HEADER);
    expectCode(() => encodeDelta({ ...H, dimension: 0 }, OPS), ErrorCodes.DELTA_HEADER);
    expectCode(() => encodeDelta({ ...H, metric: 'dot' as never }, OPS), ErrorCodes.DELTA_HEADER);
    expectCode(() => encodeDelta({ ...H, seqStart: -1 }, OPS), ErrorCodes.DELTA_HEADER);
    expectCode(() => encodeDelta({ ...H, seqStart: Number.MAX_SAFE_INTEGER }, OPS), ErrorCodes.DELTA_HEADER);
  });

  it('forged metadata helper writes what it is told (sanity check of the test helper)', () => {
    expect(decodeDelta(forge(), EXPECT).header.count).toBe(3);
    expect(deltaMeta().get(DeltaKeys.count)).toBe('3');
  });
});
