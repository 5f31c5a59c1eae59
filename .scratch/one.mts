import { encodeDelta } from '../src/ingest/index.js';
import { RecordBatchFileReader } from 'apache-arrow';
const ops = [
  { op: 'upsert' as const, id: 'a', embedding: new Float32Array([1,2,3,4]), document: 'hello', metadata: { x: [1,2], b: true } },
  { op: 'update' as const, id: 'é', metadata: { x: null } },
  { op: 'update' as const, id: 'é', document: null },
  { op: 'delete' as const, id: 'b' },
];
const { bytes } = encodeDelta({ collection: 'c1', dimension: 4, metric: 'cos', producer: 'p', seqStart: 10, createdAt: '2026-01-01T00:00:00Z' }, ops);
const dv = new DataView(bytes.buffer, bytes.byteOffset);
console.log('len', bytes.length, 'footerLen', dv.getInt32(bytes.length - 10, true));
const pos = Number(process.argv[2]), bit = Number(process.argv[3]);
const b = bytes.slice(); b[pos] ^= 1 << bit;
const r = RecordBatchFileReader.from(b);
console.log('from'); r.open(); console.log('open', r.numRecordBatches, r.schema.fields.length);
import { decodeDelta } from '../src/ingest/index.js';
const blk = [...r.footer!.recordBatches()][0]!; console.log(blk, 'fields', r.schema.fields.map(f => String(f.type)));
const batch = r.readRecordBatch(0); console.log('batch', batch?.numRows, batch?.data.children.map(c => [c.length, c.values?.length]));
try { decodeDelta(b); } catch (e) { console.log((e as Error).message); }
