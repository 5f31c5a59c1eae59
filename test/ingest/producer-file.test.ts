import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Field,
  FixedSizeList,
  Float32,
  Float64,
  List,
  makeData,
  makeVector,
  RecordBatchStreamWriter,
  Table,
  tableToIPC,
  Utf8,
  vectorFromArray,
} from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/core/errors.js';
import type { UpsertOp } from '../../src/core/types.js';
import {
  detectProducerFormat,
  encodeDelta,
  parseArrowProducerFile,
  parseNdjson,
  parseOpenAIBatch,
  readProducerFile,
} from '../../src/ingest/index.js';
import { expectCode, expectCodeAsync, plain, vec } from './helpers.js';

const CTX = { file: 'in/batch.jsonl' };

const ndjson = (...objs: unknown[]) =>
  objs.map((o) => (typeof o === 'string' ? o : JSON.stringify(o))).join('\n');

describe('parseNdjson', () => {
  it('reads upserts, deletes and updates in line order, skipping blank lines', () => {
    const text = ndjson(
      { id: 'a', embedding: [1, 2, 3], document: 'doc a', metadata: { k: 'v', tags: ['x'] } },
      '',
      '   ',
      { id: 'b', embedding: [4, 5, 6] },
      { op: 'update', id: 'a', metadata: { k: null } },
      { op: 'update', id: 'b', document: null },
      { op: 'delete', id: 'a' },
    );
    expect(plain(parseNdjson(`\uFEFF${text}\r\n`, 3, CTX))).toEqual(
      plain([
        {
          op: 'upsert',
          id: 'a',
          embedding: vec(1, 2, 3),
          document: 'doc a',
          metadata: { k: 'v', tags: ['x'] },
        },
        { op: 'upsert', id: 'b', embedding: vec(4, 5, 6), document: null, metadata: null },
        { op: 'update', id: 'a', metadata: { k: null } },
        { op: 'update', id: 'b', document: null },
        { op: 'delete', id: 'a' },
      ]),
    );
  });

  it('orders by seq when every line has one (stable), and refuses a half-given seq', () => {
    const text = ndjson(
      { id: 'x', embedding: [1, 1, 1], seq: 5 },
      { op: 'delete', id: 'x', seq: 2 },
      { id: 'y', embedding: [2, 2, 2], seq: 2 },
      { op: 'update', id: 'x', document: 'late', seq: 9 },
    );
    expect(parseNdjson(text, 3).map((o) => `${o.op}:${o.id}`)).toEqual([
      'delete:x',
      'upsert:y',
      'upsert:x',
      'update:x',
    ]);
    const half = ndjson({ id: 'x', embedding: [1, 1, 1], seq: 5 }, { id: 'y', embedding: [1, 1, 1] });
    expectCode(() => parseNdjson(half, 3, CTX), ErrorCodes.BAD_RECORD, { ...CTX, line: 2 });
    expectCode(
      () => parseNdjson(ndjson({ id: 'x', embedding: [1, 1, 1], seq: 1.5 }), 3),
      ErrorCodes.BAD_RECORD,
      {
        line: 1,
      },
    );
  });

  it('E_DUPLICATE_ID: the same id twice with the same seq (conflicting sequence numbers)', () => {
    const text = ndjson(
      { id: 'x', embedding: [1, 1, 1], seq: 1 },
      { id: 'y', embedding: [1, 1, 1], seq: 1 },
      { op: 'delete', id: 'x', seq: 1 },
    );
    const e = expectCode(() => parseNdjson(text, 3, CTX), ErrorCodes.DUPLICATE_ID, {
      ...CTX,
      line: 3,
      id: 'x',
    });
    expect(e.message).toMatch(/conflicting sequence numbers/);
    expect(e.context.first).toEqual({ line: 1 });
  });

  it('E_BAD_JSON with the line number', () => {
    const text = ndjson({ id: 'a', embedding: [1, 2, 3] }, '', '{"id": "b", "embedding": [1,2,', '{}');
    expectCode(() => parseNdjson(text, 3, CTX), ErrorCodes.BAD_JSON, { ...CTX, line: 3 });
  });

  it('refuses bad rows with their own codes and line numbers', () => {
    const cases: [unknown, string][] = [
      [{ id: 'a', embedding: [1, 2] }, ErrorCodes.DIMENSION_MISMATCH],
      [{ id: 'a', embedding: [1, 'NaN', 3] }, ErrorCodes.NON_FINITE],
      [{ id: 'a', embedding: [1, 1e39, 3] }, ErrorCodes.NON_FINITE], // overflows float32
      [{ id: '', embedding: [1, 2, 3] }, ErrorCodes.ID_EMPTY],
      [{ id: 'a' }, ErrorCodes.MISSING_EMBEDDING],
      [{ id: 'a', embedding: [1, 2, 3], metadata: { deep: { x: 1 } } }, ErrorCodes.METADATA_TYPE],
      [{ id: 'a', embedding: [1, 2, 3], metdata: {} }, ErrorCodes.BAD_RECORD], // a typo is not ignored
      [{ op: 'upsertt', id: 'a', embedding: [1, 2, 3] }, ErrorCodes.BAD_OPERATION],
      [{ op: 'update', id: 'a', embedding: [1, 2, 3] }, ErrorCodes.BAD_OPERATION],
      [{ op: 'delete', id: 'a', document: 'why' }, ErrorCodes.BAD_OPERATION],
      [{ id: 'a', embedding: [1, 2, 3], document: 'lone \ud800' }, ErrorCodes.BAD_RECORD],
      ['[1,2,3]', ErrorCodes.BAD_RECORD],
    ];
    for (const [row, code] of cases) {
      const text = ndjson({ id: 'ok', embedding: [0, 0, 0] }, row);
      expectCode(() => parseNdjson(text, 3, CTX), code as never, { ...CTX, line: 2 });
    }
  });
});

// ---------------------------------------------------------------------------------------------

function openaiLine(customId: string, embeddings: (number[] | string)[], over: Record<string, unknown> = {}) {
  return {
    id: `batch_req_${customId}`,
    custom_id: customId,
    response: {
      status_code: 200,
      request_id: 'req_1',
      body: {
        object: 'list',
        data: embeddings.map((embedding, index) => ({ object: 'embedding', index, embedding })),
        model: 'text-embedding-3-small',
        usage: { prompt_tokens: 3, total_tokens: 3 },
      },
    },
    error: null,
    ...over,
  };
}

const b64 = (xs: number[]) => Buffer.from(Float32Array.from(xs).buffer).toString('base64');

describe('parseOpenAIBatch', () => {
  it('turns output lines into upserts; several inputs per request become custom_id#index', () => {
    const out = ndjson(openaiLine('doc-1', [[1, 2, 3]]), openaiLine('doc-2', [[4, 5, 6], b64([7, 8, 9])]));
    expect(plain(parseOpenAIBatch(out, null, 3, CTX))).toEqual(
      plain([
        { op: 'upsert', id: 'doc-1', embedding: vec(1, 2, 3), document: null, metadata: null },
        { op: 'upsert', id: 'doc-2#0', embedding: vec(4, 5, 6), document: null, metadata: null },
        { op: 'upsert', id: 'doc-2#1', embedding: vec(7, 8, 9), document: null, metadata: null },
      ]),
    );
  });

  it('decodes base64 embeddings as little-endian float32, bit for bit', () => {
    const xs = [0.1, -2.5e-8, 3.4028234663852886e38];
    const [o] = parseOpenAIBatch(ndjson(openaiLine('a', [b64(xs)])), null, 3) as UpsertOp[];
    expect(Array.from(o!.embedding)).toEqual(Array.from(Float32Array.from(xs)));
    expectCode(
      () => parseOpenAIBatch(ndjson(openaiLine('a', ['not base64!'])), null, 3, CTX),
      ErrorCodes.BAD_RECORD,
      {
        ...CTX,
        line: 1,
        id: 'a',
      },
    );
    const odd = Buffer.from([1, 2, 3, 4, 5, 6]).toString('base64'); // 6 bytes: not whole float32s
    expectCode(() => parseOpenAIBatch(ndjson(openaiLine('a', [odd])), null, 3), ErrorCodes.BAD_RECORD);
    expectCode(
      () => parseOpenAIBatch(ndjson(openaiLine('a', [b64([1, 2])])), null, 3),
      ErrorCodes.DIMENSION_MISMATCH,
    );
  });

  it('joins a documents file on custom_id (or id, or custom_id#index)', () => {
    const out = ndjson(
      openaiLine('doc-1', [[1, 2, 3]]),
      openaiLine('doc-2', [
        [4, 5, 6],
        [7, 8, 9],
      ]),
    );
    const docs = ndjson(
      { custom_id: 'doc-1', document: 'first', metadata: { source: 'a.txt' } },
      { id: 'doc-2#1', document: 'third' },
    );
    const ops = parseOpenAIBatch(out, docs, 3, CTX) as UpsertOp[];
    expect(ops.map((o) => [o.id, o.document, o.metadata])).toEqual([
      ['doc-1', 'first', { source: 'a.txt' }],
      ['doc-2#0', null, null],
      ['doc-2#1', 'third', null],
    ]);
  });

  it('E_JOIN_MISSING: a document line without a matching embedding', () => {
    const out = ndjson(openaiLine('doc-1', [[1, 2, 3]]));
    const docs = ndjson({ custom_id: 'doc-1', document: 'ok' }, { custom_id: 'doc-9', document: 'orphan' });
    expectCode(() => parseOpenAIBatch(out, docs, 3, CTX), ErrorCodes.JOIN_MISSING, {
      ...CTX,
      documentsLine: 2,
      id: 'doc-9',
    });
    const twice = ndjson({ custom_id: 'doc-1', document: 'a' }, { custom_id: 'doc-1', document: 'b' });
    expectCode(() => parseOpenAIBatch(out, twice, 3, CTX), ErrorCodes.DUPLICATE_ID, { documentsLine: 2 });
    const badMeta = ndjson({ custom_id: 'doc-1', metadata: { x: { y: 1 } } });
    expectCode(() => parseOpenAIBatch(out, badMeta, 3, CTX), ErrorCodes.METADATA_TYPE, {
      line: 1,
      documentsLine: 1,
      id: 'doc-1',
    });
  });

  it('E_OPENAI_FAILED_REQUEST: a line with an error, or a non-200 status', () => {
    const failed = ndjson(openaiLine('ok', [[1, 2, 3]]), {
      id: 'batch_req_2',
      custom_id: 'bad',
      response: null,
      error: { code: 'server_error', message: 'boom' },
    });
    const e = expectCode(() => parseOpenAIBatch(failed, null, 3, CTX), ErrorCodes.OPENAI_FAILED_REQUEST, {
      ...CTX,
      line: 2,
      id: 'bad',
    });
    expect(e.message).toMatch(/boom/);
    const status = ndjson(
      openaiLine('bad', [], {
        response: { status_code: 429, body: { error: { message: 'Rate limit reached' } } },
      }),
    );
    const e2 = expectCode(() => parseOpenAIBatch(status, null, 3, CTX), ErrorCodes.OPENAI_FAILED_REQUEST, {
      line: 1,
    });
    expect(e2.message).toMatch(/429.*Rate limit/);
  });

  it('refuses duplicate custom_ids, bad JSON and lines without data', () => {
    const dup = ndjson(openaiLine('a', [[1, 2, 3]]), openaiLine('a', [[1, 2, 3]]));
    expectCode(() => parseOpenAIBatch(dup, null, 3, CTX), ErrorCodes.DUPLICATE_ID, { line: 2, id: 'a' });
    expectCode(() => parseOpenAIBatch('{"custom_id":', null, 3, CTX), ErrorCodes.BAD_JSON, {
      ...CTX,
      line: 1,
    });
    expectCode(() => parseOpenAIBatch(ndjson(openaiLine('a', [])), null, 3, CTX), ErrorCodes.BAD_RECORD, {
      line: 1,
    });
    expectCode(() => parseOpenAIBatch(ndjson(openaiLine('', [[1, 2, 3]])), null, 3), ErrorCodes.ID_EMPTY);
  });
});

// ---------------------------------------------------------------------------------------------

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);

describe('parseArrowProducerFile', () => {
  it('reads a pyarrow file: list<double> embeddings, JSON metadata, op and seq columns (fixture)', () => {
    const ops = parseArrowProducerFile(readFileSync(fixture('producer-list-f64.arrow')), 3, CTX);
    expect(plain(ops)).toEqual(
      plain([
        { op: 'upsert', id: 'a', embedding: vec(1, 2, 3), document: 'doc a', metadata: null },
        {
          op: 'upsert',
          id: 'b',
          embedding: vec(0.5, 1.5, 2.5),
          document: 'doc b',
          metadata: { k: 1, tags: ['x', 'y'] },
        },
        { op: 'delete', id: 'c' },
        { op: 'update', id: 'a', metadata: { k: null } },
      ]),
    );
  });

  it('reads a pyarrow stream: large_string ids, fixed_size_list<float> embeddings (fixture)', () => {
    const ops = parseArrowProducerFile(readFileSync(fixture('producer-fixed-f32.arrows')), 3);
    expect(plain(ops)).toEqual(
      plain([
        { op: 'upsert', id: 'x', embedding: vec(1, 2, 3), document: null, metadata: null },
        { op: 'upsert', id: 'y', embedding: vec(4, 5, 6), document: null, metadata: null },
      ]),
    );
  });

  it('reads files written by Arrow JS (no schema message after the magic), file and stream', () => {
    const emb = makeVector(
      makeData({
        type: new FixedSizeList(2, new Field('item', new Float32(), false)),
        length: 2,
        nullCount: 0,
        child: makeData({ type: new Float32(), length: 4, data: Float32Array.of(1, 2, 3, 4) }),
      }),
    );
    const t = new Table({ id: vectorFromArray(['p', 'q'], new Utf8()), embedding: emb });
    for (const bytes of [tableToIPC(t, 'file'), RecordBatchStreamWriter.writeAll(t).toUint8Array(true)]) {
      expect(plain(parseArrowProducerFile(bytes, 2))).toEqual(
        plain([
          { op: 'upsert', id: 'p', embedding: vec(1, 2), document: null, metadata: null },
          { op: 'upsert', id: 'q', embedding: vec(3, 4), document: null, metadata: null },
        ]),
      );
    }
  });

  it('a file that is a Strata delta is decoded and verified as one', () => {
    const { bytes } = encodeDelta(
      { collection: 'c', dimension: 2, metric: 'ip', producer: 'p', seqStart: 1 },
      [
        { op: 'upsert', id: 'z', embedding: vec(1, 2), document: 'd' },
        { op: 'delete', id: 'y' },
      ],
    );
    expect(plain(parseArrowProducerFile(bytes, 2))).toEqual(
      plain([
        { op: 'upsert', id: 'z', embedding: vec(1, 2), document: 'd', metadata: null },
        { op: 'delete', id: 'y' },
      ]),
    );
    expectCode(() => parseArrowProducerFile(bytes, 3, CTX), ErrorCodes.DIMENSION_MISMATCH, CTX);
    expectCode(
      () => parseArrowProducerFile(bytes.subarray(0, bytes.length - 3), 2, CTX),
      ErrorCodes.DELTA_TRUNCATED,
      CTX,
    );
    const flipped = bytes.slice();
    flipped[Buffer.from(flipped).indexOf(Buffer.from(vec(1, 2).buffer))]! ^= 4;
    expectCode(() => parseArrowProducerFile(flipped, 2, CTX), ErrorCodes.DELTA_CHECKSUM, CTX);
  });

  it('applies the NDJSON rules: seq order, conflicting seqs, validation with row numbers', () => {
    const rows = (ids: string[], seqs: number[] | null, embs: (number[] | null)[]) => {
      const cols: Record<string, unknown> = {
        id: vectorFromArray(ids, new Utf8()),
        embedding: vectorFromArray(embs, new List(new Field('item', new Float64(), true))),
      };
      if (seqs) cols.seq = makeVector(BigInt64Array.from(seqs, BigInt));
      return tableToIPC(new Table(cols as never), 'file');
    };
    const ordered = parseArrowProducerFile(rows(['a', 'b'], [2, 1], [[1], [2]]), 1);
    expect(ordered.map((o) => o.id)).toEqual(['b', 'a']);
    expectCode(
      () => parseArrowProducerFile(rows(['a', 'b', 'a'], [1, 2, 1], [[1], [2], [3]]), 1, CTX),
      ErrorCodes.DUPLICATE_ID,
      { ...CTX, row: 2, id: 'a' },
    );
    expectCode(
      () => parseArrowProducerFile(rows(['a', 'b'], null, [[1], [Number.NaN]]), 1, CTX),
      ErrorCodes.NON_FINITE,
      { ...CTX, row: 1, id: 'b' },
    );
    expectCode(
      () => parseArrowProducerFile(rows(['a', 'b'], null, [[1], [1, 2]]), 1, CTX),
      ErrorCodes.DIMENSION_MISMATCH,
      { ...CTX, row: 1 },
    );
    expectCode(
      () => parseArrowProducerFile(rows(['a', 'b'], null, [[1], null]), 1, CTX),
      ErrorCodes.MISSING_EMBEDDING,
      {
        row: 1,
      },
    );
  });

  it('refuses unknown columns, wrong column types, bad metadata JSON, non-Arrow bytes', () => {
    const file = (cols: Record<string, unknown>) => tableToIPC(new Table(cols as never), 'file');
    const emb = vectorFromArray([[1]], new List(new Field('item', new Float64(), true)));
    const id = vectorFromArray(['a'], new Utf8());
    expectCode(
      () => parseArrowProducerFile(file({ id, embedding: emb, vector: emb }), 1, CTX),
      ErrorCodes.BAD_RECORD,
      CTX,
    );
    expectCode(
      () => parseArrowProducerFile(file({ id: vectorFromArray([1]), embedding: emb }), 1, CTX),
      ErrorCodes.BAD_RECORD,
    );
    expectCode(() => parseArrowProducerFile(file({ id, embedding: id }), 1, CTX), ErrorCodes.BAD_RECORD);
    expectCode(() => parseArrowProducerFile(file({ embedding: emb }), 1, CTX), ErrorCodes.BAD_RECORD);
    expectCode(
      () =>
        parseArrowProducerFile(
          file({ id, embedding: emb, metadata: vectorFromArray(['{bad'], new Utf8()) }),
          1,
          CTX,
        ),
      ErrorCodes.BAD_JSON,
      { ...CTX, row: 0 },
    );
    expectCode(
      () => parseArrowProducerFile(Buffer.from('{"id":"a"}\n'), 1, CTX),
      ErrorCodes.DELTA_MAGIC,
      CTX,
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('readProducerFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-ingest-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, data: string | Uint8Array) => {
    const p = join(dir, name);
    writeFileSync(p, data);
    return p;
  };

  it('detects the format by extension and first line', async () => {
    const nd = write('a.jsonl', ndjson({ id: 'a', embedding: [1, 2, 3] }));
    const oa = write('b.jsonl', ndjson(openaiLine('a', [[1, 2, 3]])));
    const ar = write('c.feather', readFileSync(fixture('producer-list-f64.arrow')));
    const noExt = write('d', readFileSync(fixture('producer-fixed-f32.arrows')));
    expect(detectProducerFormat(nd, readFileSync(nd))).toBe('ndjson');
    expect(detectProducerFormat(oa, readFileSync(oa))).toBe('openai');
    expect(detectProducerFormat(ar, readFileSync(ar))).toBe('arrow');
    expect(detectProducerFormat(noExt, readFileSync(noExt))).toBe('arrow');
    expect(await readProducerFile(nd, { dimension: 3 })).toHaveLength(1);
    expect(await readProducerFile(oa, { dimension: 3 })).toHaveLength(1);
    expect(await readProducerFile(ar, { dimension: 3 })).toHaveLength(4);
    expect(await readProducerFile(noExt, { dimension: 3 })).toHaveLength(2);
  });

  it('joins a documents file for OpenAI output, and names the file in errors', async () => {
    const oa = write('out.jsonl', ndjson(openaiLine('a', [[1, 2, 3]])));
    const docs = write('docs.jsonl', ndjson({ custom_id: 'a', document: 'text a' }));
    const [op] = (await readProducerFile(oa, { dimension: 3, documents: docs })) as UpsertOp[];
    expect(op!.document).toBe('text a');
    const orphan = write('orphan.jsonl', ndjson({ custom_id: 'zzz', document: 'x' }));
    await expectCodeAsync(
      readProducerFile(oa, { dimension: 3, documents: orphan }),
      ErrorCodes.JOIN_MISSING,
      {
        file: oa,
        documents: orphan,
        documentsLine: 1,
      },
    );
    const nd = write('plain.ndjson', ndjson({ id: 'a', embedding: [1, 2, 3] }));
    await expectCodeAsync(readProducerFile(nd, { dimension: 3, documents: docs }), ErrorCodes.USAGE);
  });

  it('errors name the file; a forced format is obeyed; a missing file is E_NOT_FOUND', async () => {
    const bad = write(
      'bad.ndjson',
      ndjson({ id: 'a', embedding: [1, 2, 3] }, { id: 'b', embedding: [1, 2] }),
    );
    await expectCodeAsync(readProducerFile(bad, { dimension: 3 }), ErrorCodes.DIMENSION_MISMATCH, {
      file: bad,
      line: 2,
      id: 'b',
    });
    await expectCodeAsync(readProducerFile(bad, { dimension: 3, format: 'arrow' }), ErrorCodes.DELTA_MAGIC, {
      file: bad,
    });
    const latin1 = write('latin1.jsonl', Buffer.from([0x7b, 0xe9, 0x7d]));
    await expectCodeAsync(readProducerFile(latin1, { dimension: 3 }), ErrorCodes.BAD_JSON, { file: latin1 });
    await expectCodeAsync(readProducerFile(join(dir, 'nope.jsonl'), { dimension: 3 }), ErrorCodes.NOT_FOUND);
  });
});
