import { encodeDelta, decodeDelta } from '../src/ingest/index.js';
import { writeFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
const N = 237, D = 1536;
let s = 1;
const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
const ops = Array.from({ length: N }, (_, i) => ({
  op: 'upsert' as const, id: `doc-${String(i).padStart(5, '0')}`,
  embedding: Float32Array.from({ length: D }, rnd),
  document: `Document ${i}: `.padEnd(300, 'lorem ipsum '), metadata: { source: `file-${i % 7}.md`, chunk: i, tags: ['a', 'b'] },
}));
const h = { collection: 'demo', dimension: D, metric: 'cos' as const, producer: 'bench', seqStart: 1 };
for (let i = 0; i < 3; i++) decodeDelta(encodeDelta(h, ops).bytes); // warm-up
const R = 20; let te = 0, td = 0, bytes!: Uint8Array;
for (let i = 0; i < R; i++) {
  let t = performance.now(); bytes = encodeDelta(h, ops).bytes; te += performance.now() - t;
  t = performance.now(); decodeDelta(bytes, { collection: 'demo', dimension: D, metric: 'cos' }); td += performance.now() - t;
}
writeFileSync('/tmp/exp/bench.arrow', bytes);
const raw = N * D * 4;
console.log({ bytes: statSync('/tmp/exp/bench.arrow').size, rawFloatBytes: raw, overheadPct: +(100 * (bytes.length - raw) / raw).toFixed(2), gzip: gzipSync(bytes).length, encodeMs: +(te / R).toFixed(2), decodeMs: +(td / R).toFixed(2) });
